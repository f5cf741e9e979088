"""The Twilio stand-in, driven over real HTTP by the real twilio SDK (through shared/providers/sms.py's rebased client)."""

from __future__ import annotations

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from shared.providers import sms
from shared.platform.config import Settings
from shared.devstack.standins import TwilioStandin
from tests.standins import serve

SID = "AC" + "1234abcd" * 4
TOKEN = "test_twilio_token"


@pytest.fixture
def standin():
    return TwilioStandin(SID, TOKEN)


@pytest.fixture
def base(standin):
    with serve(standin.wsgi, "/twilio") as url:
        yield url


def settings_for(base: str, **overrides) -> Settings:
    values = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE": base,
              "TWILIO_FROM": "+447700900000"} | overrides
    return Settings(**values)


@pytest.fixture
def client(base) -> Client:
    return sms.twilio_client(settings_for(base))


def test_an_sms_sent_through_the_sdk_is_stored(client, standin):
    message = client.messages.create(to="+447700900123", from_="+447700900000", body="See you at 10:00")
    [stored] = standin.messages
    assert message.sid == stored["sid"] and message.sid.startswith("SM") and len(message.sid) == 34
    assert (stored["to"], stored["from"], stored["body"]) == ("+447700900123", "+447700900000", "See you at 10:00")
    assert (message.status, message.account_sid, message.num_segments) == ("queued", SID, "1")
    assert client.messages(message.sid).fetch().body == "See you at 10:00"
    assert [m.sid for m in client.messages.list(to="+447700900123")] == [message.sid]
    assert client.messages.list(to="+447700900999") == []


def test_an_alphanumeric_sender_id_is_accepted(client, standin):
    client.messages.create(to="+447700900123", from_="Bookwell", body="Hi")
    assert standin.last_message["from"] == "Bookwell"


def test_the_texter_sends_from_the_configured_sender(base, standin):
    texter = sms.Texter(settings_for(base, TWILIO_FROM="ValClean"))
    sid = texter.send(sms.Sms("+447700900124", "Reminder"), idempotency_key="x")
    assert standin.messages_to("+447700900124") == [standin.last_message]
    assert (standin.last_message["sid"], standin.last_message["from"]) == (sid, "ValClean")


@pytest.mark.parametrize("params, code", [
    ({"to": "07700 900123", "from_": "+447700900000", "body": "x"}, 21211),  # not E.164
    ({"to": "+44 7700 900123", "from_": "+447700900000", "body": "x"}, 21211),
    ({"to": "+447700900123", "from_": "not a number!", "body": "x"}, 21212),
    ({"to": "+447700900123", "body": "x"}, 21603),
    ({"to": "+447700900123", "from_": "+447700900000", "body": "   "}, 21602),
    ({"to": "+447700900123", "from_": "+447700900000", "body": "x" * 1601}, 21617),
])
def test_invalid_messages_are_refused_with_twilios_error_codes(client, standin, params, code):
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(**params)
    assert (refused.value.status, refused.value.code) == (400, code)
    assert standin.messages == []


def test_a_missing_to_is_refused(base, standin):
    r = httpx.post(f"{base}/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, TOKEN),
                   data={"From": "+447700900000", "Body": "x"})
    assert (r.status_code, r.json()["code"]) == (400, 21604)
    assert standin.messages == []


