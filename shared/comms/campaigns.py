"""The promotion message kind (public.queue_campaign queues it; routines/comms/campaigns.sql).

Every promotion email carries its recipient's own unsubscribe link and the
RFC 8058 headers Gmail and Yahoo require of bulk senders (List-Unsubscribe
with that link, List-Unsubscribe-Post: List-Unsubscribe=One-Click); every
promotional SMS says how to stop them (Twilio honours STOP).
"""

from __future__ import annotations

from urllib.parse import urlencode

import psycopg

from shared.comms import templates
from shared.platform.config import settings


def unsubscribe_url(token: str) -> str:
    return f"{settings().mail.unsubscribe_base}?{urlencode({'token': token})}"


def _variables(cur: psycopg.Cursor, row: dict) -> dict:
    cur.execute("select c.title, c.message, o.name as org_name from public.campaigns c"
                " join public.organizations o on o.id = c.org_id where c.id = %s", (row["payload"]["campaign_id"],))
    campaign = cur.fetchone()
    return {"title": campaign["title"], "message": campaign["message"], "org_name": campaign["org_name"],
            "name": row["payload"].get("name") or "",
            "unsubscribe_url": unsubscribe_url(row["payload"]["unsubscribe_token"])}


def _headers(variables: dict) -> dict[str, str]:
    return {"List-Unsubscribe": f"<{variables['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


templates.register(templates.Kind(
    name="promotion", purpose="promotional",
    variables={"title": "the campaign's title", "message": "the campaign's message",
               "org_name": "your business's name", "name": "the recipient's name (may be empty)",
               "unsubscribe_url": "the recipient's own one-click unsubscribe link"},
    sample={"title": "Spring offer", "message": "20% off every oven clean booked this month.",
            "org_name": "Sparkle Cleaning", "name": "Casey Customer",
            "unsubscribe_url": "https://example.com/functions/v1/unsubscribe?token=sample"},
    context=_variables, headers=_headers,
    defaults={
        "email": {
            "subject": "{{ title }}",
            "html": ('<h1 style="margin:0 0 12px;font-size:22px">{{ title }}</h1>\n'
                     "{% if name %}<p>Hello {{ name }},</p>\n{% endif %}<p>{{ message }}</p>\n"
                     '<p style="color:#71717a;font-size:12px">You get these because you asked {{ org_name }} for '
                     'offers. <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'),
            "text": ("{{ title }}\n\n{% if name %}Hello {{ name }},\n\n{% endif %}{{ message }}\n\n"
                     "You get these because you asked {{ org_name }} for offers. "
                     "Unsubscribe: {{ unsubscribe_url }}"),
        },
        "sms": {"body": "{{ org_name }}: {{ title }}. {{ message }} Reply STOP to opt out."},
    }))
