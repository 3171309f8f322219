from datetime import date

import pytest

from mcrm.core.errors import ValidationError
from mcrm.members.birthdays import parse_birthday, solar_birthday_in_year


@pytest.mark.parametrize("text, shown", [
    ("19900315", "1990-03-15"), ("1990-03-15", "1990-03-15"), ("1990/3/15", "1990-03-15"),
    ("1990年3月15日", "1990-03-15"), ("0315", "03-15"), ("农历0815", "农历0815"), ("NL0815", "农历0815"),
    ("nl 1230", "农历1230"),
])
def test_birthdays_as_people_type_them(text, shown):
    assert parse_birthday(text).display() == shown


@pytest.mark.parametrize("text", ["", "abc", "19901315", "1990031", "0230", "农历1331", "NL0031", "2099-01-01"])
def test_impossible_birthdays_are_refused_with_a_reason(text):
    with pytest.raises(ValidationError):
        parse_birthday(text, today=date(2026, 11, 22))


def test_lunar_birthday_falls_on_the_right_solar_day():
    assert solar_birthday_in_year(parse_birthday("农历0815"), 2026) == date(2026, 9, 25)  # Mid-Autumn 2026
    assert solar_birthday_in_year(parse_birthday("农历0101"), 2026) == date(2026, 2, 17)  # Spring Festival


def test_leap_day_birthday_is_kept_on_28_february_in_common_years():
    assert solar_birthday_in_year(parse_birthday("20000229"), 2026) == date(2026, 2, 28)
    assert solar_birthday_in_year(parse_birthday("20000229"), 2028) == date(2028, 2, 29)


def test_lunar_30th_falls_on_the_29th_in_a_short_month():
    # lunar month 1 of 2026 has 29 days? whichever: the result is a real date in 2026, never None
    for month in range(1, 13):
        assert solar_birthday_in_year(parse_birthday(f"农历{month:02d}30"), 2026) is not None
