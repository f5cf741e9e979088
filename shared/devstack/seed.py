"""Demo data for `bookwell dev` and `bookwell seed`. Idempotent: run it twice, get the same world.

A demo organization with an owner, an admin and a staff member, plus a
customer who belongs to no organization. Later areas add their demo rows by
appending to SEEDERS (a function of the connection and the demo world).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg.rows import dict_row

from shared.platform import auth, config, users

DEMO_ORG = {"name": "Bookwell Demo", "slug": "demo", "timezone": "Europe/London", "currency": "GBP"}
DEMO_USERS = [
    ("owner@demo.bookwell.dev", "Olive Owner", "owner"),
    ("admin@demo.bookwell.dev", "Adam Admin", "admin"),
    ("staff@demo.bookwell.dev", "Sam Staff", "staff"),
    ("dispatcher@demo.bookwell.dev", "Dana Dispatcher", "dispatcher"),
    ("driver@demo.bookwell.dev", "Dee Driver", "driver"),
    ("customer@demo.bookwell.dev", "Cara Customer", None),
]

SEEDERS: list[Callable[[psycopg.Connection, dict], None]] = []


def seed_ticketing(conn: psycopg.Connection, demo: dict) -> None:
    """A published event a month ahead with two tiers and a 10 % code, DEMO10."""
    org_id = demo["org"]["id"]
    venue = conn.execute("select id from public.venues where org_id = %s and name = 'Demo Hall'", (org_id,)).fetchone()
    if venue is None:
        venue = conn.execute(
            "insert into public.venues (org_id, name, address, city, postcode, country, capacity)"
            " values (%s, 'Demo Hall', '1 Example Street', 'London', 'SE1 7PB', 'GB', 300) returning id",
            (org_id,)).fetchone()
    conn.execute(
        """
        insert into public.events (org_id, venue_id, title, slug, description, starts_at, ends_at)
        values (%s, %s, 'Bookwell Launch Party', 'launch-party', 'Music, food and a demo of everything.',
                date_trunc('day', now()) + interval '30 days 19 hours',
                date_trunc('day', now()) + interval '30 days 23 hours')
        on conflict (org_id, slug) do nothing
        """, (org_id, venue["id"]))
    event = conn.execute("select id, status from public.events where org_id = %s and slug = 'launch-party'",
                         (org_id,)).fetchone()
    for name, price, capacity in (("General admission", 2500, 200), ("VIP", 8000, 20)):
        conn.execute(
            "insert into public.ticket_tiers (org_id, event_id, name, price_minor, currency, capacity)"
            " select %s, %s, %s, %s, 'GBP', %s where not exists"
            " (select 1 from public.ticket_tiers where event_id = %s and name = %s)",
            (org_id, event["id"], name, price, capacity, event["id"], name))
    if event["status"] == "draft":
        conn.execute("update public.events set status = 'published' where id = %s", (event["id"],))
    conn.execute(
        "insert into public.promo_codes (org_id, code, kind, value) values (%s, 'DEMO10', 'percent', 10)"
        " on conflict (org_id, lower(code)) do nothing", (org_id,))
    demo["event"] = conn.execute(
        "select e.id, e.title, (select jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name) order by t.price_minor)"
        " from public.ticket_tiers t where t.event_id = e.id) as tiers from public.events e where e.id = %s",
        (event["id"],)).fetchone()


SEEDERS.append(seed_ticketing)


def seed_appointments(conn: psycopg.Connection, demo: dict) -> None:
    """A cleaning business: two services, Sam (the staff user) and Val, Monday-Saturday 09:00-17:00
    with a lunch break, covering 10 km around SE1; booking rules with a 24-hour cut-off."""
    org_id = demo["org"]["id"]
    conn.execute("insert into public.appointment_settings (org_id, slot_interval_minutes, min_notice_minutes,"
                 " max_days_ahead, cancellation_cutoff_hours) values (%s, 30, 120, 60, 24)"
                 " on conflict (org_id) do nothing", (org_id,))
    category = conn.execute(
        "insert into public.service_categories (org_id, name) values (%s, 'Cleaning')"
        " on conflict (org_id, name) do update set name = excluded.name returning id", (org_id,)).fetchone()["id"]
    services = []
    for name, minutes, price, before, after in (("Regular clean", 120, 4800, 15, 15), ("Oven clean", 90, 6500, 0, 15)):
        row = conn.execute("select id from public.services where org_id = %s and name = %s", (org_id, name)).fetchone()
        row = row or conn.execute(
            "insert into public.services (org_id, category_id, name, duration_minutes, price_minor,"
            " buffer_before_minutes, buffer_after_minutes) values (%s, %s, %s, %s, %s, %s, %s) returning id",
            (org_id, category, name, minutes, price, before, after)).fetchone()
        services.append({"id": row["id"], "name": name})
    staff_user = next(user_id for _, user_id, role in demo["users"] if role == "staff")
    for user_id, name, outcode in ((staff_user, "Sam Staff", "SE1"), (None, "Val Cleaner", "SW1A")):
        row = conn.execute("select id from public.staff where org_id = %s and display_name = %s",
                           (org_id, name)).fetchone()
        if row:
            continue
        staff = conn.execute("insert into public.staff (org_id, user_id, display_name, base_outcode)"
                             " values (%s, %s, %s, %s) returning id", (org_id, user_id, name, outcode)).fetchone()["id"]
        for service in services:
            conn.execute("insert into public.staff_services (staff_id, service_id, org_id) values (%s, %s, %s)",
                         (staff, service["id"], org_id))
        for weekday in range(6):  # Monday (0) to Saturday (5): weekday is ISO day - 1
            conn.execute("insert into public.staff_schedules (org_id, staff_id, weekday, starts_at, ends_at)"
                         " values (%s, %s, %s, '09:00', '17:00')", (org_id, staff, weekday))
            conn.execute("insert into public.staff_breaks (org_id, staff_id, weekday, starts_at, ends_at)"
                         " values (%s, %s, %s, '12:30', '13:00')", (org_id, staff, weekday))
        conn.execute("insert into public.staff_service_areas (org_id, staff_id, outcode, radius_km)"
                     " values (%s, %s, %s, 10)", (org_id, staff, outcode))
    demo["services"] = services


SEEDERS.append(seed_appointments)


def seed_chauffeur(conn: psycopg.Connection, demo: dict) -> None:
    """A chauffeur service: an Executive Sedan and a Luxury SUV class, a car of each, Dee (the driver user),
    and the usual rate rules (meet & greet, extra stops, child seats, 20 % gratuity, 20 % VAT)."""
    org_id = demo["org"]["id"]
    conn.execute("insert into public.chauffeur_settings (org_id) values (%s) on conflict (org_id) do nothing", (org_id,))
    classes = {}
    for name, rank, seats, luggage, hourly, minimum, per_mile, p2p, airport, plate, vin in (
            ("Executive Sedan", 1, 3, 3, 7500, 2, 250, 4000, 6500, "BW24SDN", "WDD2230631A000001"),
            ("Luxury SUV", 2, 6, 6, 9500, 3, 300, 5500, 8000, "BW24SUV", "WDC1671231A000002")):
        classes[name] = conn.execute(
            "insert into public.vehicle_classes (org_id, name, rank, seats, luggage, hourly_rate_minor, minimum_hours,"
            " per_distance_minor, base_fares, wait_per_minute_minor) values (%s, %s, %s, %s, %s, %s, %s, %s,"
            " jsonb_build_object('point_to_point', %s::bigint, 'airport_transfer', %s::bigint), 100)"
            " on conflict (org_id, name) do update set name = excluded.name returning id",
            (org_id, name, rank, seats, luggage, hourly, minimum, per_mile, p2p, airport)).fetchone()["id"]
        conn.execute("insert into public.vehicles (org_id, class_id, make, model, year, plate, vin, seats)"
                     " values (%s, %s, 'Mercedes', %s, 2024, %s, %s, %s) on conflict do nothing",
                     (org_id, classes[name], "S-Class" if rank == 1 else "GLS", plate, vin, seats))
    driver_user = next(user_id for _, user_id, role in demo["users"] if role == "driver")
    conn.execute("insert into public.drivers (org_id, user_id, name, phone, licence_number, licence_expires_on)"
                 " values (%s, %s, 'Dee Driver', '+447700900700', 'DRIVE701234DD9AB', '2031-12-31')"
                 " on conflict do nothing", (org_id, driver_user))
    for name, kind, unit, amount, percent, basis, service, position in (
            ("Meet and greet", "fee", "meet_and_greet", 1500, None, None, None, 1),
            ("Extra stop", "fee", "per_extra_stop", 1000, None, None, None, 2),
            ("Child seat", "fee", "per_child_seat", 1000, None, None, None, 3),
            ("Gratuity 20%", "gratuity", "percent", None, 20, "base", None, 1),
            ("VAT 20%", "tax", "percent", None, 20, "base_fees", None, 1)):
        conn.execute("insert into public.chauffeur_rate_rules (org_id, name, kind, unit, amount_minor, percent, basis,"
                     " service_type, position) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                     " on conflict (org_id, name) do nothing",
                     (org_id, name, kind, unit, amount, percent, basis, service, position))
    demo["vehicle_classes"] = [{"id": class_id, "name": name} for name, class_id in classes.items()]


SEEDERS.append(seed_chauffeur)


def _one(conn: psycopg.Connection, find: str, insert: str, params: dict) -> object:
    """The id of the row `find` selects, inserted by `insert` first when there is none (tables without a
    natural unique key, so the seed stays idempotent)."""
    found = conn.execute(find, params).fetchone()
    return found["id"] if found else conn.execute(insert, params).fetchone()["id"]


def seed_parking(conn: psycopg.Connection, demo: dict) -> None:
    """An airport car park at Heathrow (LHR): 120 spaces, 80 % of them online; a flexible Park & Ride
    billed per 24 h and a non-flexible Saver billed per calendar day, priced by length of stay; a wash,
    an EV charge and cancellation cover; an admin fee of £3 for cancelling a flexible booking."""
    org_id = demo["org"]["id"]
    lot = _one(conn, "select id from public.parking_lots where org_id = %(org)s and name = %(name)s",
               "insert into public.parking_lots (org_id, name, iata_code, address, timezone, transfer_minutes,"
               " amenities, default_spaces, online_share_percent, overstay_daily_minor) values (%(org)s, %(name)s,"
               " 'LHR', 'Bath Road, Harmondsworth UB7 0DU', 'Europe/London', 10, '{cctv,shuttle,ev_charging}',"
               " 120, 80, 2500) returning id", {"org": org_id, "name": "Bookwell Parking Heathrow"})
    products = {}
    for name, service, flexible, billing, prices, extra_day in (
            ("Park & Ride", "park_and_ride", True, "per_24h", {1: 1500, 2: 2600, 3: 3500, 7: 5900, 14: 9900}, 650),
            ("Saver", "park_and_ride", False, "calendar_days", {1: 1100, 4: 2900, 8: 4900}, 500),
            ("Meet & Greet", "meet_and_greet", True, "per_24h", {1: 3500, 3: 6900, 7: 11900}, 1400)):
        products[name] = _one(
            conn, "select id from public.parking_products where lot_id = %(lot)s and name = %(name)s",
            "insert into public.parking_products (org_id, lot_id, name, service, flexible, billing, extra_day_minor)"
            " values (%(org)s, %(lot)s, %(name)s, %(service)s, %(flexible)s, %(billing)s, %(extra)s) returning id",
            {"org": org_id, "lot": lot, "name": name, "service": service, "flexible": flexible,
             "billing": billing, "extra": extra_day})
        for days, price in prices.items():
            conn.execute("insert into public.parking_prices (product_id, org_id, days, price_minor)"
                         " values (%s, %s, %s, %s) on conflict (product_id, days) do nothing",
                         (products[name], org_id, days, price))
    for kind, name, price, per_day in (("wash", "Exterior wash", 1500, False), ("ev_charge", "EV charge", 400, True),
                                       ("cancellation_cover", "Cancellation cover", 499, False)):
        _one(conn, "select id from public.parking_extras where lot_id = %(lot)s and name = %(name)s",
             "insert into public.parking_extras (org_id, lot_id, kind, name, price_minor, per_day)"
             " values (%(org)s, %(lot)s, %(kind)s, %(name)s, %(price)s, %(per_day)s) returning id",
             {"org": org_id, "lot": lot, "kind": kind, "name": name, "price": price, "per_day": per_day})
    conn.execute("insert into public.parking_policies (org_id, admin_fee_minor) values (%s, 300)"
                 " on conflict (org_id) do nothing", (org_id,))
    demo["parking"] = {"lot_id": lot, "products": products}


SEEDERS.append(seed_parking)


def seed_member(conn: psycopg.Connection, demo: dict) -> None:
    """Cara Customer as a member of the travellers' app: the default categories, a month of expenses and
    income up to today, a fuel and a campsite budget, and van insurance that recurs monthly (once)."""
    user_id = next(user_id for _, user_id, role in demo["users"] if role is None)
    conn.execute("insert into public.member_settings (user_id) values (%s) on conflict (user_id) do nothing", (user_id,))
    conn.execute("""
        insert into public.expense_categories (user_id, name, group_name, for_income)
        select %s, d.name, d.grp, d.income
        from (values ('Groceries', 'Living', false), ('Eating out', 'Living', false), ('Fuel', 'Travel', false),
                     ('Campsites', 'Travel', false), ('Maintenance', 'Vehicle', false), ('Insurance', 'Vehicle', false),
                     ('Pension', 'Income', true)) d (name, grp, income)
        on conflict (user_id, name, for_income) do nothing""", (user_id,))
    cats = {r["name"]: r["id"] for r in conn.execute(
        "select id, name from public.expense_categories where user_id = %s", (user_id,)).fetchall()}
    if conn.execute("select exists (select 1 from public.expenses where user_id = %s) as e", (user_id,)).fetchone()["e"]:
        return
    today = "(now() at time zone 'Europe/London')::date"
    for name, payee, amount, every in (("Fuel", "Shell", 6200, 3), ("Campsites", "Lakeside Camping", 2800, 2),
                                       ("Groceries", "Co-op", 3400, 4), ("Eating out", "The Anchor", 4100, 9),
                                       ("Maintenance", "Tyre Pros", 18900, 30)):
        conn.execute(f"insert into public.expenses (user_id, category_id, amount_minor, currency, spent_on, payee)"
                     f" select %s, %s, %s + (d * 37) %% 900, 'GBP', {today} - d, %s from generate_series(0, 29, %s) d",
                     (user_id, cats[name], amount, payee, every))
    conn.execute(f"insert into public.income_entries (user_id, category_id, source, amount_minor, currency, received_on)"
                 f" values (%s, %s, 'State pension', 90000, 'GBP', {today} - 14)", (user_id, cats["Pension"]))
    for name, amount, rollover in (("Fuel", 60000, "rollover"), ("Campsites", 40000, "adjusted")):
        conn.execute(f"insert into public.budgets (user_id, category_id, period, amount_minor, currency, rollover, starts_on)"
                     f" values (%s, %s, 'monthly', %s, 'GBP', %s, {today} - 30)", (user_id, cats[name], amount, rollover))
    conn.execute(f"insert into public.recurring_items (user_id, kind, category_id, label, amount_minor, currency, every,"
                 f" next_due) values (%s, 'expense', %s, 'Van insurance', 4200, 'GBP', 'monthly', {today} + 5)",
                 (user_id, cats["Insurance"]))


SEEDERS.append(seed_member)


def ensure_user(database_url: str, email: str, name: str | None = None) -> str:
    """The user with this email, created if missing as Supabase Auth creates users (shared/platform/users.py)."""
    return users.ensure(database_url, email, full_name=name, settings=config.settings())


def seed(database_url: str) -> dict:
    ids = {email: ensure_user(database_url, email, name) for email, name, _ in DEMO_USERS}
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn, conn.transaction():
        owner = ids[DEMO_USERS[0][0]]
        org = conn.execute(
            """
            insert into public.organizations (name, slug, timezone, currency, created_by)
            values (%(name)s, %(slug)s, %(timezone)s, %(currency)s, %(owner)s)
            on conflict (slug) do update set name = excluded.name
            returning id, name, slug
            """,
            {**DEMO_ORG, "owner": owner},
        ).fetchone()
        for email, _, role in DEMO_USERS:
            if role:
                conn.execute(
                    "insert into public.memberships (org_id, user_id, role) values (%s, %s, %s)"
                    " on conflict (org_id, user_id) do nothing",
                    (org["id"], ids[email], role),
                )
        demo = {"org": org, "users": [(email, ids[email], role) for email, _, role in DEMO_USERS]}
        for seeder in SEEDERS:
            seeder(conn, demo)
        return demo


def describe(demo: dict, *, with_tokens: bool = False) -> list[str]:
    lines = [f"  demo org        {demo['org']['name']} (slug {demo['org']['slug']}, id {demo['org']['id']})"]
    if demo.get("event"):
        event = demo["event"]
        lines.append(f"  demo event      {event['title']} (id {event['id']}, promo code DEMO10)")
        lines += [f"                  tier {t['name']}: {t['id']}" for t in event["tiers"]]
    for service in demo.get("services", []):
        lines.append(f"  demo service    {service['name']}: {service['id']} (try postcode SE1 7PB)")
    for klass in demo.get("vehicle_classes", []):
        lines.append(f"  demo car class  {klass['name']}: {klass['id']} (quote_reservation)")
    if demo.get("parking"):
        lines.append(f"  demo car park   Bookwell Parking Heathrow (LHR): {demo['parking']['lot_id']} (quote_parking)")
        lines += [f"                  product {name}: {product_id}"
                  for name, product_id in demo["parking"]["products"].items()]
    for email, user_id, role in demo["users"]:
        lines.append(f"  {role or 'customer':15} {email}")
        if with_tokens:
            token = auth.mint(config.settings(), role="authenticated", sub=user_id, email=email,
                              ttl_seconds=7 * 24 * 3600)
            lines.append(f"                  token {token}")
    return lines
