#!/usr/bin/env python3
"""Print the rows of private.currencies (migrations/20261207002800_platform_currencies.sql): the ISO 4217
currencies legal tender somewhere on `--on` (default today), with their minor-unit exponent, from
Babel's copy of the Unicode CLDR (Unicode licence).

    .venv/bin/python scripts/gen_currencies.py --on 2026-12-07 > rows.sql
"""

from __future__ import annotations

import argparse
from datetime import date

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies


def current(on: date) -> list[tuple[str, int]]:
    territories = get_global("territory_currencies").keys()
    codes = {c for t in territories for c in get_territory_currencies(t, start_date=on, tender=True)}
    return sorted((c, get_currency_precision(c)) for c in codes if len(c) == 3 and c.isalpha())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--on", type=date.fromisoformat, default=date.today())
    rows = current(parser.parse_args().on)
    print("insert into private.currencies (code, exponent) values")
    print(",\n".join(f"  ('{code}', {exponent})" for code, exponent in rows) + ";")


if __name__ == "__main__":
    main()
