"""SMS through Twilio's official SDK; the local Twilio stand-in in dev and tests.

The twilio SDK has no base-URL setting: every request goes to
https://api.twilio.com. Twilio's documented way to send it elsewhere is a
custom HTTP client, so `_RebasedHttpClient` rewrites that origin to
TWILIO_API_BASE (the stand-in at /twilio locally) and otherwise behaves as
the SDK's own TwilioHttpClient. Everything else (form encoding, basic auth
with the account SID, error parsing into TwilioRestException) is the SDK's.

Phone numbers arrive as customers typed them ("07700 900123"); `to_e164`
normalises them with Google's libphonenumber port, UK by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import phonenumbers
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from shared.platform.config import Settings

TWILIO_ORIGIN = "https://api.twilio.com"
DEFAULT_REGION = "GB"
MAX_BODY = 1600  # Twilio's limit for one message body


@dataclass
class Sms:
    to: str  # E.164
    body: str


def to_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The number in E.164 (+447700900123), or None if it cannot be a phone number.

    "Possible" (right length for its country) rather than "valid" (an allocated
    range): Ofcom's drama ranges such as 07700 900xxx are possible but not
    allocated, and a wrongly strict check would cost real customers their SMS
    whenever the metadata lags a new range.
    """
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    # IS_POSSIBLE only: a number that is "possible" merely as a local number (no area code) cannot be texted.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(e164: str) -> str | None:
    """The ISO region of an E.164 number ('GB'), or None for non-geographic ones (+881 satellite...).

    An allocated number is placed exactly (+1 876... is Jamaica, not the US); one that is only
    "possible" (Ofcom's 07700 900xxx drama range) gets its calling code's main country."""
    number = phonenumbers.parse(e164)
    exact = phonenumbers.region_code_for_number(number)
    if exact and exact != phonenumbers.UNKNOWN_REGION:
        return exact
    main = phonenumbers.region_code_for_country_code(number.country_code)
    return None if main in (None, phonenumbers.UNKNOWN_REGION, "001") else main


def may_text(e164: str, allowed_regions: frozenset[str]) -> bool:
    """Whether we text this number at all. Customers type any number into a booking form, so without a
    list an attacker could make us pay for texts to premium or satellite ranges (SMS pumping)."""
    return country_of(e164) in allowed_regions


class _RebasedHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, with https://api.twilio.com replaced by another base URL."""

    def __init__(self, base: str, **kwargs):
        super().__init__(**kwargs)
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if url.startswith(TWILIO_ORIGIN):
            url = self.base + url[len(TWILIO_ORIGIN):]
        return super().request(method, url, *args, **kwargs)


def twilio_client(settings: Settings) -> Client:
    base = settings.sms.twilio_base
    timeout = settings.runtime.provider_timeout_seconds
    http_client = _RebasedHttpClient(base, timeout=timeout) if base else TwilioHttpClient(timeout=timeout)
    return Client(settings.sms.twilio_account_sid, settings.sms.twilio_auth_token, http_client=http_client)


class Texter:
    """Sends one SMS. Twilio's Messages API takes no idempotency key, so the
    outbox id is only logged with it (see notifications.send_due)."""

    def __init__(self, settings: Settings, client: Client | None = None):
        self.settings = settings
        self.client = client or twilio_client(settings)

    def send(self, sms: Sms, *, idempotency_key: str) -> str:
        """Returns Twilio's message SID. Status callbacks, when a webhook URL is configured, name the
        outbox row (`?outbox=`), so a callback that overtakes the worker still finds its message."""
        base = self.settings.sms.webhook_base
        extra = {"status_callback": f"{base}/status?{urlencode({'outbox': idempotency_key})}"} if base else {}
        message = self.client.messages.create(to=sms.to, from_=self.settings.sms.twilio_from,
                                              body=sms.body[:MAX_BODY], **extra)
        return message.sid


# GSM 03.38: the basic set (one septet each) and its extension (an escape and a septet: two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int     # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def segments(body: str) -> Segments:
    """How many SMS a body costs: 160 GSM-7 septets in one (153 per part when split), else UCS-2:
    70 UTF-16 units in one (67 per part). One character outside GSM-7 makes the whole text UCS-2."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in body)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    count = 0 if units == 0 else 1 if units <= single else -(-units // part)
    return Segments(encoding, units, count)
