"""UK postcodes (routines/appointments/uk_postcodes.sql, policies/appointments.sql,
shared/appointments/postcodes.py): a postcode is validated and normalised the same way in
SQL and Python; its district centroid comes from the shipped CSV, which the
migration provably contains; the Channel Islands, the Isle of Man and unknown
districts are "not covered"; the data is open to read and closed to writes.

GIR 0AA (the old Girobank postcode) is deliberately *valid but not covered*:
it is a real postcode, so telling the customer it is malformed would be wrong,
but it has no location, so nothing can be booked there.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from shared.appointments import postcodes
from shared.platform.config import PROJECT_ROOT
from shared.platform.db import Caller

DATA = PROJECT_ROOT / "shared" / "data"
CSV_PATH = DATA / "uk_outcodes.csv"
SOURCE_PATH = DATA / "uk_outcodes.SOURCE.md"
MIGRATION = PROJECT_ROOT / "migrations" / "20261121000700_appointments_uk_postcodes.sql"
GENERATOR = PROJECT_ROOT / "scripts" / "gen_outcodes_migration.py"

sys.path.insert(0, str(GENERATOR.parent))
import gen_outcodes_migration as generator  # noqa: E402


def csv_rows() -> list[dict[str, str]]:
    with CSV_PATH.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------
# Normalisation: (input, normal form or None for invalid)
# ---------------------------------------------------------------------------
CASES: list[tuple[str | None, str | None]] = [
    # full postcodes, every outward shape
    ("M1 1AE", "M1 1AE"),              # A9
    ("B33 8TH", "B33 8TH"),            # A99
    ("CR2 6XH", "CR2 6XH"),            # AA9
    ("DN55 1PT", "DN55 1PT"),          # AA99
    ("W1A 0AX", "W1A 0AX"),            # A9A
    ("EC1A 1BB", "EC1A 1BB"),          # AA9A
    ("SW1A 1AA", "SW1A 1AA"),
    ("EH12 9XX", "EH12 9XX"),
    ("BT1 5GS", "BT1 5GS"),
    # case, spacing, whitespace
    ("sw1a1aa", "SW1A 1AA"),
    ("SW1A1AA", "SW1A 1AA"),
    (" SW1A  1AA ", "SW1A 1AA"),
    ("\tsw1a\n1aa\r\n", "SW1A 1AA"),
    ("Sw1A 1aA", "SW1A 1AA"),
    ("m11ae", "M1 1AE"),
    ("ec1a1bb", "EC1A 1BB"),
    # outward code alone
    ("SW1A", "SW1A"),
    ("m1", "M1"),
    (" eh12 ", "EH12"),
    ("W1M", "W1M"),                    # terminated district, still in the data
    ("BN91", "BN91"),                  # valid shape, absent from the data
    # Crown dependencies and GIR: valid shapes
    ("GY1 1AA", "GY1 1AA"),
    ("je23ab", "JE2 3AB"),
    ("IM99", "IM99"),
    ("GIR 0AA", "GIR 0AA"),
    ("gir0aa", "GIR 0AA"),
    # invalid
    (None, None),
    ("", None),
    ("   ", None),
    ("hello", None),
    ("GIR", None),                     # GIR exists only as GIR 0AA
    ("GIR 1AA", None),
    ("SW1A 1A", None),                 # inward too short
    ("SW1A 1AAA", None),               # inward too long
    ("SW1A1AAA", None),
    ("SW1 A1AA", None),                # space in the wrong place
    ("S W1A 1AA", None),
    ("SW1A-1AA", None),
    ("1AA", None),
    ("SW1A 1CA", None),                # C never in the inward code
    ("SW1A 1AI", None),                # nor I, K, M, O, V
    ("M1 1KO", None),
    ("M1 1AV", None),
    ("Q1 1AA", None),                  # Q, V, X never first
    ("V1", None),
    ("XM4 5HQ", None),                 # Santa's: X never first
    ("AI1 1AA", None),                 # I, J, Z never second
    ("AZ1", None),
    ("AJ1", None),
    ("ABC1 1AA", None),
    ("SW123 1AA", None),
    ("SW1AA", None),
    ("12345", None),
    ("SW1A 1AA; drop table public.uk_outcodes", None),
    ("'; select 1 --", None),
    ("ſw1a 1aa", None),                # long s: Python's str.upper() would make it S
    ("ＳＷ1Ａ 1ＡＡ", None),              # fullwidth letters
    ("SW1A\u00a01AA", None),           # no-break space is not whitespace here
    ("SW1A" + " " * 28 + "1AA", None), # over 32 characters of input
    ("SW1A" + " " * 25 + "1AA", "SW1A 1AA"),  # exactly 32
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_python_normalises_like_the_rules_say(text, expected) -> None:
    got = postcodes.normalize(text)
    if expected is None:
        assert got is None
    else:
        outward, _, inward = expected.partition(" ")
        assert got == postcodes.Postcode(outward, inward or None, expected)


def test_sql_normalises_every_case_like_python(db) -> None:
    texts = [c[0] for c in CASES]
    rows = db.sql("""
        select t.ord, (p).outward, (p).inward, (p).normalized, p is null as invalid
        from unnest(%s::text[]) with ordinality as t(text, ord)
        cross join lateral (select private.parse_uk_postcode(t.text) as p) x
        order by t.ord""", (texts,))
    for (text, expected), row in zip(CASES, rows, strict=True):
        if expected is None:
            assert row["invalid"], (text, row)
        else:
            outward, _, inward = expected.partition(" ")
            assert (row["outward"], row["inward"], row["normalized"]) == (outward, inward or None, expected), text


def test_sql_and_python_agree_on_random_strings(db) -> None:
    """Near-misses built from postcode-ish characters, parsed both ways."""
    rng = random.Random(5)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789  \t-"
    texts = []
    for _ in range(4000):
        shape = rng.choice(["AA9A 9AA", "A9 9AA", "AA99 9AA", "A9A9AA", "AA9", "A99", "AA9A"])
        texts.append("".join(
            rng.choice(alphabet) if rng.random() < 0.15
            else rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") if ch == "A"
            else rng.choice("0123456789") if ch == "9" else ch
            for ch in shape))
    rows = db.sql("""
        select t.ord, (private.parse_uk_postcode(t.text)).normalized
        from unnest(%s::text[]) with ordinality as t(text, ord) order by t.ord""", (texts,))
    sql_answers = [r["normalized"] for r in rows]
    py_answers = [(p.normalized if (p := postcodes.normalize(t)) else None) for t in texts]
    disagreements = [(t, s, p) for t, s, p in zip(texts, sql_answers, py_answers) if s != p]
    assert disagreements == []
    valid = sum(a is not None for a in py_answers)
    assert 400 < valid < 3600, "the fuzz should hit both valid and invalid postcodes"


def test_every_shipped_district_is_a_valid_outward_code(db) -> None:
    for row in csv_rows():
        assert postcodes.normalize(row["outcode"]) == postcodes.Postcode(row["outcode"], None, row["outcode"])
    assert db.value("""select count(*) from public.uk_outcodes
                       where (private.parse_uk_postcode(outcode)).normalized is distinct from outcode""") == 0


# ---------------------------------------------------------------------------
# The data: the shipped file, the migration, the table
# ---------------------------------------------------------------------------
def test_shipped_csv_matches_the_checksum_in_its_source_notes() -> None:
    stated = re.search(r"sha256: `([0-9a-f]{64})`", SOURCE_PATH.read_text(encoding="utf-8")).group(1)
    assert hashlib.sha256(CSV_PATH.read_bytes()).hexdigest() == stated
    rows = csv_rows()
    assert len(rows) == 3075
    assert [r["outcode"] for r in rows] == sorted(r["outcode"] for r in rows)


def test_migration_data_section_is_regenerated_identically(tmp_path: Path) -> None:
    out = tmp_path / "section.sql"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, cwd=tmp_path)
    committed = generator.extract(MIGRATION.read_text(encoding="utf-8"))
    assert out.read_text(encoding="utf-8") == committed
    check = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_generated_section_has_one_insert_per_500_rows() -> None:
    section = generator.extract(MIGRATION.read_text(encoding="utf-8"))
    inserts = re.findall(r"^insert into public\.uk_outcodes ", section, re.M)
    rows = re.findall(r"^  \('", section, re.M)
    assert (len(inserts), len(rows)) == (7, 3075)


def test_a_changed_csv_makes_the_check_fail(tmp_path: Path) -> None:
    changed = tmp_path / "uk_outcodes.csv"
    changed.write_text(CSV_PATH.read_text(encoding="utf-8").replace("SW1A,51.50197", "SW1A,51.50198"),
                       encoding="utf-8")
    check = subprocess.run([sys.executable, str(GENERATOR), "--check", "--csv", str(changed)],
                           capture_output=True, text=True)
    assert check.returncode == 1


def test_table_holds_exactly_the_csv(db) -> None:
    rows = csv_rows()
    summary = db.one("""select count(*) as n, sum(postcode_count) as units,
                               count(*) filter (where source = 'ons_nspl_2025_05') as gb,
                               count(*) filter (where source = 'fsa_fhrs_ni') as ni
                        from public.uk_outcodes""")
    assert summary == {"n": 3075, "units": sum(int(r["postcode_count"]) for r in rows), "gb": 2995, "ni": 80}
    table = {r["outcode"]: (r["latitude"], r["longitude"], r["postcode_count"], r["source"])
             for r in db.sql("select * from public.uk_outcodes")}
    shipped = {r["outcode"]: (float(r["latitude"]), float(r["longitude"]), int(r["postcode_count"]), r["source"])
               for r in rows}
    assert table == shipped


def test_table_comment_is_the_attribution_from_the_source_notes(db) -> None:
    assert postcodes.ATTRIBUTION == generator.attribution(SOURCE_PATH)
    assert db.value("select obj_description('public.uk_outcodes'::regclass, 'pg_class')") == postcodes.ATTRIBUTION


# ---------------------------------------------------------------------------
# Lookups and distances
# ---------------------------------------------------------------------------
SPOT_CHECKS = {  # SOURCE.md "Spot checks"
    "SW1A": (51.50197, -0.13386), "M1": (53.47768, -2.23674), "EH1": (55.95226, -3.19212),
    "BT1": (54.59952, -5.92800), "EH12": (55.94119, -3.27585), "E20": (51.54623, -0.01063),
}


@pytest.mark.parametrize("outcode", SPOT_CHECKS)
def test_a_covered_postcode_resolves_to_its_district_centroid(db, outcode) -> None:
    with db.as_anon() as cur:
        answer = postcodes.lookup(cur, f"{outcode.lower()}9zz")
    assert answer == {
        "valid": True, "normalized": f"{outcode} 9ZZ", "outward": outcode, "inward": "9ZZ", "covered": True,
        "latitude": SPOT_CHECKS[outcode][0], "longitude": SPOT_CHECKS[outcode][1], "reason": None, "message": None,
    }


def test_an_outward_code_alone_resolves(db) -> None:
    with db.as_anon() as cur:
        answer = postcodes.lookup(cur, " sw1a ")
    assert (answer["valid"], answer["normalized"], answer["outward"], answer["inward"], answer["covered"],
            answer["latitude"], answer["longitude"]) == (True, "SW1A", "SW1A", None, True, 51.50197, -0.13386)


@pytest.mark.parametrize(("a", "b", "km"), [("SW1A", "M1", 261.8), ("SW1A", "EH1", 534.1), ("M1", "BT1", 271.4)])
def test_haversine_between_district_centroids(db, a, b, km) -> None:
    with db.as_anon() as cur:
        cur.execute("""select private.haversine_km(x.latitude, x.longitude, y.latitude, y.longitude) as km
                       from public.uk_outcodes x, public.uk_outcodes y where x.outcode = %s and y.outcode = %s""",
                    (a, b))
        distance = cur.fetchone()["km"]
    assert abs(distance - km) < 0.5


def test_haversine_is_symmetric_and_zero_on_the_spot(db) -> None:
    assert db.value("select private.haversine_km(51.5, -0.1, 51.5, -0.1)") == 0
    there = db.value("select private.haversine_km(50.1, -5.5, 58.6, -3.0)")
    back = db.value("select private.haversine_km(58.6, -3.0, 50.1, -5.5)")
    assert there == pytest.approx(back) and 950 < there < 970   # Land's End to John o' Groats, about 960 km
    assert db.value("select private.haversine_km(0, 0, 0, 180)") == pytest.approx(20015.1, abs=0.1)


@pytest.mark.parametrize(("text", "place"), [
    ("GY1 1AA", "Guernsey (Channel Islands)"), ("gy10", "Guernsey (Channel Islands)"),
    ("JE2 3AB", "Jersey (Channel Islands)"), ("je5", "Jersey (Channel Islands)"),
    ("IM1 1AA", "the Isle of Man"), ("IM86", "the Isle of Man"), ("im99 1aa", "the Isle of Man"),
])
def test_channel_islands_and_isle_of_man_are_not_covered(db, text, place) -> None:
    with db.as_anon() as cur:
        answer = postcodes.lookup(cur, text)
    assert answer["valid"] is True and answer["covered"] is False and answer["reason"] == "not_covered"
    assert answer["normalized"] == postcodes.normalize(text).normalized
    assert answer["latitude"] is None and answer["longitude"] is None
    assert place in answer["message"] and "Channel Islands and the Isle of Man are not covered" in answer["message"]


@pytest.mark.parametrize("text", ["W1E 1AA", "W1E", "BN91 1AA", "TW98", "ZE9 1AA", "GIR 0AA"])
def test_a_well_formed_district_without_a_location_is_not_covered(db, text) -> None:
    with db.as_anon() as cur:
        answer = postcodes.lookup(cur, text)
    assert (answer["valid"], answer["covered"], answer["reason"]) == (True, False, "not_covered")
    assert answer["latitude"] is None and "not covered" in answer["message"]


@pytest.mark.parametrize("text", [None, "", "hello", "SW1A 1CA", "Q1", "x" * 10_000, "SW1A\u00a01AA",
                                  "'); delete from public.uk_outcodes; --"])
def test_garbage_is_reported_not_raised(db, text) -> None:
    with db.as_anon() as cur:
        answer = postcodes.lookup(cur, text)
    assert answer == {"valid": False, "normalized": None, "outward": None, "inward": None, "covered": False,
                      "latitude": None, "longitude": None, "reason": "invalid_postcode",
                      "message": answer["message"]}
    assert "not a UK postcode" in answer["message"]


def test_lookup_works_with_tuple_rows_too(db) -> None:
    with psycopg.connect(db.url) as conn:
        assert postcodes.lookup(conn.cursor(), "M1 1AE")["latitude"] == 53.47768


# ---------------------------------------------------------------------------
# Who may read and write
# ---------------------------------------------------------------------------
def callers(db) -> dict[str, Caller]:
    user = db.user()
    return {"anon": Caller.anon(), "authenticated": user.caller, "service_role": Caller.service()}


def test_every_api_role_reads_districts_and_calls_lookup(db) -> None:
    for name, caller in callers(db).items():
        rows = db.attempt(caller, "select count(*) as n from public.uk_outcodes")
        assert rows == [{"n": 3075}], name
        rows = db.attempt(caller, "select public.lookup_postcode('EH12 9XX') ->> 'covered' as covered")
        assert rows == [{"covered": "true"}], name


@pytest.mark.parametrize("statement", [
    "insert into public.uk_outcodes values ('ZE9', 60.0, -1.2, 1, 'ons_nspl_2025_05')",
    "update public.uk_outcodes set latitude = 0 where outcode = 'SW1A'",
    "delete from public.uk_outcodes where outcode = 'SW1A'",
    "truncate public.uk_outcodes",
])
def test_no_api_role_writes_districts(db, statement) -> None:
    for name, caller in callers(db).items():
        result = db.attempt(caller, statement)
        assert isinstance(result, psycopg.errors.InsufficientPrivilege), (name, result)
        assert result.sqlstate == "42501"
    assert db.value("select latitude from public.uk_outcodes where outcode = 'SW1A'") == 51.50197
    assert db.value("select count(*) from public.uk_outcodes") == 3075


def test_policies_are_one_select_policy_per_role(db) -> None:
    rows = db.sql("""select cmd, roles::text[] as roles from pg_policies
                     where schemaname = 'public' and tablename = 'uk_outcodes' order by roles""")
    assert rows == [{"cmd": "SELECT", "roles": ["anon"]}, {"cmd": "SELECT", "roles": ["authenticated"]}]
    assert db.value("select relrowsecurity from pg_class where oid = 'public.uk_outcodes'::regclass") is True
