"""Message analytics of an org (public.message_analytics) as JSON rows or CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

import psycopg

COLUMNS = ("day", "template", "channel", "queued", "sent", "delivered", "opened", "clicked", "bounced",
           "complained", "failed", "suppressed", "opted_out")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def run(cur: psycopg.Cursor, *, org_id: str, date_from: date, date_to: date) -> dict:
    cur.execute("select * from public.message_analytics(%s, %s, %s)", (org_id, date_from, date_to))
    return {"org_id": org_id, "from": date_from.isoformat(), "to": date_to.isoformat(), "columns": list(COLUMNS),
            "rows": [{k: row[k] for k in COLUMNS} for row in cur.fetchall()]}


def to_csv(result: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result["columns"])
    for row in result["rows"]:
        writer.writerow([row[c].isoformat() if isinstance(row[c], date) else row[c] for c in result["columns"]])
    return out.getvalue()


def filename(result: dict) -> str:
    return f"messages-{result['from']}-{result['to']}.csv"
