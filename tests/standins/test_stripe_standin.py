"""The Stripe stand-in, driven over real HTTP by the real stripe-python SDK.

Webhooks go to a small receiver that trusts nothing it cannot verify with
`stripe.Webhook.construct_event`, exactly as the product's endpoint does.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
import stripe

from werkzeug.wrappers import Request, Response

from shared.devstack.standins import forms
from shared.devstack.standins.stripe_standin import StripeError, StripeStandin, sign
from tests.standins import serve
from tests.support.stripe_receiver import API_KEY, SECRET


def session_params(standin: StripeStandin | None = None, **overrides) -> dict:
    params = {
        "mode": "payment",
        "line_items": [
            {"price_data": {"currency": "gbp", "unit_amount": 1250,
                            "product_data": {"name": "Adult ticket"}}, "quantity": 2},
            {"price_data": {"currency": "gbp", "unit_amount": 500,
                            "product_data": {"name": "Parking"}}, "quantity": 1},
        ],
        "customer_email": "ann@example.com",
        "client_reference_id": "order-123",
        "metadata": {"order_id": "order-123"},
        "payment_intent_data": {"metadata": {"order_id": "order-123", "org_id": "org-9"}},
        "success_url": "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cart",
        "expires_at": int(time.time()) + 45 * 60,
    }
    params.update(overrides)
    return params


# --------------------------------------------------------------- sessions

def test_a_session_is_created_retrieved_and_expired_through_the_sdk(client, api, standin, receiver):
    session = client.v1.checkout.sessions.create(session_params())

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert session.amount_total == 2 * 1250 + 500 and session.currency == "gbp"
    assert session.metadata.to_dict() == {"order_id": "order-123"}
    assert session.client_reference_id == "order-123" and session.customer_email == "ann@example.com"
    assert session.payment_intent is None and session.livemode is False
    assert session.url == f"{api}/checkout/{session.id}"
    assert isinstance(session.created, int) and session.expires_at - session.created in range(44 * 60, 46 * 60)

    again = client.v1.checkout.sessions.retrieve(session.id)
    assert again.to_dict() == session.to_dict()

    expired = client.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert receiver.types() == ["checkout.session.expired"]
    event = receiver.events[0]
    assert event["id"].startswith("evt_test_") and event["data"]["object"]["id"] == session.id
    assert event["request"]["idempotency_key"]  # the SDK sends one on every POST

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.expire(session.id)
    assert refused.value.http_status == 400
    assert standin.sessions[session.id]["status"] == "expired"


def test_an_unknown_session_is_a_404_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"


@pytest.mark.parametrize("minutes, accepted", [(29, False), (31, True), (23 * 60, True), (24 * 60 + 5, False)])
def test_expires_at_must_be_between_30_minutes_and_24_hours_away(client, minutes, accepted):
    params = session_params(expires_at=int(time.time()) + minutes * 60)
    if accepted:
        assert client.v1.checkout.sessions.create(params).status == "open"
        return
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params)
    assert refused.value.http_status == 400
    assert refused.value.param == "expires_at"
    assert refused.value.json_body["error"]["type"] == "invalid_request_error"


def test_expires_at_follows_the_standins_clock(client, standin, receiver):
    standin.set_clock(lambda: 2_000_000_000)
    session = client.v1.checkout.sessions.create(session_params(expires_at=2_000_000_000 + 3600))
    assert session.created == 2_000_000_000

    standin.advance(3600)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert receiver.types() == ["checkout.session.expired"]


def test_custom_text_is_kept_as_stripe_keeps_it_and_a_long_message_is_refused(client, standin):
    session = client.v1.checkout.sessions.create(session_params(custom_text={"submit": {"message": "Held until 10:15"}}))
    assert session.custom_text.submit.message == "Held until 10:15"
    assert session.custom_text.after_submit is None and session.custom_text.terms_of_service_acceptance is None
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(session_params(custom_text={"submit": {"message": "x" * 1201}}))
    assert refused.value.param == "custom_text[submit][message]"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(session_params(custom_text={"footer": {"message": "hi"}}))


def test_the_same_idempotency_key_and_params_create_one_session(client, api, standin):
    params = session_params()
    first = client.v1.checkout.sessions.create(params, {"idempotency_key": "order-123-attempt-1"})
    second = client.v1.checkout.sessions.create(params, {"idempotency_key": "order-123-attempt-1"})
    assert first.id == second.id
    assert len(standin.sessions) == 1

    raw = httpx.post(f"{api}/v1/checkout/sessions", content=forms.encode(params),
                     headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "order-123-attempt-1",
                              "Content-Type": "application/x-www-form-urlencoded"})
    assert raw.headers["Idempotent-Replayed"] == "true" and raw.json()["id"] == first.id


def test_the_same_idempotency_key_with_other_params_is_an_idempotency_error(client):
    client.v1.checkout.sessions.create(session_params(), {"idempotency_key": "k1"})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(session_params(client_reference_id="order-999"),
                                           {"idempotency_key": "k1"})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create({"payment_intent": "pi_test_x"}, {"idempotency_key": "k1"})


def test_a_refused_request_saves_nothing_under_its_key(client, standin):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(session_params(expires_at=int(time.time()) + 60),
                                           {"idempotency_key": "k2"})
    assert client.v1.checkout.sessions.create(session_params(), {"idempotency_key": "k2"}).status == "open"


def test_unknown_and_missing_parameters_are_refused_like_stripe(client):
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create({**session_params(), "metdata": {"a": "b"}})
    assert unknown.value.param == "metdata" and unknown.value.code == "parameter_unknown"

    items = [{"price_data": {"currency": "gbp", "product_data": {"name": "X"}}, "quantity": 1}]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(session_params(line_items=items))
    assert missing.value.param == "line_items[0][price_data][unit_amount]"


def test_line_items_and_the_payment_intent_expand(client, standin):
    session = client.v1.checkout.sessions.create(session_params())
    expanded = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
    items = expanded.line_items.data
    assert [(i.description, i.quantity, i.price.unit_amount, i.amount_total) for i in items] == [
        ("Adult ticket", 2, 1250, 2500), ("Parking", 1, 500, 500)]
    assert client.v1.checkout.sessions.line_items.list(session.id).data[0].object == "item"

    standin.pay(session.id)
    paid = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["payment_intent.latest_charge"]})
    assert paid.payment_intent.status == "succeeded"
    assert paid.payment_intent.latest_charge.object == "charge"


def test_a_wrong_api_key_is_refused(api):
    stranger = stripe.StripeClient("sk_test_wrong", base_addresses={"api": api}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        stranger.v1.checkout.sessions.create(session_params())
    anonymous = httpx.get(f"{api}/v1/checkout/sessions")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "invalid_request_error"


# ----------------------------------------------------------------- paying

def test_paying_through_the_python_api_delivers_a_verified_completed_event(client, standin, receiver):
    session = client.v1.checkout.sessions.create(session_params())
    standin.pay(session.id)

    assert receiver.rejected == []
    [completed] = receiver.of_type("checkout.session.completed")
    obj = completed["data"]["object"]
    assert (obj["id"], obj["status"], obj["payment_status"]) == (session.id, "complete", "paid")
    assert obj["payment_intent"].startswith("pi_test_")
    assert obj["metadata"] == {"order_id": "order-123"}

    paid = client.v1.checkout.sessions.retrieve(session.id)
    assert paid.payment_intent == obj["payment_intent"] and paid.url is None
    intent = client.v1.payment_intents.retrieve(paid.payment_intent)
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 3000, 3000)
    assert intent.metadata.to_dict() == {"order_id": "order-123", "org_id": "org-9"}
    assert intent.latest_charge.startswith("ch_test_")
    assert [d.status for d in standin.events_sent] == [200]


def test_paying_through_the_checkout_page_redirects_to_the_success_url(client, api, receiver):
    session = client.v1.checkout.sessions.create(session_params())
    page = httpx.get(session.url)
    assert page.status_code == 200
    for element in ('id="pay"', 'id="cancel"', 'id="pay-late"', "Adult ticket", "Parking", "30.00 GBP"):
        assert element in page.text
    action = re.search(r'<form method="post" action="([^"]+/pay)">', page.text).group(1)
    assert action == f"/stripe/checkout/{session.id}/pay"

    paid = httpx.post(f"{api}/checkout/{session.id}/pay")
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"https://shop.example/thanks?session={session.id}"
    assert receiver.types() == ["checkout.session.completed"]
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"

    twice = httpx.post(f"{api}/checkout/{session.id}/pay")
    assert twice.status_code == 303 and receiver.types() == ["checkout.session.completed"]
    assert "nothing to pay" in httpx.get(session.url).text


def test_cancel_returns_to_the_cancel_url_and_leaves_the_session_open(client, api, receiver):
    session = client.v1.checkout.sessions.create(session_params())
    cancelled = httpx.post(f"{api}/checkout/{session.id}/cancel")
    assert (cancelled.status_code, cancelled.headers["Location"]) == (303, "https://shop.example/cart")
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert receiver.events == []


def test_pay_after_expiry_delivers_expired_then_completed(client, api, standin, receiver):
    session = client.v1.checkout.sessions.create(session_params())
    response = httpx.post(f"{api}/checkout/{session.id}/pay-late")
    assert response.status_code == 303
    assert receiver.types() == ["checkout.session.expired", "checkout.session.completed"]
    expired, completed = receiver.events
    assert expired["data"]["object"]["status"] == "expired"
    assert completed["data"]["object"]["payment_status"] == "paid"
    assert expired["created"] <= completed["created"]


def test_an_expired_sessions_page_offers_only_late_payment(client, api, standin, receiver):
    session = client.v1.checkout.sessions.create(session_params())
    standin.expire(session.id)
    page = httpx.get(f"{api}/checkout/{session.id}").text
    assert 'id="pay-late"' in page and 'id="pay"' not in page and 'id="cancel"' not in page
    assert httpx.post(f"{api}/checkout/{session.id}/pay").status_code == 409

    assert httpx.post(f"{api}/checkout/{session.id}/pay-late").status_code == 303
    assert receiver.types() == ["checkout.session.expired", "checkout.session.completed"]
    assert httpx.get(f"{api}/checkout/cs_test_unknown").status_code == 404


def test_an_async_payment_completes_unpaid_then_succeeds(client, standin, receiver):
    session = client.v1.checkout.sessions.create(session_params())
    standin.pay(session.id, async_payment=True, settle=False)
    [completed] = receiver.events
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    intent_id = completed["data"]["object"]["payment_intent"]
    assert client.v1.payment_intents.retrieve(intent_id).status == "processing"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create({"payment_intent": intent_id})

    standin.settle(session.id)
    assert receiver.types() == ["checkout.session.completed", "checkout.session.async_payment_succeeded"]
    assert receiver.events[-1]["data"]["object"]["payment_status"] == "paid"
    assert client.v1.payment_intents.retrieve(intent_id).status == "succeeded"


def test_an_expired_session_cannot_be_paid_normally(client, standin):
    session = client.v1.checkout.sessions.create(session_params())
    standin.expire(session.id)
    with pytest.raises(StripeError) as refused:
        standin.pay(session.id)
    assert "expired" in refused.value.message
    assert standin.payment_intents == {}


# ---------------------------------------------------------------- refunds

def paid_intent(client, standin) -> str:
    session = client.v1.checkout.sessions.create(session_params())
    return standin.pay(session.id)["payment_intent"]


def test_refunding_more_than_was_paid_is_refused(client, standin, receiver):
    intent = paid_intent(client, standin)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create({"payment_intent": intent, "amount": 3001})
    assert refused.value.param == "amount" and refused.value.code == "amount_too_large"
    assert standin.refunds == {}
    assert receiver.types() == ["checkout.session.completed"]


def test_charge_refunded_events_carry_cumulative_amounts(client, standin, receiver):
    intent = paid_intent(client, standin)
    first = client.v1.refunds.create({"payment_intent": intent, "amount": 1000, "reason": "requested_by_customer"},
                                     {"idempotency_key": "refund-1"})
    assert first.id.startswith("re_test_") and (first.amount, first.status) == (1000, "succeeded")
    replay = client.v1.refunds.create({"payment_intent": intent, "amount": 1000, "reason": "requested_by_customer"},
                                      {"idempotency_key": "refund-1"})
    assert replay.id == first.id

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create({"payment_intent": intent, "amount": 2500})
    assert "greater than unrefunded amount" in too_much.value.user_message

    rest = client.v1.refunds.create({"payment_intent": intent})
    assert rest.amount == 2000

    charges = [e["data"]["object"] for e in receiver.of_type("charge.refunded")]
    assert [(c["amount"], c["amount_refunded"], c["refunded"]) for c in charges] == [
        (3000, 1000, False), (3000, 3000, True)]
    assert all(c["payment_intent"] == intent for c in charges)
    assert charges[0]["metadata"] == {"order_id": "order-123", "org_id": "org-9"}
    assert len(standin.refunds) == 2

    with pytest.raises(stripe.InvalidRequestError) as done:
        client.v1.refunds.create({"payment_intent": intent, "amount": 1})
    assert done.value.code == "charge_already_refunded"


def test_a_dispute_delivers_charge_dispute_created(client, standin, receiver):
    intent = paid_intent(client, standin)
    dispute = standin.dispute(intent)
    [event] = receiver.of_type("charge.dispute.created")
    assert event["data"]["object"]["id"] == dispute["id"]
    assert (dispute["payment_intent"], dispute["amount"], dispute["status"]) == (intent, 3000, "needs_response")
    assert client.v1.charges.retrieve(dispute["charge"]).disputed is True


# --------------------------------------------------------------- webhooks

def test_a_replayed_event_arrives_again_with_the_same_id(client, standin, receiver):
    session = client.v1.checkout.sessions.create(session_params())
    standin.pay(session.id)
    event_id = receiver.events[0]["id"]
    delivery = standin.redeliver(event_id)
    assert delivery.ok
    assert [e["id"] for e in receiver.events] == [event_id, event_id]


def test_sign_matches_what_construct_event_checks():
    payload = json.dumps({"id": "evt_test_1", "object": "event", "type": "ping", "data": {"object": {}}})
    stripe.Webhook.construct_event(payload, sign(payload, SECRET), SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign(payload, "whsec_forged"), SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign(payload, SECRET, int(time.time()) - 600), SECRET,
                                       tolerance=300)


def test_a_failing_endpoint_is_recorded_and_can_be_retried(client, standin, receiver):
    receiver.status = 500
    session = client.v1.checkout.sessions.create(session_params())
    standin.pay(session.id)
    [failed] = standin.events_sent
    assert (failed.status, failed.ok, failed.type) == (500, False, "checkout.session.completed")

    receiver.status = 200
    assert standin.redeliver(failed.event["id"]).ok


def test_an_unreachable_endpoint_is_recorded_not_raised():
    standin = StripeStandin("http://127.0.0.1:9/nowhere", SECRET, delivery_timeout=2)
    standin.build_event("ping", {"id": "x"})
    delivery = standin.deliver(standin.events[0])
    assert delivery.status is None and delivery.error


def test_without_a_webhook_url_events_queue_until_flushed(receiver):
    standin = StripeStandin(None, SECRET)
    with serve(standin.wsgi) as api:
        client = stripe.StripeClient("sk_test_any", base_addresses={"api": api}, max_network_retries=0)
        session = client.v1.checkout.sessions.create(session_params())
        standin.pay(session.id)
    assert [e["type"] for e in standin.queued] == ["checkout.session.completed"]
    assert standin.events_sent == []

    standin.webhook_url = receiver.url
    assert [d.ok for d in standin.flush()] == [True]
    assert receiver.types() == ["checkout.session.completed"] and standin.queued == []


def test_deliver_after_response_answers_first(receiver):
    standin = StripeStandin(receiver.url, SECRET, deliver_after_response=True)
    with serve(standin.wsgi) as api:
        client = stripe.StripeClient("sk_test_any", base_addresses={"api": api}, max_network_retries=0)
        session = client.v1.checkout.sessions.create(session_params())
        client.v1.checkout.sessions.expire(session.id)
        assert standin.wait_for_deliveries(5)
    assert receiver.types() == ["checkout.session.expired"]


def test_a_webhook_handler_may_call_back_into_the_api(standin, api):
    """Delivery happens outside the stand-in's lock: no deadlock when the handler retrieves the session."""
    client = stripe.StripeClient(API_KEY, base_addresses={"api": api}, max_network_retries=0)
    seen: list[str] = []

    def handler(environ, start_response):
        event = json.loads(Request(environ).get_data())
        seen.append(client.v1.checkout.sessions.retrieve(event["data"]["object"]["id"]).status)
        return Response("ok")(environ, start_response)

    with serve(handler) as url:
        standin.webhook_url = url
        session = client.v1.checkout.sessions.create(session_params())
        client.v1.checkout.sessions.expire(session.id)
    assert seen == ["expired"]


