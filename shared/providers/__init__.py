"""The outside services, through their real SDKs: Stripe (payments), Resend (mail), Twilio (sms),
QR codes, and the LLM agent runtime (ai). Base URLs come from settings, so stand-ins can answer."""