def test_credentials_are_checked(base, standin):
    wrong = sms.twilio_client(settings_for(base, TWILIO_AUTH_TOKEN="wrong"))
    with pytest.raises(TwilioRestException) as refused:
        wrong.messages.create(to="+447700900123", from_="+447700900000", body="x")
    assert (refused.value.status, refused.value.code) == (401, 20003)
    anonymous = httpx.post(f"{base}/2010-04-01/Accounts/{SID}/Messages.json",
                           data={"To": "+447700900123", "From": "+447700900000", "Body": "x"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)
    # Right credentials, another account's URL.
    other = f"{base}/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"
    r = httpx.post(other, auth=(SID, TOKEN), data={"To": "+447700900123", "From": "+447700900000", "Body": "x"})
    assert (r.status_code, r.json()["code"]) == (403, 20003)
    assert standin.messages == []


def test_fail_next_makes_twilio_look_down(client, standin):
    standin.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as down:
            client.messages.create(to="+447700900123", from_="+447700900000", body="x")
        assert down.value.status == 500
    assert standin.messages == []
    client.messages.create(to="+447700900123", from_="+447700900000", body="x")
    assert len(standin.messages) == 1


def test_unknown_paths_and_messages_are_404s(client, base):
    with pytest.raises(TwilioRestException) as missing:
        client.messages("SM" + "0" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    assert httpx.get(f"{base}/nowhere").status_code == 404


def test_the_dev_page_lists_messages_escaped(client, base):
    client.messages.create(to="+447700900123", from_="+447700900000", body="<b>Hi</b> & bye")
    page = httpx.get(f"{base}/messages")
    assert page.status_code == 200 and "&lt;b&gt;Hi&lt;/b&gt; &amp; bye" in page.text and "+447700900123" in page.text


@pytest.mark.parametrize("typed, e164", [
    ("07700 900123", "+447700900123"),
    ("+44 (0)7700 900123", "+447700900123"),
    ("0044 7700 900123", "+447700900123"),
    ("(020) 7946 0018", "+442079460018"),
    ("+1 415 555 2671", "+14155552671"),
    ("not a phone", None),
    ("12", None),
    ("0770", None),  # possible only as a local number
    ("07700 9001234", None),  # too long
    ("", None),
    (None, None),
])
def test_typed_numbers_are_normalised_to_e164(typed, e164):
    assert sms.to_e164(typed) == e164


def test_production_refuses_the_local_twilio_credentials():
    real = {"BOOKWELL_ENV": "production", "SUPABASE_JWT_SECRET": "a-real-project-secret-with-more-than-32-chars",
            "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "RESEND_API_KEY": "re_x",
            "RESEND_WEBHOOK_SECRET": "whsec_cmVhbA==", "PAYPAL_ENABLED": "false"}
    with pytest.raises(RuntimeError, match="TWILIO_AUTH_TOKEN"):
        Settings(**real).check()
    with pytest.raises(RuntimeError, match="TWILIO_ACCOUNT_SID"):
        Settings(**real, TWILIO_AUTH_TOKEN="real").check()
    Settings(**real, TWILIO_AUTH_TOKEN="real", TWILIO_ACCOUNT_SID=SID).check()
    Settings(**real, SMS_ENABLED="false").check()
    assert Settings(**real, TWILIO_AUTH_TOKEN="real", TWILIO_ACCOUNT_SID=SID).sms.twilio_base is None
    assert Settings().sms.twilio_base.endswith("/twilio")


@pytest.mark.parametrize("e164, countries, allowed", [
    ("+447700900123", "", True),  # the default region, GB
    ("+14155552671", "", False),
    ("+2348031234567", "", False),  # a typed Nigerian number: not ours to pay for
    ("+8816xxx".replace("x", "1"), "GB,US", False),  # satellite: no country at all
    ("+14155552671", "GB,US", True),
    ("+18765550123", "GB,US", False),  # +1 876 is Jamaica, not the US
])
def test_only_numbers_of_the_allowed_countries_are_texted(e164, countries, allowed):
    cfg = Settings(SMS_ALLOWED_COUNTRIES=countries)
    assert sms.may_text(e164, cfg.sms.allowed_regions) is allowed


def test_with_a_journal_the_sms_list_survives_a_restart(tmp_path):
    journal = tmp_path / "sms.jsonl"
    before = TwilioStandin(SID, TOKEN, journal=journal)
    with serve(before.wsgi, "/twilio") as url:
        sid = sms.twilio_client(settings_for(url)).messages.create(
            to="+447700900123", from_="+447700900000", body="Kept").sid
    after = TwilioStandin(SID, TOKEN, journal=journal)
    assert [(m["sid"], m["body"]) for m in after.messages] == [(sid, "Kept")]
    with serve(after.wsgi, "/twilio") as url:
        assert "Kept" in httpx.get(f"{url}/messages").text
    after.clear()
    assert TwilioStandin(SID, TOKEN, journal=journal).messages == []
