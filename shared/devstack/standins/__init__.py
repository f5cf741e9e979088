"""Local stand-ins for the providers Bookwell talks to (Stripe, PayPal, Resend, Twilio, an LLM).

Each is a WSGI app plus a Python-side handle for tests; the product reaches
them through the providers' real SDKs with only the base URL changed. See
DESIGN.md, "The local stack".
"""

from shared.devstack.standins.llm_standin import LlmStandin
from shared.devstack.standins.paypal_standin import PaypalStandin
from shared.devstack.standins.resend_standin import ResendStandin
from shared.devstack.standins.storage_standin import StorageStandin
from shared.devstack.standins.stripe_standin import Delivery, StripeError, StripeStandin, sign
from shared.devstack.standins.twilio_standin import TwilioStandin

__all__ = ["Delivery", "LlmStandin", "PaypalStandin", "ResendStandin", "StorageStandin", "StripeError",
           "StripeStandin", "TwilioStandin", "sign"]
