"""Phone numbers in E.164, in Postgres (routines/platform/phone_numbers.sql): the SQL twin of
shared/providers/sms.py::to_e164, so consent, alerts and campaigns compare numbers however typed."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from shared.providers.sms import to_e164


@pytest.mark.parametrize(("typed", "region", "e164"), [
    ("07400 123456", "GB", "+447400123456"),
    ("+44 7400 123456", "GB", "+447400123456"),
    ("+44 (0)7400 123456", "GB", "+447400123456"),  # the (0) habit
    ("0044 7400 123456", "US", "+447400123456"),   # international forms ignore the region
    ("020 7946 0018", "GB", "+442079460018"),
    ("087 123 4567", "IE", "+353871234567"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("030 123456", "DE", "+4930123456"),
    ("06 6982 1234", "IT", "+390669821234"),      # Italy keeps its leading 0
    ("(201) 555-0123", "US", "+12015550123"),
    ("1 201 555 0123", "US", "+12015550123"),     # the US trunk 1 goes
    ("12345", "GB", None),                        # too short for any UK number
    ("07400 1234567", "GB", None),                # a digit long
    ("call me", "GB", None),
    ("07400 123456 ext 2", "GB", None),
    ("", "GB", None),
    (None, "GB", None),
    ("07400 123456", "ZZ", None),                 # no such region
    ("0800 123 4567", "JP", None),                # JP needs a prefix rule we do not model: international only
    ("+81 3 1234 5678", "JP", "+81312345678"),
])
def test_numbers_as_typed(db, typed, region, e164):
    assert db.value("select private.to_e164(%s, %s)", (typed, region)) == e164


MARKETS = ["GB", "IE", "US", "CA", "FR", "DE", "NL", "BE", "ES", "PT", "IT", "AT", "CH", "SE", "NO", "DK",
           "PL", "AU", "NZ", "AE", "ZA", "IN", "SG"]


@pytest.mark.parametrize("region", MARKETS)
def test_sql_agrees_with_libphonenumber(db, region):
    """The library's example numbers for the markets we serve, typed nationally and internationally."""
    numbers = [n for t in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE)
               if (n := phonenumbers.example_number_for_type(region, t))]
    assert numbers
    for number in numbers:
        for style in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL):
            typed = phonenumbers.format_number(number, style)
            assert db.value("select private.to_e164(%s, %s)", (typed, region)) == to_e164(typed, region), typed
