"""How people read times and money: in the business's own timezone, by locale.

Emails and pages show "Tue 8 Dec 2026, 09:30 GMT" and "£48.00", never an ISO
instant in UTC or a hand-built "48.00 GBP". Babel (CLDR data) does the
formatting, so a currency's own number of decimals (JPY has none) and a
locale's conventions come out right. A message is formatted in its own
language (`writing_in`): "15,00 £" and "Sa., 9. Jan. 2027" for a German reader.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency, get_currency_precision

DEFAULT_LOCALE = "en_GB"
_current = contextvars.ContextVar("locale", default=DEFAULT_LOCALE)


@functools.lru_cache(maxsize=256)  # asked once per message rendered
def locale_for(language: str | None) -> str:
    """The Babel locale a message language is written with: en -> en_GB (the house style),
    de-AT -> de_AT, fr -> fr; a language CLDR does not know -> en_GB."""
    if not language or language == "en":
        return DEFAULT_LOCALE
    candidate = language.replace("-", "_")
    try:
        Locale.parse(candidate)
    except (ValueError, UnknownLocaleError):
        return DEFAULT_LOCALE
    return candidate


def current_locale() -> str:
    return _current.get()


@contextmanager
def writing_in(language: str | None) -> Iterator[None]:
    """Within the block, money and times are formatted for `language` unless a locale is given."""
    token = _current.set(locale_for(language))
    try:
        yield
    finally:
        _current.reset(token)


def money(minor: int, currency: str, *, locale: str | None = None) -> str:
    """An amount in minor units as the locale writes it: money(4800, "GBP") -> "£48.00"."""
    locale = locale or _current.get()
    code = currency.upper()
    amount = Decimal(minor).scaleb(-get_currency_precision(code))
    return format_currency(amount, code, locale=locale)


def local(value: datetime | str, timezone: str | None = None) -> datetime:
    """An instant (a datetime with its offset, or ISO 8601 text) in `timezone` (IANA name), or at the
    offset it carries when no zone is given."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset: it is not an instant")
    return instant.astimezone(ZoneInfo(timezone)) if timezone else instant


def _zone_suffix(at: datetime, timezone: str | None) -> str:
    # The zone's own abbreviation (GMT, BST, EST, NZDT), which tzdata knows for every zone; CLDR's
    # short names vary by locale ("Eastern Standard Time" in en_GB).
    return f" {at.tzname()}" if timezone and at.tzname() else ""


def when(value: datetime | str, timezone: str | None = None, *, locale: str | None = None) -> str:
    """An instant as a person there reads it: "Tue 8 Dec 2026, 09:30 GMT" in `timezone`, or without the
    zone at the offset the value carries when no zone is given."""
    locale = locale or _current.get()
    at = local(value, timezone)
    return format_datetime(at, "EEE d MMM y, HH:mm", tzinfo=at.tzinfo, locale=locale) + _zone_suffix(at, timezone)


def span(start: datetime | str, end: datetime | str, timezone: str | None = None, *,
         locale: str | None = None) -> str:
    """"Tue 8 Dec 2026, 09:30–11:00 GMT" for a same-day span, both ends in full otherwise."""
    locale = locale or _current.get()
    first, last = local(start, timezone), local(end, timezone)
    if first.date() != last.date():
        return f"{when(first, timezone, locale=locale)} – {when(last, timezone, locale=locale)}"
    head = format_datetime(first, "EEE d MMM y, HH:mm", tzinfo=first.tzinfo, locale=locale)
    tail = format_datetime(last, "HH:mm", tzinfo=last.tzinfo, locale=locale)
    return f"{head}–{tail}{_zone_suffix(last, timezone)}"


def day_and_time(value: datetime | str, timezone: str | None = None, *,
                 locale: str | None = None) -> tuple[str, str]:
    """("Tuesday 3 March 2026", "10:00 GMT"): the long date and the time of day, for sentences."""
    locale = locale or _current.get()
    at = local(value, timezone)
    return (format_datetime(at, "EEEE d MMMM y", tzinfo=at.tzinfo, locale=locale),
            format_datetime(at, "HH:mm", tzinfo=at.tzinfo, locale=locale) + _zone_suffix(at, timezone))
