"""UK postcodes: the Python side of migrations/20261121000700_appointments_uk_postcodes.sql.

`normalize` mirrors `private.parse_uk_postcode` rule for rule (the tests run
both over the same cases and over random strings), so a function can reject a
malformed postcode with a 4xx before touching the database. `lookup` is the
authoritative answer: it calls `public.lookup_postcode` as the caller, which
also says whether the district is covered and where its centroid is.

District centroids ship with the product (shared/data/uk_outcodes.csv, see
uk_outcodes.SOURCE.md beside it); ATTRIBUTION is the text the licences require
us to display, e.g. on an "about / data sources" page.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

import psycopg

MAX_INPUT = 32

ATTRIBUTION = """\
Postcode district centroids derived from:
Contains OS data © Crown copyright and database right 2025
Contains Royal Mail data © Royal Mail copyright and database right 2025
Source: Office for National Statistics licensed under the Open Government Licence v.3.0
Contains public sector information licensed under the Open Government Licence v3.0
(Food Standards Agency Food Hygiene Rating Scheme data, via OpenStreetMap UK "NI-Postcodes").
Open Government Licence v3.0: https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"""

# Outward: A9 | A99 | AA9 | AA99 | A9A | AA9A. First letter never Q V X, second
# never I J Z; the trailing letter of A9A/AA9A is open (terminated W1M-W1Y exist).
OUTWARD = r"(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-Z]|[A-PR-UWYZ][A-HK-Y][0-9][A-Z])"
# Inward: digit + two letters, never C I K M O V.
INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
_POSTCODE = re.compile(rf"({OUTWARD}) ?({INWARD})?")
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")  # ASCII only, like the SQL
_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)  # ASCII only: 'ſ'.upper() == 'S'

# Crown dependencies: real postcodes, outside the ONS data.
NOT_COVERED_AREAS = {"GY": "Guernsey (Channel Islands)", "JE": "Jersey (Channel Islands)", "IM": "the Isle of Man"}


@dataclass(frozen=True)
class Postcode:
    outward: str
    inward: str | None
    normalized: str

    @property
    def area(self) -> str:
        """The postcode area: the outward code's leading letters ('SW', 'M')."""
        return re.match(r"[A-Z]+", self.outward).group(0)

    @property
    def is_full(self) -> bool:
        return self.inward is not None


def normalize(text: Any) -> Postcode | None:
    """A valid UK postcode (full, with or without the space, or an outward code
    alone) in normal form, or None. Never raises."""
    if not isinstance(text, str) or len(text) > MAX_INPUT:
        return None
    s = _WHITESPACE.sub(" ", text.translate(_UPPER)).strip(" ")
    if s in ("GIR 0AA", "GIR0AA"):
        return Postcode("GIR", "0AA", "GIR 0AA")
    m = _POSTCODE.fullmatch(s)
    if not m:
        return None
    outward, inward = m.group(1), m.group(2)
    return Postcode(outward, inward, f"{outward} {inward}" if inward else outward)


def lookup(cur: psycopg.Cursor, text: str | None) -> dict:
    """`public.lookup_postcode` as the cursor's caller: {valid, normalized, outward,
    inward, covered, latitude, longitude, reason, message}."""
    cur.execute("select public.lookup_postcode(%s) as answer", (text,))
    row = cur.fetchone()
    return row["answer"] if isinstance(row, dict) else row[0]
