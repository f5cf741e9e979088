"""The cancel/reschedule cut-off ("24-hour policy"), the change RPCs and change
requests (routines/appointments/changes.sql, policies/appointments.sql).

The cut-off is a trigger on public.appointments, so every path is tried
against it: the customer's, the guest's, the staff member's and a manager's
RPCs, a manager's direct UPDATE through RLS, the server key, and a customer or
staff member setting the override setting by hand. Inside the cut-off each is
refused (PT409 cutoff_passed); outside it each goes through. Only the override
RPC (or approving a change request) passes inside it, with an audit entry.
Holds released by their order, refunds and the job's own status moves are not
subject to it.

Times are relative to now() in an org on UTC whose staff member works round
the clock on a 15-minute grid with no notice, so every start used here is
bookable: "inside" starts 1-22 hours ahead, "outside" 3+ days ahead, and
reschedule targets 6+ days ahead. Each test takes fresh slots from iterators
so appointments never collide (30-minute jobs, no buffers).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.platform.db import Caller
from tests.support import factories
from tests.support.rls import assert_case, parse_matrix
from tests.support.pg import ArrangingDb, call, refused

MINUTES = 30
PRICE = 4800


@pytest.fixture(scope="module")
def db(database_url):
    arranging = ArrangingDb(database_url)
    yield arranging
    arranging.close()


@pytest.fixture(scope="module")
def prober(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.row_factory = dict_row
        yield conn


def clinic(db, organization: dict, *, staff_user=None, cutoff: int = 24) -> dict:
    """Booking rules (15-minute grid, no notice, 60 days ahead, the cut-off), one 30-minute service
    and one staff member working 00:00-24:00 every day."""
    db.sql("update public.organizations set timezone = 'UTC' where id = %s", (organization["id"],))
    db.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead, cancellation_cutoff_hours) values (%s, 15, 0, 60, %s)", (organization["id"], cutoff))
    service = db.value("insert into public.services (org_id, name, duration_minutes, price_minor)"
                       " values (%s, 'Regular clean', %s, %s) returning id", (organization["id"], MINUTES, PRICE))
    staff = db.value("insert into public.staff (org_id, user_id, display_name) values (%s, %s, 'Val') returning id",
                     (organization["id"], staff_user.id if staff_user else None))
    db.sql("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
           (staff, service, organization["id"]))
    for weekday in range(7):
        db.sql("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
               " values (%s, %s, %s, '00:00', '24:00')", (organization["id"], staff, weekday))
    return {"org_id": organization["id"], "service_id": service, "staff_id": staff}


@pytest.fixture(scope="module")
def world(db) -> dict:
    team = factories.team(db)
    people = dict(team["people"])
    people["customer"] = db.user()
    people["other_customer"] = db.user()
    base = db.value("select date_trunc('hour', now())")
    main = clinic(db, team["org"], staff_user=people["staff"])
    strict = clinic(db, factories.org(db), cutoff=48)
    return {"team": team, "people": people, "main": main, "strict": strict, "base": base,
            # 30-minute slots: inside the 24 h cut-off, well outside it, and free targets further out
            "inside": (base + dt.timedelta(hours=1, minutes=30 * k) for k in itertools.count()),
            "outside": (base + dt.timedelta(days=3, minutes=30 * k) for k in itertools.count()),
            "target": (base + dt.timedelta(days=6, minutes=30 * k) for k in itertools.count())}


def book(db, clinic_: dict, start: dt.datetime, *, customer=None, order_id=None, status: str = "booked",
         email: str | None = "casey@example.com") -> dict:
    return db.one(
        "insert into public.appointments (org_id, service_id, staff_id, order_id, customer_user_id, customer_name,"
        " customer_email, status, period, hold_expires_at)"
        " values (%s, %s, %s, %s, %s, 'Casey Customer', %s, %s, tstzrange(%s, %s, '[)'),"
        "         case when %s = 'held' then now() + interval '10 minutes' end) returning *",
        (clinic_["org_id"], clinic_["service_id"], clinic_["staff_id"], order_id,
         customer.id if customer else None, email, status, start, start + dt.timedelta(minutes=MINUTES), status))


def guest_order(db, clinic_: dict, *, held_until: str | None = None) -> dict:
    """An appointments order with a tracking token (superuser), pending until `held_until`."""
    token = uuid.uuid4().hex
    row = db.one("insert into public.orders (org_id, number, kind, buyer_email, buyer_name, currency,"
                 " subtotal_minor, total_minor, tracking_token_hash, hold_expires_at)"
                 " values (%s, private.new_order_number(), 'appointments', 'guest@example.com', 'Gus Guest', 'GBP',"
                 " %s, %s, private.token_hash(%s), now() + %s::interval) returning *",
                 (clinic_["org_id"], PRICE, PRICE, token, held_until or "10 minutes"))
    return {**row, "token": token}


def appointment(db, appointment_id) -> dict:
    return db.one("select status::text as status, period, sequence from public.appointments where id = %s",
                  (appointment_id,))


def outbox(db, template: str, **payload) -> list[dict]:
    where = "".join(f" and payload ->> '{k}' = %s" for k in payload)
    return db.sql(f"select recipient, dedupe_key, payload from public.notification_outbox where template = %s{where}",
                  (template, *map(str, payload.values())))


def overrides(db, appointment_id) -> list[dict]:
    return db.sql("select actor_id, details from public.audit_log where action = 'appointment.policy_override'"
                  " and row_id = %s", (str(appointment_id),))


# ---------------------------------------------------------------------------
# 1. The cut-off on every path: refused inside it, allowed outside it.
# ---------------------------------------------------------------------------
def _customer_cancel(db, w, appt, order):
    return call(db, w["people"]["customer"].caller, "select public.cancel_appointment(%s, 'Poorly')", appt["id"])


def _guest_cancel(db, w, appt, order):
    return call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, %s, %s, 'Away')",
                order["number"], order["token"], appt["id"])


def _staff_cancel(db, w, appt, order):
    return call(db, w["people"]["staff"].caller, "select public.cancel_appointment(%s, 'Van broke down')", appt["id"])


def _manager_cancel(db, w, appt, order):
    return call(db, w["people"]["manager"].caller, "select public.cancel_appointment(%s, null)", appt["id"])


def _manager_update_status(db, w, appt, order):
    return call(db, w["people"]["manager"].caller,
                "update public.appointments set status = 'cancelled' where id = %s returning id", appt["id"])


def _manager_update_period(db, w, appt, order):
    return call(db, w["people"]["manager"].caller,
                "update public.appointments set period = tstzrange(%s, %s, '[)') where id = %s returning id",
                w["new_start"], w["new_start"] + dt.timedelta(minutes=MINUTES), appt["id"])


def _service_role_update(db, w, appt, order):
    return call(db, Caller.service(),
                "update public.appointments set status = 'cancelled' where id = %s returning id", appt["id"])


def _customer_with_override_setting(db, w, appt, order):
    return call(db, w["people"]["customer"].caller,
                "select set_config('bookwell.policy_override', 'I say so', true),"
                " public.cancel_appointment(%s, 'Forged')", appt["id"])


def _staff_with_override_setting(db, w, appt, order):
    return call(db, w["people"]["staff"].caller,
                "select set_config('bookwell.policy_override', 'I say so', true),"
                " public.reschedule_appointment(%s, %s)", appt["id"], w["new_start"])


def _customer_reschedule(db, w, appt, order):
    return call(db, w["people"]["customer"].caller, "select public.reschedule_appointment(%s, %s)",
                appt["id"], w["new_start"])


def _guest_reschedule(db, w, appt, order):
    return call(db, Caller.anon(), "select public.reschedule_appointment_as_guest(%s, %s, %s, %s)",
                order["number"], order["token"], appt["id"], w["new_start"])


def _staff_reschedule(db, w, appt, order):
    return call(db, w["people"]["staff"].caller, "select public.reschedule_appointment(%s, %s)",
                appt["id"], w["new_start"])


PATHS = {  # path: (how, what it changes)
    "customer_rpc_cancel": (_customer_cancel, "cancel"),
    "guest_rpc_cancel": (_guest_cancel, "cancel"),
    "staff_rpc_cancel": (_staff_cancel, "cancel"),
    "manager_rpc_cancel": (_manager_cancel, "cancel"),
    "manager_direct_update_status": (_manager_update_status, "cancel"),
    "manager_direct_update_period": (_manager_update_period, "reschedule"),
    "service_role_direct_update": (_service_role_update, "cancel"),
    "customer_sets_override_by_hand": (_customer_with_override_setting, "cancel"),
    "staff_sets_override_by_hand": (_staff_with_override_setting, "reschedule"),
    "customer_rpc_reschedule": (_customer_reschedule, "reschedule"),
    "guest_rpc_reschedule": (_guest_reschedule, "reschedule"),
    "staff_rpc_reschedule": (_staff_reschedule, "reschedule"),
}


@pytest.mark.parametrize("when", ["inside", "outside"])
@pytest.mark.parametrize("path", list(PATHS))
def test_the_cutoff_holds_on_every_path(db, world, path, when):
    how, change = PATHS[path]
    order = guest_order(db, world["main"]) if path.startswith("guest") else None
    appt = book(db, world["main"], next(world[when]), customer=world["people"]["customer"],
                order_id=order["id"] if order else None)
    w = {**world, "new_start": next(world["target"])}
    result = how(db, w, appt, order)
    after = appointment(db, appt["id"])
    if when == "inside":
        refused(result, "PT409", "cutoff_passed")
        assert "24 hours" in result.diag.message_primary and "starts at" in result.diag.message_primary
        assert after == {"status": "booked", "period": appt["period"], "sequence": appt["sequence"]}
    else:
        assert not isinstance(result, psycopg.Error), result
        if change == "cancel":
            assert after["status"] == "cancelled"
        else:
            assert after["status"] == "booked" and after["period"].lower == w["new_start"]
        assert after["sequence"] == appt["sequence"] + 1
    assert overrides(db, appt["id"]) == []


def test_a_cancellation_queues_one_email_per_change_and_audits_the_reason(db, world):
    appt = book(db, world["main"], next(world["outside"]), customer=world["people"]["customer"])
    got = call(db, world["people"]["customer"].caller, "select public.cancel_appointment(%s, 'Poorly')", appt["id"])
    assert got["status"] == "cancelled" and got["sequence"] == appt["sequence"] + 1
    mails = outbox(db, "appointment_cancelled", appointment_id=appt["id"])
    assert [(m["recipient"], m["dedupe_key"], m["payload"]["reason"]) for m in mails] == [
        ("casey@example.com", f"appointment_cancelled:{appt['id']}:{appt['sequence'] + 1}", "Poorly")]
    audit = db.one("select actor_id, details from public.audit_log where action = 'appointment.cancelled'"
                   " and row_id = %s", (str(appt["id"]),))
    assert str(audit["actor_id"]) == world["people"]["customer"].id
    assert audit["details"]["by"] == "customer" and audit["details"]["reason"] == "Poorly"
    refused(call(db, world["people"]["customer"].caller, "select public.cancel_appointment(%s)", appt["id"]),
            "PT409", "not_changeable")


def test_each_reschedule_is_told_with_its_own_sequence(db, world):
    appt = book(db, world["main"], next(world["outside"]), customer=world["people"]["customer"])
    for _ in range(2):
        call(db, world["people"]["customer"].caller, "select public.reschedule_appointment(%s, %s)",
             appt["id"], next(world["target"]))
    keys = sorted(m["dedupe_key"] for m in outbox(db, "appointment_rescheduled", appointment_id=appt["id"]))
    assert keys == [f"appointment_rescheduled:{appt['id']}:{n}" for n in (1, 2)]


@pytest.mark.parametrize("actor", ["other_customer", "outsider", "rival_owner", "driver"])
def test_nobody_else_cancels_or_moves_an_appointment(db, world, actor):
    appt = book(db, world["main"], next(world["outside"]), customer=world["people"]["customer"])
    caller = world["people"][actor].caller
    refused(call(db, caller, "select public.cancel_appointment(%s)", appt["id"]), "PT404", "appointment_not_found")
    refused(call(db, caller, "select public.reschedule_appointment(%s, %s)", appt["id"], next(world["target"])),
            "PT404", "appointment_not_found")
    assert appointment(db, appt["id"])["status"] == "booked"


def test_a_guest_with_a_wrong_token_gets_nothing_and_is_counted(db, world):
    order = guest_order(db, world["main"])
    appt = book(db, world["main"], next(world["outside"]), order_id=order["id"])
    assert call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, 'not-the-token', %s)",
                order["number"], appt["id"]) is None
    assert db.value("select failures from private.order_lookup_failures where order_number = %s",
                    (order["number"],)) == 1
    other = guest_order(db, world["main"])  # a real pair, but for another order
    refused(call(db, Caller.anon(), "select public.cancel_appointment_as_guest(%s, %s, %s)",
                 other["number"], other["token"], appt["id"]), "PT404", "appointment_not_found")
    assert appointment(db, appt["id"])["status"] == "booked"


def test_anon_cannot_call_the_signed_in_rpcs(db, world):
    appt = book(db, world["main"], next(world["outside"]))
    for statement in ("select public.cancel_appointment(%s)", "select private.cancel_appointment(%s, null)",
                      "select public.override_appointment_change(%s, 'cancel', null, 'x')"):
        result = call(db, Caller.anon(), statement, appt["id"])
        assert isinstance(result, psycopg.errors.InsufficientPrivilege), (statement, result)


# ---------------------------------------------------------------------------
# 2. The manager's override.
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["owner", "admin", "manager"])
def test_a_manager_overrides_the_cutoff_with_an_audit_entry(db, world, role):
    appt = book(db, world["main"], next(world["inside"]), customer=world["people"]["customer"])
    got = call(db, world["people"][role].caller,
               "select public.override_appointment_change(%s, 'cancel', null, 'Customer in hospital')", appt["id"])
    assert got["status"] == "cancelled"
    [entry] = overrides(db, appt["id"])
    assert str(entry["actor_id"]) == world["people"][role].id
    assert entry["details"]["reason"] == "Customer in hospital" and entry["details"]["change"] == "cancel"
    assert entry["details"]["cutoff_passed"] is True
    assert len(outbox(db, "appointment_cancelled", appointment_id=appt["id"])) == 1


def test_an_override_reschedule_moves_the_job_but_still_needs_a_free_slot(db, world):
    appt = book(db, world["main"], next(world["inside"]), customer=world["people"]["customer"])
    manager = world["people"]["manager"].caller
    off_grid = next(world["target"]) + dt.timedelta(minutes=7)
    refused(call(db, manager, "select public.override_appointment_change(%s, 'reschedule', %s, 'Rain')",
                 appt["id"], off_grid), "PT409", "slot_unavailable")
    new_start = next(world["target"])
    got = call(db, manager, "select public.override_appointment_change(%s, 'reschedule', %s, 'Rain')",
               appt["id"], new_start)
    assert got["status"] == "booked" and appointment(db, appt["id"])["period"].lower == new_start
    [entry] = overrides(db, appt["id"])
    assert entry["details"]["change"] == "reschedule" and entry["details"]["reason"] == "Rain"


def test_the_override_setting_set_by_hand_is_the_override_for_a_manager_and_is_audited(db, world):
    appt = book(db, world["main"], next(world["inside"]))
    with db.acting(world["people"]["manager"].caller) as cur:
        cur.execute("select set_config('bookwell.policy_override', 'Phoned in', true)")
        cur.execute("update public.appointments set status = 'cancelled' where id = %s", (appt["id"],))
        assert cur.rowcount == 1
    assert appointment(db, appt["id"])["status"] == "cancelled"
    assert [e["details"]["reason"] for e in overrides(db, appt["id"])] == ["Phoned in"]


@pytest.mark.parametrize(("actor", "sqlstate", "detail"), [
    ("staff", "PT403", "not_a_manager"), ("customer", "PT403", "not_a_manager"),
    ("outsider", "PT404", "appointment_not_found"), ("rival_owner", "PT404", "appointment_not_found"),
])
def test_only_managers_override(db, world, actor, sqlstate, detail):
    appt = book(db, world["main"], next(world["inside"]), customer=world["people"]["customer"])
    refused(call(db, world["people"][actor].caller,
                 "select public.override_appointment_change(%s, 'cancel', null, 'Because')", appt["id"]),
            sqlstate, detail)
    assert appointment(db, appt["id"])["status"] == "booked" and overrides(db, appt["id"]) == []


def test_an_override_needs_a_reason_and_a_known_action(db, world):
    appt = book(db, world["main"], next(world["inside"]))
    manager = world["people"]["manager"].caller
    refused(call(db, manager, "select public.override_appointment_change(%s, 'cancel', null, '  ')", appt["id"]),
            "PT422", "reason_required")
    refused(call(db, manager, "select public.override_appointment_change(%s, 'delete', null, 'x')", appt["id"]),
            "PT422", "invalid_action")


# ---------------------------------------------------------------------------
# 3. The org's own cut-off; what is not subject to it.
# ---------------------------------------------------------------------------
def test_an_org_with_a_48_hour_cutoff_is_held_to_48_hours(db, world):
    customer = world["people"]["customer"].caller
    thirty_hours = world["base"] + dt.timedelta(hours=30)
    strict = book(db, world["strict"], thirty_hours, customer=world["people"]["customer"])
    result = call(db, customer, "select public.cancel_appointment(%s)", strict["id"])
    refused(result, "PT409", "cutoff_passed")
    assert "48 hours" in result.diag.message_primary
    far = book(db, world["strict"], world["base"] + dt.timedelta(hours=50), customer=world["people"]["customer"])
    assert call(db, customer, "select public.cancel_appointment(%s)", far["id"])["status"] == "cancelled"
    relaxed = book(db, world["main"], thirty_hours, customer=world["people"]["customer"])  # 24 h org: fine
    assert call(db, customer, "select public.cancel_appointment(%s)", relaxed["id"])["status"] == "cancelled"


def test_an_expiring_order_releases_its_hold_inside_the_cutoff(db, world):
    order = guest_order(db, world["main"])
    held = book(db, world["main"], next(world["inside"]), order_id=order["id"], status="held")
    assert call(db, Caller.service(), "select private.close_unpaid_order(%s, 'expired', 'hold_expired')",
                order["id"]) is True
    assert appointment(db, held["id"])["status"] == "cancelled"


def test_a_full_refund_cancels_the_booking_inside_the_cutoff(db, world):
    order = guest_order(db, world["main"])
    held = book(db, world["main"], next(world["inside"]), order_id=order["id"], status="held")
    assert call(db, Caller.service(), "select private.record_payment(%s, 'stripe', %s, %s, 'gbp')",
                order["id"], f"pi_{uuid.uuid4().hex[:16]}", PRICE) == "fulfilled"
    assert appointment(db, held["id"])["status"] == "booked"
    call(db, Caller.service(), "select (private.request_refund(%s, null, 'asked')).id", order["id"])
    assert appointment(db, held["id"])["status"] == "cancelled"


def test_the_job_itself_moves_through_its_statuses_inside_the_cutoff(db, world):
    manager = world["people"]["manager"].caller
    # Jobs that have started (the lifecycle allows a check-in from the job's day and a
    # no-show after the start; see test_staff_portal.py), hence well inside the cut-off.
    started_at = db.value("select date_trunc('minute', now()) - interval '3 hours'")
    appt = book(db, world["main"], started_at)
    for status in ("in_progress", "completed"):
        assert call(db, manager, "update public.appointments set status = %s where id = %s returning id",
                    status, appt["id"]) == appt["id"]
    other = book(db, world["main"], started_at + dt.timedelta(minutes=30))
    assert call(db, manager, "update public.appointments set status = 'no_show', notes = 'Nobody home'"
                             " where id = %s returning id", other["id"]) == other["id"]
    started = book(db, world["main"], next(world["inside"]), status="in_progress")
    refused(call(db, manager, "update public.appointments set status = 'cancelled' where id = %s", started["id"]),
            "PT409", "cutoff_passed")


# ---------------------------------------------------------------------------
# 4. Rescheduling needs a bookable start with the same staff member.
# ---------------------------------------------------------------------------
def test_a_reschedule_to_an_unavailable_time_is_refused(db, world):
    customer = world["people"]["customer"]
    appt = book(db, world["main"], next(world["outside"]), customer=customer)
    busy = book(db, world["main"], next(world["target"]))
    for start in (busy["period"].lower,                                   # someone else's job
                  busy["period"].lower + dt.timedelta(minutes=15),        # overlapping it
                  next(world["target"]) + dt.timedelta(minutes=5),        # off the 15-minute grid
                  world["base"] - dt.timedelta(hours=2),                  # the past
                  world["base"] + dt.timedelta(days=90)):                 # beyond max_days_ahead
        refused(call(db, customer.caller, "select public.reschedule_appointment(%s, %s)", appt["id"], start),
                "PT409", "slot_unavailable")
    time_off = next(world["target"])
    db.sql("insert into public.staff_time_off (org_id, staff_id, period) values (%s, %s, tstzrange(%s, %s))",
           (world["main"]["org_id"], world["main"]["staff_id"], time_off, time_off + dt.timedelta(hours=1)))
    refused(call(db, customer.caller, "select public.reschedule_appointment(%s, %s)", appt["id"], time_off),
            "PT409", "slot_unavailable")
    assert appointment(db, appt["id"]) == {"status": "booked", "period": appt["period"], "sequence": 0}


def test_a_maintenance_session_may_change_what_the_api_may_not_and_it_is_audited(db, world):
    """The owner connected directly (migrations, psql, Supabase's SQL editor) is a maintenance session: no claims,
    no API role. It exists on Supabase, where postgres is no superuser, and what it does past the rules is audited."""
    customer = world["people"]["customer"]
    appt = book(db, world["main"], next(world["inside"]), customer=customer)
    later = appt["period"].lower + dt.timedelta(minutes=30)
    refused(call(db, customer.caller, "select public.reschedule_appointment(%s, %s)", appt["id"], later),
            "PT409", "cutoff_passed")
    db.sql("update public.appointments set period = tstzrange(%s, %s + interval '30 minutes') where id = %s",
           (later, later, appt["id"]))
    db.sql("update public.appointments set status = 'completed' where id = %s", (appt["id"],))  # skips in_progress
    audits = db.sql("select details from public.audit_log where action = 'maintenance.bypass' and row_id = %s"
                    " order by id", (str(appt["id"]),))
    assert [a["details"]["bypassed"] for a in audits] == ["cutoff_passed", "illegal_transition"]
    assert audits[0]["details"]["to"]["period"].startswith(f'["{later:%Y-%m-%d %H:%M}')
    assert audits[1]["details"]["from"] == "booked" and audits[1]["details"]["to"] == "completed"
    assert all(a["details"]["session_user"] for a in audits)


def test_a_reschedule_may_overlap_the_appointments_own_current_time(db, world):
    customer = world["people"]["customer"]
    appt = book(db, world["main"], next(world["outside"]), customer=customer)
    next(world["outside"])  # keep the following half hour free: the move reaches into it
    later = appt["period"].lower + dt.timedelta(minutes=15)
    got = call(db, customer.caller, "select public.reschedule_appointment(%s, %s)", appt["id"], later)
    assert not isinstance(got, psycopg.Error), got
    after = appointment(db, appt["id"])
    assert after["period"].lower == later and after["period"].upper == later + dt.timedelta(minutes=MINUTES)
    refused(call(db, customer.caller, "select public.reschedule_appointment(%s, %s)", appt["id"], later),
            "PT422", "unchanged")


# ---------------------------------------------------------------------------
# 5. Change requests.
# ---------------------------------------------------------------------------
def managers_told(db, request_id) -> set[str]:
    return {m["recipient"] for m in outbox(db, "change_request_received", request_id=request_id)}


def test_a_late_cancel_request_is_approved_applied_through_the_override_and_both_sides_told(db, world):
    people = world["people"]
    appt = book(db, world["main"], next(world["inside"]), customer=people["customer"])
    req = call(db, people["customer"].caller,
               "select public.request_appointment_change(%s, 'cancel', null, 'Flu')", appt["id"])
    assert req["status"] == "pending" and req["requested_by"] == people["customer"].id
    assert managers_told(db, req["id"]) == {people[r].email for r in ("owner", "admin", "manager")}
    decided = call(db, people["manager"].caller, "select public.decide_appointment_change(%s, true, 'Get well')",
                   req["id"])
    assert decided["status"] == "approved" and decided["decided_by"] == people["manager"].id
    assert appointment(db, appt["id"])["status"] == "cancelled"
    [entry] = overrides(db, appt["id"])
    assert entry["details"]["reason"] == f"change request {req['id']} approved: Get well"
    [told] = outbox(db, "change_request_decided", request_id=req["id"])
    assert told["recipient"] == "casey@example.com" and told["payload"]["decision"] == "approved"
    assert len(outbox(db, "appointment_cancelled", appointment_id=appt["id"])) == 1
    refused(call(db, people["admin"].caller, "select public.decide_appointment_change(%s, false)", req["id"]),
            "PT409", "already_decided")


def test_a_rejected_reschedule_request_leaves_the_appointment_and_tells_the_customer(db, world):
    people = world["people"]
    appt = book(db, world["main"], next(world["inside"]), customer=people["customer"])
    req = call(db, people["customer"].caller, "select public.request_appointment_change(%s, 'reschedule', %s)",
               appt["id"], next(world["target"]))
    decided = call(db, people["owner"].caller, "select public.decide_appointment_change(%s, false, 'Fully booked')",
                   req["id"])
    assert decided["status"] == "rejected" and decided["decision_note"] == "Fully booked"
    assert appointment(db, appt["id"]) == {"status": "booked", "period": appt["period"], "sequence": 0}
    [told] = outbox(db, "change_request_decided", request_id=req["id"])
    assert told["payload"]["decision"] == "rejected" and overrides(db, appt["id"]) == []


def test_an_approved_reschedule_request_moves_the_appointment(db, world):
    people = world["people"]
    appt = book(db, world["main"], next(world["inside"]), customer=people["customer"])
    new_start = next(world["target"])
    req = call(db, people["customer"].caller, "select public.request_appointment_change(%s, 'reschedule', %s, 'Work')",
               appt["id"], new_start)
    call(db, people["admin"].caller, "select public.decide_appointment_change(%s, true)", req["id"])
    assert appointment(db, appt["id"])["period"].lower == new_start
    assert len(outbox(db, "appointment_rescheduled", appointment_id=appt["id"])) == 1
    assert len(overrides(db, appt["id"])) == 1


def test_a_guest_asks_through_their_link(db, world):
    order = guest_order(db, world["main"])
    appt = book(db, world["main"], next(world["inside"]), order_id=order["id"], email=None)
    assert call(db, Caller.anon(), "select public.request_appointment_change_as_guest(%s, 'wrong', %s, 'cancel')",
                order["number"], appt["id"]) is None
    req = call(db, Caller.anon(), "select public.request_appointment_change_as_guest(%s, %s, %s, 'cancel')",
               order["number"], order["token"], appt["id"])
    assert req["status"] == "pending" and req["requested_by"] is None
    call(db, world["people"]["manager"].caller, "select public.decide_appointment_change(%s, true)", req["id"])
    assert appointment(db, appt["id"])["status"] == "cancelled"
    [told] = outbox(db, "change_request_decided", request_id=req["id"])
    assert told["recipient"] == "guest@example.com"  # no email on the appointment: the order's buyer


def test_one_pending_request_per_appointment_and_only_managers_decide(db, world):
    people = world["people"]
    appt = book(db, world["main"], next(world["inside"]), customer=people["customer"])
    req = call(db, people["customer"].caller, "select public.request_appointment_change(%s, 'cancel')", appt["id"])
    refused(call(db, people["customer"].caller, "select public.request_appointment_change(%s, 'cancel')", appt["id"]),
            "PT409", "request_pending")
    for actor in ("customer", "staff", "outsider", "rival_owner"):
        refused(call(db, people[actor].caller, "select public.decide_appointment_change(%s, true)", req["id"]),
                "PT404", "request_not_found")
    refused(call(db, people["other_customer"].caller, "select public.request_appointment_change(%s, 'cancel')",
                 appt["id"]), "PT404", "appointment_not_found")
    refused(call(db, people["customer"].caller, "select public.request_appointment_change(%s, 'move')", appt["id"]),
            "PT422", "invalid_action")
    assert appointment(db, appt["id"])["status"] == "booked"


def test_a_reschedule_request_needs_a_future_start_and_a_booked_appointment(db, world):
    customer = world["people"]["customer"]
    appt = book(db, world["main"], next(world["outside"]), customer=customer)
    refused(call(db, customer.caller, "select public.request_appointment_change(%s, 'reschedule')", appt["id"]),
            "PT422", "invalid_start")
    done = book(db, world["main"], next(world["outside"]), customer=customer, status="completed")
    refused(call(db, customer.caller, "select public.request_appointment_change(%s, 'cancel')", done["id"]),
            "PT409", "not_changeable")


# ---------------------------------------------------------------------------
# 6. RLS of appointment_change_requests.
# ---------------------------------------------------------------------------
ACTORS = ("anon", "outsider", "owner", "admin", "manager", "staff", "customer", "other_customer", "rival_owner",
          "service_role")
# x = no grant, 0 = matches no row, 1 = reads / writes the target. Rows are written only by the RPCs.
MATRIX = """
table                       command anon outsider owner admin manager staff customer other_customer rival_owner service_role
appointment_change_requests select  x    0        1     1     1       0     1        0              0           1
appointment_change_requests insert  x    x        x     x     x       x     x        x              x           1
appointment_change_requests update  x    x        x     x     x       x     x        x              x           1
appointment_change_requests delete  x    x        x     x     x       x     x        x              x           1
"""
CASES = parse_matrix(MATRIX, ACTORS)
PROBES = {
    "select": ("select id from public.appointment_change_requests where id = %(request_id)s", None),
    "insert": ("insert into public.appointment_change_requests (org_id, appointment_id, kind, reason)"
               " values (%(org_id)s, %(spare_id)s, 'cancel', %(marker)s) returning id",
               "select count(*) from public.appointment_change_requests where reason = %(marker)s"),
    "update": ("update public.appointment_change_requests set reason = %(marker)s where id = %(request_id)s"
               " returning id",
               "select count(*) from public.appointment_change_requests where reason = %(marker)s"),
    "delete": ("delete from public.appointment_change_requests where id = %(request_id)s returning id",
               "select 1 - count(*) from public.appointment_change_requests where id = %(request_id)s"),
}


@pytest.fixture(scope="module")
def requests(db, world) -> dict:
    people = world["people"]
    appt = book(db, world["main"], next(world["outside"]), customer=people["customer"])
    request_id = call(db, people["customer"].caller, "select public.request_appointment_change(%s, 'cancel') ->> 'id'",
                      appt["id"])
    spare = book(db, world["main"], next(world["outside"]))
    callers = {actor: people[actor].caller for actor in ACTORS if actor in people}
    callers.update(anon=Caller.anon(), service_role=Caller.service())
    return {"callers": callers, "params": {"request_id": request_id, "spare_id": spare["id"],
                                           "org_id": world["main"]["org_id"],
                                           "marker": f"probe-{uuid.uuid4().hex[:8]}"}}


@pytest.mark.parametrize(("table", "command", "actor", "expected"), CASES,
                         ids=[f"{t}-{c}-{a}" for t, c, a, _ in CASES])
def test_change_requests_rls_matrix(prober, requests, table, command, actor, expected):
    statement, check = PROBES[command]
    assert_case(prober, requests["callers"][actor], statement, requests["params"], check, expected,
                f"{actor} {command} on {table}")


def test_change_requests_have_rls_on_and_one_sentence_policy(db):
    assert db.value("select relrowsecurity from pg_class"
                    " where oid = 'public.appointment_change_requests'::regclass") is True
    policies = db.sql("select cmd, roles, policyname from pg_policies where tablename = 'appointment_change_requests'")
    assert [(p["cmd"], p["roles"]) for p in policies] == [("SELECT", ["authenticated"])]
    assert " " in policies[0]["policyname"]


OURS = ["enforce_appointment_cutoff", "appointment_recipient", "appointment_json", "apply_appointment_change",
        "appointment_for_change", "guest_appointment", "cancel_appointment", "reschedule_appointment",
        "cancel_appointment_as_guest", "reschedule_appointment_as_guest", "override_appointment_change",
        "file_change_request", "request_appointment_change", "request_appointment_change_as_guest",
        "decide_appointment_change", "check_change_reason", "check_change_kind"]


def test_the_guest_halves_are_the_only_new_private_functions_anon_may_execute(db):
    executable = {r["proname"] for r in db.sql(
        "select proname from pg_proc where pronamespace = 'private'::regnamespace"
        " and has_function_privilege('anon', oid, 'execute') and proname = any(%s)", (OURS,))}
    assert executable == {"cancel_appointment_as_guest", "reschedule_appointment_as_guest",
                          "request_appointment_change_as_guest"}
