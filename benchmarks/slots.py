"""Slot search for 20 staff x 30 days against a plain indexed scan of the same appointments.

    .venv/bin/python benchmarks/slots.py [--staff 20] [--days 30] [--rounds 7] [--calls 10]

In one run, on loopback only, in a fresh embedded Postgres (benchmarks/common.Bench,
removed at exit):
  world: one org (Europe/London, 15-minute grid, 2 h notice), one 60-minute service
         with 15/15-minute buffers, `--staff` staff doing it, each working
         Monday-Saturday 08:00-18:00 with a 12:30-13:00 break, covering SW1A +
         20 km, a few days of time off among them, and about 5 booked jobs per
         staff member per working day for the next `--days` days (start times
         shifted per staff and day), plus some cancelled ones (not live);
  (a) scan:   select staff_id, blocked from public.appointments
              where staff_id = any(<team>) and status in (live) and blocked && <window>
              -- the plain indexed read of the same appointments the search must consider;
  (b) search: select public.available_slots(<service>, 'SW1A 1AA', <first day>, <last day>)
              -- the whole answer (every covering staff member, every day, as JSON);
  (c) one check: private.is_bookable(staff, service, start) vs
              select exists(<that staff member's live appointments overlapping the start>).
Both sides of each pair run on the same connection, the same number of times,
in alternating rounds (so drift hits both), and the client fetches the full
result each time. Prints median latencies and the ratios search/scan and
check/exists (lower is better), plus a correctness check: no offered slot
overlaps a live appointment, a break or time off.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Bench, say  # noqa: E402

LIVE = "('held', 'booked', 'in_progress')"


def build(pg, staff: int, days: int) -> dict:
    org = pg.make_org()
    pg.sql("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
           " max_days_ahead) values (%s, 15, 120, 60)", (org["id"],))
    service = pg.value("insert into public.services (org_id, name, duration_minutes, price_minor,"
                       " buffer_before_minutes, buffer_after_minutes) values (%s, 'Regular clean', 60, 4800, 15, 15)"
                       " returning id", (org["id"],))
    team = [r["id"] for r in pg.sql(
        "insert into public.staff (org_id, display_name) select %s, 'Staff ' || n from generate_series(1, %s) n"
        " returning id", (org["id"], staff))]
    params = {"org": org["id"], "service": service, "team": team, "days": days}
    pg.sql("insert into public.staff_services (staff_id, service_id, org_id)"
           " select s, %(service)s, %(org)s from unnest(%(team)s::uuid[]) s", params)
    pg.sql("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
           " select %(org)s, s, d, '08:00', '18:00' from unnest(%(team)s::uuid[]) s, generate_series(0, 5) d", params)
    pg.sql("insert into public.staff_breaks (org_id, staff_id, weekday, starts_at, ends_at)"
           " select %(org)s, s, d, '12:30', '13:00' from unnest(%(team)s::uuid[]) s, generate_series(0, 5) d", params)
    pg.sql("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
           " select %(org)s, s, 'SW1A', 20 from unnest(%(team)s::uuid[]) s", params)
    # Two days off for every fourth staff member.
    pg.sql("insert into public.staff_time_off (org_id, staff_id, period)"
           " select %(org)s, s, tstzrange(((current_date + 3 + i::int)::timestamp) at time zone 'Europe/London',"
           "                              ((current_date + 5 + i::int)::timestamp) at time zone 'Europe/London')"
           " from unnest(%(team)s::uuid[]) with ordinality t(s, i) where i %% 4 = 0", params)
    # About five jobs per working day: blocked (start-15, start+75) never overlap, shifted 0-45 min.
    pg.sql("""
        insert into public.appointments (org_id, service_id, staff_id, customer_name, status, period,
                                         buffer_before_minutes, buffer_after_minutes)
        select %(org)s, %(service)s, t.s, 'Customer', case when (t.i + d.n + j.k) %% 11 = 0 then 'cancelled'
                                                         else 'booked' end::public.appointment_status,
               tstzrange(w.at, w.at + interval '60 minutes'), 15, 15
        from unnest(%(team)s::uuid[]) with ordinality t(s, i)
        cross join generate_series(1, %(days)s) d(n)
        cross join unnest(array['08:30', '10:00', '11:30', '14:00', '15:45']::time[]) with ordinality j(at, k)
        cross join lateral (select ((current_date + d.n) + j.at + make_interval(mins => ((t.i + d.n) %% 4)::int * 10))
                                   at time zone 'Europe/London' as at) w
        where extract(isodow from current_date + d.n) < 7""", params)
    return params


def timed(conn, query: str, params) -> float:
    t0 = time.perf_counter()
    cur = conn.execute(query, params)
    cur.fetchall()
    return time.perf_counter() - t0


def pair(conn, a: tuple[str, object], b: tuple[str, object], rounds: int, calls: int) -> tuple[list, list]:
    for _ in range(3):  # warm-up: plans, caches
        timed(conn, *a)
        timed(conn, *b)
    xs, ys = [], []
    for r in range(rounds):
        order = ((a, xs), (b, ys)) if r % 2 == 0 else ((b, ys), (a, xs))
        for (query, params), into in order:
            into.extend(timed(conn, query, params) for _ in range(calls))
    return xs, ys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--staff", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    with Bench(time_limit=300) as bench:
        pg = bench.main
        say("building the world")
        w = build(pg, args.staff, args.days)
        pg.settle()
        first = pg.value("select current_date + 1")
        last = pg.value("select current_date + %s", (args.days,))
        counts = pg.one(f"""
            select count(*) filter (where status in {LIVE}) as live, count(*) as all_rows,
                   (select count(*) from public.staff_time_off) as time_off
            from public.appointments""")
        window = "tstzrange((%(first)s::date)::timestamp at time zone 'Europe/London'," \
                 " ((%(last)s::date) + 1)::timestamp at time zone 'Europe/London')"
        params = {**w, "first": first, "last": last}
        scan = (f"select staff_id, blocked from public.appointments where staff_id = any(%(team)s::uuid[])"
                f" and status in {LIVE} and blocked && {window}", params)
        search = ("select public.available_slots(%(service)s, 'SW1A 1AA', %(first)s, %(last)s) as s", params)
        with pg.connect() as conn:
            scanned = len(conn.execute(*scan).fetchall())
            answer = conn.execute(*search).fetchone()["s"]
            offered = sum(len(d["slots"]) for d in answer)
            pairs = sum(len(s["staff"]) for d in answer for s in d["slots"])
            bad = conn.execute(f"""
                select count(*) as n
                from private.slot_candidates(%(service)s, %(first)s, %(last)s, null, 'SW1A', now()) c
                where exists (select 1 from public.appointments a where a.staff_id = c.staff_id
                                and a.status in {LIVE}
                                and a.blocked && tstzrange(c.starts_at - interval '15 minutes',
                                                           c.starts_at + interval '75 minutes'))
                   or exists (select 1 from public.staff_time_off o where o.staff_id = c.staff_id
                                and o.period && tstzrange(c.starts_at - interval '15 minutes',
                                                          c.starts_at + interval '75 minutes'))
                   or tstzrange(c.starts_at - interval '15 minutes', c.starts_at + interval '75 minutes')
                      && tstzrange((c.day + time '12:30') at time zone 'Europe/London',
                                   (c.day + time '13:00') at time zone 'Europe/London')
                """, params).fetchone()["n"]
            plan = "\n".join(r["QUERY PLAN"] for r in conn.execute("explain " + scan[0], scan[1]).fetchall())
            say(f"timing: {args.rounds} rounds x {args.calls} calls each")
            scan_t, search_t = pair(conn, scan, search, args.rounds, args.calls)
            # (c) one booking check: a listed start vs the overlap test the exclusion constraint does.
            one = next(s for d in answer for s in d["slots"])
            check_params = {**params, "staff": one["staff"][0], "start": one["start"]}
            check = ("select private.is_bookable(%(staff)s, %(service)s, %(start)s::timestamptz) as ok", check_params)
            exists = (f"select exists (select 1 from public.appointments where staff_id = %(staff)s"
                      f" and status in {LIVE} and blocked && tstzrange(%(start)s::timestamptz - interval '15 minutes',"
                      f" %(start)s::timestamptz + interval '75 minutes')) as busy", check_params)
            exists_t, check_t = pair(conn, exists, check, args.rounds, args.calls * 3)
        ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
        p95 = lambda xs: sorted(xs)[int(0.95 * (len(xs) - 1))] * 1000  # noqa: E731
        print(f"# slots benchmark · {bench.describe()}")
        print(f"world: {args.staff} staff x {args.days} days ({first} .. {last}), Mon-Sat 08:00-18:00, break 12:30-13:00,"
              f" 60-min service + 15/15 buffers, 15-min grid; appointments {counts['all_rows']} rows,"
              f" {counts['live']} live; {counts['time_off']} time-off periods")
        print(f"(a) scan:   {scanned} rows, median {ms(scan_t):.2f} ms, p95 {p95(scan_t):.2f} ms"
              f" ({len(scan_t)} calls); plan uses "
              f"{'appointments_no_double_booking (gist)' if 'appointments_no_double_booking' in plan else 'NO gist index'}")
        print(f"(b) search: {len(answer)} days, {offered} slot starts, {pairs} (start, staff) pairs,"
              f" median {ms(search_t):.2f} ms, p95 {p95(search_t):.2f} ms ({len(search_t)} calls)")
        print(f"    ratio search / scan (median): {ms(search_t) / ms(scan_t):.1f}")
        print(f"(c) one check: is_bookable median {ms(check_t):.3f} ms vs bare overlap exists {ms(exists_t):.3f} ms"
              f" ({len(check_t)} calls each); ratio {ms(check_t) / ms(exists_t):.1f}")
        print(f"correctness: offered (start, staff) pairs overlapping a live appointment, time off or the break: {bad}")
        if bad:
            raise SystemExit("slot search offered a busy start")


if __name__ == "__main__":
    main()
