"""The Resend stand-in, driven over real HTTP by the real resend SDK."""

from __future__ import annotations

import base64
import html
import io
import re

import httpx
import pytest
import qrcode
import resend
from resend import exceptions

from shared.devstack.standins import ResendStandin
from tests.standins import serve

API_KEY = "re_test_standin_key"


@pytest.fixture
def standin():
    return ResendStandin(API_KEY)


@pytest.fixture
def base(standin, monkeypatch):
    with serve(standin.wsgi, "/resend") as url:
        monkeypatch.setattr(resend, "api_url", url)
        monkeypatch.setattr(resend, "api_key", API_KEY)
        yield url


def qr_png(text: str) -> bytes:
    out = io.BytesIO()
    qrcode.make(text).save(out, format="PNG")
    return out.getvalue()


def ticket_email(**overrides) -> dict:
    params = {
        "from": "Bookwell <tickets@bookwell.example>",
        "to": ["ann@example.com"],
        "subject": "Your tickets",
        "html": '<p>Show this at the door:</p><img alt="QR" src="cid:ticket-qr">',
        "text": "Show the QR code at the door.",
        "attachments": [{"filename": "ticket.png", "content": list(qr_png("ticket-123")),
                         "content_type": "image/png", "content_id": "ticket-qr"}],
        "tags": [{"name": "kind", "value": "ticket"}],
        "headers": {"X-Entity-Ref-ID": "order-123"},
    }
    params.update(overrides)
    return params


def test_an_email_sent_through_the_sdk_is_stored_as_sent(base, standin):
    sent = resend.Emails.send(ticket_email())
    [email] = standin.emails
    assert sent["id"] == email["id"]
    assert (email["from"], email["to"], email["subject"]) == (
        "Bookwell <tickets@bookwell.example>", ["ann@example.com"], "Your tickets")
    assert email["attachments"][0]["content"] == qr_png("ticket-123")
    assert email["attachments"][0]["content_id"] == "ticket-qr"
    assert email["tags"] == [{"name": "kind", "value": "ticket"}]
    assert email["headers"] == {"X-Entity-Ref-ID": "order-123"}

    fetched = resend.Emails.get(sent["id"])
    assert fetched["subject"] == "Your tickets" and fetched["to"] == ["ann@example.com"]


def test_the_same_idempotency_key_sends_once(base, standin):
    first = resend.Emails.send(ticket_email(), options={"idempotency_key": "ticket-email/order-123"})
    second = resend.Emails.send(ticket_email(), options={"idempotency_key": "ticket-email/order-123"})
    assert first["id"] == second["id"]
    assert len(standin.emails) == 1
    assert standin.emails[0]["idempotency_key"] == "ticket-email/order-123"


def test_the_same_idempotency_key_with_another_payload_is_a_409(base, standin):
    resend.Emails.send(ticket_email(), options={"idempotency_key": "k"})
    with pytest.raises(exceptions.ResendError) as conflict:
        resend.Emails.send(ticket_email(subject="Other"), options={"idempotency_key": "k"})
    assert conflict.value.code == 409 and conflict.value.error_type == "invalid_idempotent_request"
    assert len(standin.emails) == 1


def test_base64_and_byte_list_attachments_and_inline_content_id_are_equivalent(base, standin):
    png = qr_png("same")
    resend.Emails.send(ticket_email(attachments=[
        {"filename": "a.png", "content": list(png), "content_id": "a"}]))
    resend.Emails.send(ticket_email(attachments=[
        {"filename": "a.png", "content": base64.b64encode(png).decode(), "inline_content_id": "a"}]))
    first, second = standin.emails
    assert first["attachments"][0]["content"] == second["attachments"][0]["content"] == png
    assert second["attachments"][0]["content_id"] == "a"
    assert first["attachments"][0]["content_type"] == "image/png"  # guessed from the filename


def test_the_mailbox_lists_every_email_newest_first(base, standin):
    resend.Emails.send(ticket_email(to="first@example.com", subject="First"))
    resend.Emails.send(ticket_email(to=["second@example.com"], subject="Second & last"))
    page = httpx.get(f"{base}/mailbox")
    assert page.status_code == 200
    assert page.text.index("Second &amp; last") < page.text.index("First")
    assert "second@example.com" in page.text and "first@example.com" in page.text


