#!/usr/bin/env python3
"""Print the rows of private.phone_regions (migrations/20261207001500_platform_phone_numbers.sql)
from the metadata of `phonenumbers` (Google's libphonenumber, Apache-2.0).

Postgres turns a number as a customer typed it into E.164 with one rule per
region: drop the national (trunk) prefix, check the national number's length,
prefix the calling code. The rule is a simplification of libphonenumber's
parser, so a region is written only when the rule reproduces the library's
E.164 for every example number the library has for it (fixed line, mobile,
toll free, ...); a region whose numbers need more (a prefix transform rule,
as in Argentina) is left out, and national numbers from it are refused in SQL
(international ones, +…, still work). The script reports what it left out.

    .venv/bin/python scripts/gen_phone_regions.py > rows.sql
"""

from __future__ import annotations

import re
import sys

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat, PhoneNumberType

TYPES = [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
         PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOIP, PhoneNumberType.PERSONAL_NUMBER,
         PhoneNumberType.UAN, PhoneNumberType.PAGER]


def rule(region: str) -> tuple[int, str | None, list[int]] | None:
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.national_prefix_transform_rule:
        return None
    lengths = sorted(set(meta.general_desc.possible_length or ()))
    return meta.country_code, meta.national_prefix_for_parsing, lengths


def apply(region_rule: tuple[int, str | None, list[int]], typed: str) -> str | None:
    """The same steps as private.to_e164 for a national number."""
    code, prefix, lengths = region_rule
    digits = re.sub(r"[^0-9]", "", typed)
    if prefix:
        stripped = re.sub(rf"^(?:{prefix})", "", digits, count=1)
        if len(stripped) in lengths:
            digits = stripped
    return f"+{code}{digits}" if len(digits) in lengths else None


def main() -> int:
    rows, left_out = [], []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        found = rule(region)
        examples = [n for t in TYPES if (n := phonenumbers.example_number_for_type(region, t))]
        if found is None or not examples or any(
                apply(found, phonenumbers.format_number(n, PhoneNumberFormat.NATIONAL))
                != phonenumbers.format_number(n, PhoneNumberFormat.E164) for n in examples):
            left_out.append(region)
            continue
        code, prefix, lengths = found
        prefix_sql = "null" if not prefix else "'" + prefix.replace("'", "''") + "'"
        rows.append(f"  ('{region}', '{code}', {prefix_sql}, '{{{','.join(map(str, lengths))}}}')")
    print(",\n".join(rows) + ";")
    print(f"-- {len(rows)} regions; left out: {' '.join(left_out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
