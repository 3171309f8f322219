"""Birthdays as people type them: solar dates, or lunar month/day. Pure."""
import re
from dataclasses import dataclass
from datetime import date

from lunardate import LunarDate

from mcrm.core.errors import ValidationError

#: stands in for an unknown birth year; a leap year, so 29 February stays valid
UNKNOWN_YEAR = 1904

_LUNAR_PREFIX = re.compile(r"^(农历|阴历|NL|nl|Nl|nL)\s*")


@dataclass(frozen=True)
class Birthday:
    solar: date | None = None        # for a solar birthday
    year_known: bool = True
    lunar_month: int | None = None   # for a lunar birthday
    lunar_day: int | None = None

    @property
    def is_lunar(self) -> bool:
        return self.lunar_month is not None

    @property
    def month(self) -> int:
        return self.lunar_month if self.is_lunar else self.solar.month

    @property
    def day(self) -> int:
        return self.lunar_day if self.is_lunar else self.solar.day

    def display(self) -> str:
        if self.is_lunar:
            return f"农历{self.lunar_month:02d}{self.lunar_day:02d}"
        if self.year_known:
            return self.solar.isoformat()
        return self.solar.strftime("%m-%d")


def parse_birthday(text: str, *, today: date | None = None) -> Birthday:
    """``19900315``, ``1990-03-15``, ``1990/3/15``, ``0315`` (no year), ``农历0815``, ``NL0815``."""
    raw = (text or "").strip()
    if not raw:
        raise ValidationError("Birthday is empty")
    lunar = _LUNAR_PREFIX.match(raw)
    if lunar:
        digits = raw[lunar.end():].strip()
        month, day = _month_day(digits, raw)
        if not (1 <= month <= 12 and 1 <= day <= 30):
            raise ValidationError("Not a lunar month and day: %(raw)r", raw=raw)
        return Birthday(lunar_month=month, lunar_day=day, year_known=False)
    match = re.fullmatch(r"(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?", raw)
    if match and (len(raw) != 8 or raw.isdigit()):
        year, month, day = (int(g) for g in match.groups())
        if raw.isdigit() and len(raw) != 8:
            raise ValidationError("Not a date: %(raw)r (write YYYYMMDD, YYYY-MM-DD or MMDD)", raw=raw)
        solar = _date(year, month, day, raw)
        if today is not None and not (today.year - 120 <= solar.year and solar <= today):
            raise ValidationError("Birthday %(raw)r is not a plausible date of birth", raw=raw)
        return Birthday(solar=solar)
    month, day = _month_day(raw, raw)
    return Birthday(solar=_date(UNKNOWN_YEAR, month, day, raw), year_known=False)


def _month_day(digits: str, raw: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{2})(\d{2})|(\d{1,2})[-/.月](\d{1,2})日?", digits)
    if not match:
        raise ValidationError("Not a date: %(raw)r (write YYYYMMDD, YYYY-MM-DD or MMDD)", raw=raw)
    groups = [g for g in match.groups() if g is not None]
    return int(groups[0]), int(groups[1])


def _date(year: int, month: int, day: int, raw: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValidationError("No such date: %(raw)r", raw=raw) from None


def solar_birthday_in_year(birthday: Birthday, year: int) -> date | None:
    """The solar date the birthday falls on in ``year``.

    Solar 29 February is kept on 28 February in common years. A lunar birthday on the 30th of a
    month that has only 29 days that year falls on the 29th; None when the lunar date cannot be
    placed in that solar year at all.
    """
    if not birthday.is_lunar:
        month, day = birthday.solar.month, birthday.solar.day
        if month == 2 and day == 29 and not _is_leap(year):
            day = 28
        return date(year, month, day)
    for lunar_year in (year - 1, year):
        for day in (birthday.lunar_day, birthday.lunar_day - 1):
            try:
                solar = LunarDate(lunar_year, birthday.lunar_month, day).to_solar_date()
            except ValueError:
                continue
            if solar.year == year:
                return solar
            break
    return None


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