def test_the_mailbox_shows_inline_qr_images_as_data_uris(base, standin):
    import zxingcpp
    from PIL import Image

    email_id = resend.Emails.send(ticket_email())["id"]
    page = httpx.get(f"{base}/mailbox/{email_id}")
    assert page.status_code == 200
    expected = "data:image/png;base64," + base64.b64encode(qr_png("ticket-123")).decode()
    shown = html.unescape(re.search(r'srcdoc="([^"]*)"', page.text).group(1))
    assert f'<img alt="QR" src="{expected}">' in shown and "cid:" not in shown
    assert "Show the QR code at the door." in page.text

    alone = httpx.get(f"{base}/mailbox/{email_id}/html").text
    data = re.search(r'src="data:image/png;base64,([^"]+)"', alone).group(1)
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(data))))
    assert code.text == "ticket-123"

    attachment = httpx.get(f"{base}/mailbox/{email_id}/attachments/0")
    assert attachment.headers["content-type"] == "image/png" and attachment.content == qr_png("ticket-123")


def test_fail_next_makes_resend_look_down(base, standin):
    standin.fail_next(1, status=500)
    with pytest.raises(exceptions.ApplicationError):
        resend.Emails.send(ticket_email())
    assert standin.emails == []
    standin.fail_next(1, status=429)
    with pytest.raises(exceptions.RateLimitError):
        resend.Emails.send(ticket_email())
    resend.Emails.send(ticket_email())
    assert len(standin.emails) == 1


def test_a_lost_response_retried_with_its_key_is_stored_once(base, standin):
    standin.fail_next(1, status=500, after=True)
    with pytest.raises(exceptions.ApplicationError):
        resend.Emails.send(ticket_email(), options={"idempotency_key": "retry-me"})
    retried = resend.Emails.send(ticket_email(), options={"idempotency_key": "retry-me"})
    [email] = standin.emails
    assert retried["id"] == email["id"]


def test_api_keys_are_checked(base, monkeypatch):
    monkeypatch.setattr(resend, "api_key", "re_wrong")
    with pytest.raises(exceptions.InvalidApiKeyError):
        resend.Emails.send(ticket_email())
    anonymous = httpx.post(f"{base}/emails", json=ticket_email())
    assert anonymous.status_code == 401 and anonymous.json()["name"] == "missing_api_key"


@pytest.mark.parametrize("change, error", [
    ({"subject": None}, exceptions.MissingRequiredFieldsError),
    ({"to": ["not-an-address"]}, exceptions.ValidationError),
    ({"from": "nobody"}, exceptions.ValidationError),
    ({"attachments": [{"filename": "x.png", "content": "%%% not base64"}]}, exceptions.ValidationError),
    ({"tags": [{"name": "has space", "value": "x"}]}, exceptions.ValidationError),
])
def test_invalid_emails_are_refused_with_resends_errors(base, standin, change, error):
    params = {k: v for k, v in {**ticket_email(), **change}.items() if v is not None}
    with pytest.raises(error):
        resend.Emails.send(params)
    assert standin.emails == []


def test_a_batch_is_stored_whole(base, standin):
    sent = resend.Batch.send([
        {"from": "a@bookwell.example", "to": ["x@example.com"], "subject": "One", "text": "1"},
        {"from": "a@bookwell.example", "to": ["y@example.com"], "subject": "Two", "html": "<b>2</b>"},
    ])
    assert [e["subject"] for e in standin.emails] == ["One", "Two"]
    assert [d["id"] for d in sent["data"]] == [e["id"] for e in standin.emails]
    assert [e["subject"] for e in standin.emails_to("Y@example.com")] == ["Two"]


def test_with_a_journal_the_mailbox_survives_a_restart_and_clear_empties_it(tmp_path, monkeypatch):
    """Issue 10: the dev mailbox emptied on every restart; `bookwell dev` keeps it in .bookwell/."""
    journal = tmp_path / "mailbox.jsonl"
    before = ResendStandin(API_KEY, journal=journal)
    with serve(before.wsgi, "/resend") as url:
        monkeypatch.setattr(resend, "api_url", url)
        monkeypatch.setattr(resend, "api_key", API_KEY)
        sent = resend.Emails.send(ticket_email())
    after = ResendStandin(API_KEY, journal=journal)  # the process restarted
    [email] = after.emails
    assert email["id"] == sent["id"] and email == before.emails[0]
    assert email["attachments"][0]["content"] == qr_png("ticket-123")
    with serve(after.wsgi, "/resend") as url:
        assert sent["id"] in httpx.get(f"{url}/mailbox").text
        monkeypatch.setattr(resend, "api_url", url)
        resend.Emails.send(ticket_email(subject="Second"))
    assert [e["subject"] for e in ResendStandin(API_KEY, journal=journal).emails] == ["Your tickets", "Second"]
    after.clear()
    assert ResendStandin(API_KEY, journal=journal).emails == [] and not journal.exists()
