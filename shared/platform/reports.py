"""Reports as JSON or CSV, for every area (functions/reports serves them).

The database computes every figure: each report is one or more public RPCs
(one per `group`) taking (org_id, from, to) that run as the caller, whose
SECURITY DEFINER halves decide the reach and refuse bad ranges. Areas register
their reports here (`register(name, Report(groups, default_group))`); this
module maps a name and `group` to one RPC and renders its rows.

JSON keeps money as integer minor units beside its `currency`; CSV (RFC 4180,
header row) writes it as a decimal string in the currency's unit
(`collected_minor` 641700 GBP -> `collected` "6417.00"), and a text cell a
spreadsheet would run as a formula is quoted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from shared.platform import errors

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Report:
    groups: dict[str | None, str]  # group -> SQL taking (org_id, from, to)
    default_group: str | None


REPORTS: dict[str, Report] = {}


def register(name: str, report: Report) -> None:
    """An area's report, served by functions/reports as /<name>."""
    REPORTS[name] = report


# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS = {**{c: 0 for c in ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                                "VND", "VUV", "XAF", "XOF", "XPF")},
              **{c: 3 for c in ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")}}


def find(name: str, group: str | None) -> tuple[str, str | None]:
    """The SQL of report `name` grouped by `group` (its default when None). 404 / 422 otherwise."""
    report = REPORTS.get(name)
    if report is None:
        raise errors.not_found("unknown_report", f"No report called {name!r}; try one of {', '.join(REPORTS)}")
    group = group or report.default_group
    if group not in report.groups:
        allowed = [g for g in report.groups if g]
        message = (f"Group {name} by {', '.join(allowed)}" if allowed else f"The {name} report takes no group")
        raise errors.unprocessable("invalid_group", message, {"allowed": allowed})
    return report.groups[group], group


def run(cur: psycopg.Cursor, name: str, *, org_id: str, date_from: date, date_to: date,
        group: str | None) -> dict[str, Any]:
    """One report as the caller (cur acts as them): {report, org_id, from, to, group, columns, rows}."""
    query, group = find(name, group)
    cur.execute(query, (org_id, date_from, date_to))
    columns = [c.name for c in cur.description]
    return {"report": name, "org_id": org_id, "from": date_from, "to": date_to, "group": group,
            "columns": columns, "rows": cur.fetchall()}


def decimal_amount(minor: int, currency: str) -> str:
    """Minor units as a plain decimal string in the currency's unit: 641700, GBP -> '6417.00'."""
    exponent = _EXPONENTS.get(currency.upper(), 2)
    return str(Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def to_csv(result: dict[str, Any]) -> str:
    """The rows as RFC 4180 CSV with a header; *_minor columns become decimal amounts (column name without
    the suffix) in the row's currency."""
    columns: list[str] = result["columns"]
    header = [c.removesuffix("_minor") if c.endswith("_minor") else c for c in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in result["rows"]:
        writer.writerow([_cell(row[c], c, row) for c in columns])
    return out.getvalue()


# A text cell a spreadsheet would run as a formula (OWASP "CSV injection"): names are typed by
# members, and the export is opened by owners.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any, column: str, row: dict) -> Any:
    if value is None:
        return ""
    if column.endswith("_minor"):
        return decimal_amount(value, row["currency"])
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def filename(result: dict[str, Any]) -> str:
    parts = [result["report"], result["group"], result["from"].isoformat(), result["to"].isoformat()]
    return "-".join(p for p in parts if p) + ".csv"