# ---------------------------------------------------------------- outages

def test_fail_next_makes_stripe_look_down(client, standin):
    standin.fail_next(1, status=500)
    with pytest.raises(stripe.APIError) as down:
        client.v1.checkout.sessions.create(session_params())
    assert down.value.http_status == 500
    assert standin.sessions == {}
    assert client.v1.checkout.sessions.create(session_params()).status == "open"


def test_sdk_retries_ride_out_an_outage_without_duplicates(api, standin):
    retrying = stripe.StripeClient(API_KEY, base_addresses={"api": api}, max_network_retries=2)
    standin.fail_next(1, status=503)
    assert retrying.v1.checkout.sessions.create(session_params()).status == "open"
    standin.fail_next(1, status=500, after=True)  # carried out, answer lost: the retry replays it
    retrying.v1.checkout.sessions.create(session_params())
    assert len(standin.sessions) == 2


# ------------------------------------------------------------------ forms

def test_forms_parse_stripes_nested_encoding():
    body = ("mode=payment&line_items[0][price_data][unit_amount]=500&line_items[0][quantity]=2"
            "&line_items[1][price_data][unit_amount]=100&metadata[order_id]=o-1&metadata[0]=zero"
            "&expand[]=line_items&expand[]=payment_intent&payment_intent_data[metadata][k]=v&empty=")
    assert forms.parse(body) == {
        "mode": "payment",
        "line_items": [{"price_data": {"unit_amount": "500"}, "quantity": "2"},
                       {"price_data": {"unit_amount": "100"}}],
        "metadata": {"order_id": "o-1", "0": "zero"},
        "expand": ["line_items", "payment_intent"],
        "payment_intent_data": {"metadata": {"k": "v"}},
        "empty": "",
    }
    assert forms.parse("expand[0]=a&expand[1]=b") == {"expand": ["a", "b"]}
    assert forms.parse("items[2]=x&items[0]=y") == {"items": {"2": "x", "0": "y"}}  # not 0..n-1: stays a hash


def test_forms_round_trip_what_the_sdk_encodes():
    params = session_params()
    assert forms.parse(forms.encode(params)) == json.loads(json.dumps(params), parse_int=str)


@pytest.mark.parametrize("body", ["a=1&a[b]=2", "a[b]=2&a=1", "a[]=1&a[b]=2", "[x]=1", "a[b=1"])
def test_forms_refuse_contradictory_keys(body):
    with pytest.raises(forms.FormError):
        forms.parse(body)
