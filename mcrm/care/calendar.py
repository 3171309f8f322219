"""Which days are whose: festivals, lunar birthdays, statutory holidays. Pure (no db, no clock).

Dates come from the kept libraries, never from a table typed in here: ``lunardate`` converts lunar
dates (春节, 元宵, 端午, 七夕, 中秋, 重阳 and lunar birthdays), the ``holidays`` package's China
calendar gives 清明 (a solar term) and the statutory holidays and make-up working days. The fixed
festivals are a rule (the same month and day every year), not a table of dates.
"""
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays
from lunardate import LunarDate


@dataclass(frozen=True)
class Festival:
    code: str
    #: its Chinese name (the console shows it; docs/care.md lists them all)
    name: str
    #: lunar month and day, or solar month and day for a fixed one; None for 清明
    lunar: tuple[int, int] | None = None
    solar: tuple[int, int] | None = None


FESTIVALS = (
    Festival("spring", "春节", lunar=(1, 1)),
    Festival("lantern", "元宵", lunar=(1, 15)),
    Festival("qingming", "清明"),
    Festival("dragon_boat", "端午", lunar=(5, 5)),
    Festival("qixi", "七夕", lunar=(7, 7)),
    Festival("mid_autumn", "中秋", lunar=(8, 15)),
    Festival("double_ninth", "重阳", lunar=(9, 9)),
    Festival("new_year", "元旦", solar=(1, 1)),
    Festival("valentines", "情人节", solar=(2, 14)),
    Festival("womens_day", "妇女节", solar=(3, 8)),
    Festival("labour_day", "劳动节", solar=(5, 1)),
    Festival("childrens_day", "儿童节", solar=(6, 1)),
    Festival("national_day", "国庆", solar=(10, 1)),
    Festival("christmas", "圣诞", solar=(12, 25)),
)
FESTIVALS_BY_CODE = {festival.code: festival for festival in FESTIVALS}
#: the name the ``holidays`` China calendar gives 清明
_QINGMING = "清明节"


@lru_cache(maxsize=64)
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year, language="zh_CN")


def festival_date(code: str, year: int) -> date | None:
    """The solar date of festival ``code`` in ``year`` (None when the library has no date for it)."""
    festival = FESTIVALS_BY_CODE[code]
    if festival.solar is not None:
        return date(year, *festival.solar)
    if festival.lunar is not None:
        try:
            return LunarDate(year, *festival.lunar).to_solar_date()
        except ValueError:
            return None
    return next((day for day, name in _china(year).items() if name == _QINGMING), None)


def lunar_birthdays_on(day: date) -> tuple[int, list[int]] | None:
    """The lunar (month, days) whose birthdays fall on solar ``day``: its own lunar month and day,
    and the 30th too when ``day`` is the 29th of a month that has no 30th that year. None in a leap
    month: a lunar birthday is kept in the ordinary month of its number, never in the leap one."""
    lunar = LunarDate.from_solar_date(day.year, day.month, day.day)
    if lunar.is_leap_month:
        return None
    days = [lunar.day]
    if lunar.day == 29:
        following = LunarDate.from_solar_date(*(day + timedelta(days=1)).timetuple()[:3])
        if following.day == 1:
            days.append(30)
    return lunar.month, days


def lunar_year_of(day: date) -> int:
    """The lunar year ``day`` falls in (a lunar birthday's year: one greeting per lunar year)."""
    return LunarDate.from_solar_date(day.year, day.month, day.day).year


def solar_birthdays_on(day: date) -> list[int]:
    """The days of ``day``'s month whose solar birthdays fall on it: 29 February is kept on
    28 February in a common year."""
    if (day.month, day.day) == (2, 28) and (day + timedelta(days=1)).month == 3:
        return [28, 29]
    return [day.day]


@dataclass(frozen=True)
class StatutoryDay:
    day: date
    name: str
    #: a weekend day worked instead of a holiday (调休 make-up working day)
    is_workday: bool


def statutory_days(start: date, end: date) -> list[StatutoryDay]:
    """China's statutory holidays and make-up working days from ``start`` to ``end`` inclusive."""
    found = []
    for year in range(start.year, end.year + 1):
        calendar = _china(year)
        found += [StatutoryDay(day, name, False) for day, name in calendar.items() if start <= day <= end]
        found += [StatutoryDay(day, "调休上班", True) for day in calendar.weekend_workdays
                  if start <= day <= end]
    return sorted(found, key=lambda statutory: statutory.day)
