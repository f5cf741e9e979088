"""`bookwell rpc` and `bookwell sql`: the database as PostgREST serves it, for a chosen caller.

Run as a user runs them (a subprocess against this module's database, seeded
with the demo data), and checked against the database itself: RLS applies, the
caller's claims are those of a verified token, refusals carry PostgREST's code
and status, and bad input is one clear line.
"""

from __future__ import annotations

import json

import pytest

from tests.support.cli import bookwell, ok, one_line_failure  # noqa: F401  (the fixture)

OWNER, CUSTOMER = "owner@demo.bookwell.dev", "customer@demo.bookwell.dev"


@pytest.fixture(scope="module")
def demo(bookwell, db):  # noqa: F811
    ok(bookwell("seed"))
    return db.one("select id::text as id, slug from public.organizations where slug = 'demo'")


def test_an_rpc_as_anon_answers_what_the_frontend_gets(bookwell, demo):  # noqa: F811
    out = json.loads(ok(bookwell("rpc", "services_for_postcode", "org_slug=demo", "postcode=se1 7pb")))
    assert out["postcode"] == "SE1 7PB" and out["org"]["id"] == demo["id"]
    assert {s["name"] for s in out["services"]} == {"Regular clean", "Oven clean"}
    same = json.loads(ok(bookwell("rpc", "services_for_postcode", "--json",
                                  '{"org_slug": "demo", "postcode": "SE1 7PB"}')))
    assert same == out


def test_typed_arguments_are_cast_to_the_functions_parameters(bookwell, demo, db):  # noqa: F811
    service = db.value("select id::text from public.services where org_id = %s and name = 'Oven clean'", (demo["id"],))
    day = db.value("select (now() at time zone 'Europe/London')::date + 2")
    days = json.loads(ok(bookwell("rpc", "available_slots", f"service_id={service}", "postcode=SE1 7PB",
                                  f"date_from={day}", f"date_to={day}")))
    assert [d["date"] for d in days] == [day.isoformat()]


def test_sql_reads_under_rls_as_each_caller(bookwell, demo, db):  # noqa: F811
    statement = "select display_name from public.staff order by display_name"
    assert json.loads(ok(bookwell("sql", statement, "--as", CUSTOMER))) == []  # staff are the org's business
    assert json.loads(ok(bookwell("sql", statement, "--as", OWNER))) == [
        {"display_name": "Sam Staff"}, {"display_name": "Val Cleaner"}]
    assert json.loads(ok(bookwell("sql", "select auth.email() as email, auth.role() as role",
                                  "--as", CUSTOMER))) == [{"email": CUSTOMER, "role": "authenticated"}]
    assert json.loads(ok(bookwell("sql", "select count(*) > 0 as any from public.services", "--as", "service_role"))) \
        == [{"any": True}]


def test_a_refusal_is_printed_as_postgrest_would_answer_it(bookwell, demo):  # noqa: F811
    result = bookwell("rpc", "services_for_postcode", "org_slug=demo", "postcode=JE2 3AB")
    line = one_line_failure(result)
    assert "422 PT422" in line
    body = json.loads(result.stdout)
    assert (body["code"], body["details"]) == ("PT422", "postcode_not_covered")
    write = bookwell("sql", "insert into public.services (org_id, name, duration_minutes, price_minor)"
                            f" values ('{demo['id']}', 'Sneaky', 30, 100)", "--as", CUSTOMER)
    assert "42501" in one_line_failure(write)


@pytest.mark.parametrize(("args", "says"), [
    (["rpc", "no_such_function"], "PGRST202"),
    (["rpc", "services_for_postcode", "org_slug"], "write name=value"),
    (["rpc", "services_for_postcode", "--json", "[1]"], "must be an object"),
    (["rpc", "Robert'); drop table orders;--"], "is not a function name"),
    (["sql", "select 1", "--as", "nobody@example.com"], "No user"),
])
def test_bad_input_is_one_clear_line(bookwell, demo, args, says):  # noqa: F811
    result = bookwell(*args)
    assert says in one_line_failure(result) + result.stdout


def test_token_anon_prints_the_anon_key(bookwell):  # noqa: F811
    from shared.platform import auth, config

    key = ok(bookwell("token", "--anon")).strip()
    assert auth.verify(key, config.settings()).role == "anon"
