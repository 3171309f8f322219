"""Every festival over several years against the kept libraries: the statutory ones against the
``holidays`` China calendar, the lunar ones against ``lunardate`` and, where the statutory
calendar has them too, against it; statutory days and make-up working days from ``holidays``."""
from datetime import date

import holidays
import pytest
from lunardate import LunarDate

from mcrm.care.calendar import FESTIVALS, festival_date, lunar_birthdays_on, statutory_days

YEARS = range(2020, 2031)
#: the festivals the statutory calendar names, and its names for them
STATUTORY = {"spring": "春节", "qingming": "清明节", "dragon_boat": "端午节", "mid_autumn": "中秋节",
             "new_year": "元旦", "labour_day": "劳动节", "national_day": "国庆节"}


def first_named(year: int, name: str) -> date:
    calendar = holidays.China(years=year, language="zh_CN", categories=("public", "half_day"))
    return min(day for day, names in calendar.items() if name in names.split("; "))


@pytest.mark.parametrize("code,name", STATUTORY.items())
def test_a_statutory_festival_falls_where_the_china_calendar_has_it(code, name):
    for year in YEARS:
        assert festival_date(code, year) == first_named(year, name), year


def test_womens_day_is_the_half_day_holiday_of_the_china_calendar():
    for year in YEARS:
        assert festival_date("womens_day", year) == first_named(year, "国际妇女节")


@pytest.mark.parametrize("festival", [f for f in FESTIVALS if f.lunar], ids=lambda f: f.code)
def test_a_lunar_festival_is_its_lunar_day_of_the_year(festival):
    for year in YEARS:
        found = festival_date(festival.code, year)
        lunar = LunarDate.from_solar_date(found.year, found.month, found.day)
        assert (found.year, lunar.month, lunar.day, lunar.is_leap_month) == (year, *festival.lunar, False)


def test_every_festival_has_a_date_every_year():
    assert all(festival_date(f.code, year) for f in FESTIVALS for year in YEARS)


def test_a_leap_month_day_holds_no_lunar_birthday():
    assert lunar_birthdays_on(LunarDate(2025, 6, 10, True).to_solar_date()) is None
    assert lunar_birthdays_on(LunarDate(2025, 6, 10).to_solar_date()) == (6, [10])


def test_statutory_days_show_holidays_and_make_up_working_days():
    days = statutory_days(date(2026, 2, 10), date(2026, 2, 28))
    workdays = [d.day for d in days if d.is_workday]
    assert workdays == sorted(day for day in holidays.China(years=2026).weekend_workdays
                              if date(2026, 2, 10) <= day <= date(2026, 2, 28))
    assert workdays
    assert any(d.name == "春节" for d in days)
