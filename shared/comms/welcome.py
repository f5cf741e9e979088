"""The welcome email, queued by Postgres once a sign-up's address is confirmed (routines/comms/welcome.sql).

From the org the person signed up through, in its wording, when the sign-up named one; otherwise from
the product (the default wording, in the name of MAIL_FROM)."""

from __future__ import annotations

from email.utils import parseaddr

import psycopg

from shared.comms import templates
from shared.comms.notifications import Skip
from shared.platform.config import settings


def _welcome(cur: psycopg.Cursor, row: dict) -> dict:
    cur.execute("select p.full_name, o.name as org_name from public.profiles p"
                " left join public.organizations o on o.id = %s where p.id = %s",
                (row.get("org_id"), row["payload"]["user_id"]))
    found = cur.fetchone()
    if found is None:  # the account was deleted before the welcome went
        raise Skip("user_deleted")
    mail = settings().mail
    return {"name": found["full_name"] or "", "org_name": found["org_name"] or parseaddr(mail.sender)[0] or "Bookwell",
            "site_url": mail.public_site_url}


templates.register(templates.Kind(
    name="welcome", purpose="transactional",
    variables={"name": "the person's name, empty when they gave none", "org_name": "who welcomes them",
               "site_url": "where they sign in (PUBLIC_SITE_URL)"},
    sample={"name": "Casey Customer", "org_name": "Riverside Arts", "site_url": "https://example.com"},
    context=_welcome,
    defaults={"email": templates.heading_and_paragraphs(
        "Welcome to {{ org_name }}",
        "Hello{% if name %} {{ name }}{% endif %}, your account is ready and your email address is confirmed.",
        "Your bookings, tickets and receipts are in one place now: sign in at {{ site_url }} to manage them.",
        heading="Welcome{% if name %}, {{ name }}{% endif %}")}))
