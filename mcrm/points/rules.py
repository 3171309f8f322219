"""Points maths: earning, expiry dates, first-in-first-out expiry, tiers. Pure: no db, no clock."""
import calendar
import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from mcrm.core.errors import ValidationError
from mcrm.core.recurrence import add_months

MONTHS = "months"
CYCLE_END = "cycle_end"
NEVER = "never"


def earn_points(amount, rate) -> int:
    """Points for a purchase: amount x rate, rounded down to whole points."""
    amount = Decimal(str(amount))
    if amount <= 0:
        raise ValidationError("Purchase amount must be more than 0")
    if amount > Decimal("10000000"):
        raise ValidationError("Purchase amount is not plausible")
    return int((amount * Decimal(str(rate))).to_integral_value(rounding=ROUND_FLOOR))


def parse_amount(text) -> Decimal:
    """A yuan amount as typed: '88', '88.5', '¥1,288.00'."""
    cleaned = str(text).strip().replace(",", "").replace("，", "").lstrip("¥￥").removesuffix("元")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationError("Not an amount: %(text)r", text=text) from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        raise ValidationError("Not an amount: %(text)r", text=text)
    return amount


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


@dataclass(frozen=True)
class ExpiryRule:
    policy: str = MONTHS
    months: int = 12
    #: the month whose end ends a points cycle (11: cycles run December to November)
    cycle_end_month: int = 11
    timezone: str = "Asia/Shanghai"

    def expires_at(self, earned_at: datetime) -> datetime | None:
        """When points earned at ``earned_at`` lapse (an aware datetime), or None for never.

        Months count on the merchant's calendar: earned on 31 January local time, one month later
        is 28 February there, whatever day it was in UTC. At the cycle end, points lapse when the
        cycle *after* the one they were earned in ends, so points earned on the cycle's last day
        still have a whole cycle to be spent.
        """
        if self.policy == NEVER:
            return None
        zone = ZoneInfo(self.timezone)
        local = earned_at.astimezone(zone)
        if self.policy == MONTHS:
            return add_months(local, self.months).astimezone(earned_at.tzinfo)
        earning_cycle_ends = local.year if local.month <= self.cycle_end_month else local.year + 1
        year = earning_cycle_ends + 1
        last_day = date(year, self.cycle_end_month, calendar.monthrange(year, self.cycle_end_month)[1])
        return _midnight(last_day + timedelta(days=1), zone)


def expirable(lots: list[tuple[datetime | None, int]], debits: int, now: datetime) -> int:
    """Points to expire now, first in, first out.

    ``lots`` are the positive entries (expiry time or None, points); ``debits`` is everything
    taken so far (redeemed, expired, negative adjustments). Debits use up the soonest-expiring
    points first, so what lapses is what expired lots hold beyond the debits. Because earlier
    expiries count as debits, a second run expires nothing more.
    """
    expired = sum(points for expires, points in lots if expires is not None and expires <= now)
    return max(0, expired - debits)


def expiring_by(lots: list[tuple[datetime | None, int]], debits: int, until: datetime) -> int:
    """Points that will have lapsed by ``until`` if nothing more is spent (for 'expiring soon')."""
    return expirable(lots, debits, until)


#: tier score bases: the spend of the previous calendar year, or of the last 12 months
LAST_YEAR = "last_year"
ROLLING_12_MONTHS = "rolling_12_months"


def tenure_years(joined: date, today: date) -> int:
    """Whole years of membership on ``today``: one more on each anniversary day (a 29 February
    member's falls on 28 February in other years)."""
    anniversary = (joined.month, joined.day)
    if anniversary == (2, 29) and not calendar.isleap(today.year):
        anniversary = (2, 28)
    return max(0, today.year - joined.year - ((today.month, today.day) < anniversary))


def _last_reached(value: int, steps, default):
    """The outcome of the highest (step, outcome) that ``value`` reaches; ``steps`` sorted by step."""
    reached = default
    for step, outcome in steps:
        if value < step:
            break
        reached = outcome
    return reached


def _bonus_steps(bonus_table: list) -> list:
    return sorted((int(years), int(bonus)) for years, bonus in bonus_table)


def _tier_steps(thresholds: list) -> list:
    return sorted((int(score), name) for name, score in thresholds)


def tenure_bonus(joined_at: datetime, now: datetime, bonus_table: list) -> int:
    """The bonus of the longest membership reached. ``joined_at`` and ``now`` are in the merchant's
    time zone: their days are compared, so the bonus starts on the anniversary day itself."""
    return _last_reached(tenure_years(joined_at.date(), now.date()), _bonus_steps(bonus_table), 0)


def tier_for(score: int, thresholds: list) -> str:
    """The highest tier whose threshold the score reaches."""
    return _last_reached(score, _tier_steps(thresholds), "")


class TierScore(NamedTuple):
    """A member's tier score and its two parts (a tuple: the monthly job makes one per member)."""
    #: whole yuan spent in the rule's window (spend, not points: the points rate does not count)
    spend: int
    bonus: int

    @property
    def total(self) -> int:
        return self.spend + self.bonus


@dataclass(frozen=True)
class TierRule:
    """Tier score = yuan spent in a window + the tenure bonus; the tier is the highest threshold reached."""
    thresholds: list
    bonus_table: list
    basis: str = LAST_YEAR
    timezone: str = "Asia/Shanghai"

    def spend_window(self, now: datetime) -> tuple[datetime, datetime]:
        """The purchases that count at ``now``: made from the first instant to before the second.

        The previous calendar year runs 1 January to 31 December, local time; the rolling 12 months
        are the whole local days of the last 12 months, today included, so a purchase counts at once.
        """
        zone = self._zone
        today = now.astimezone(zone).date()
        if self.basis == ROLLING_12_MONTHS:
            tomorrow = today + timedelta(days=1)
            return _midnight(add_months(tomorrow, -12), zone), _midnight(tomorrow, zone)
        return _midnight(date(today.year - 1, 1, 1), zone), _midnight(date(today.year, 1, 1), zone)

    # worked out once per rule: the monthly job scores every member with one rule
    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _bonuses(self) -> list:
        return _bonus_steps(self.bonus_table)

    @cached_property
    def _tiers(self) -> list:
        return _tier_steps(self.thresholds)

    def score(self, spend, joined_at: datetime, now: datetime) -> TierScore:
        """The score at ``now`` of a member who joined at ``joined_at`` and spent ``spend`` yuan in the
        window (whole yuan count: the score is an integer)."""
        years = tenure_years(joined_at.astimezone(self._zone).date(), now.astimezone(self._zone).date())
        return TierScore(spend=math.floor(spend), bonus=_last_reached(years, self._bonuses, 0))

    def tier_for(self, score: TierScore) -> str:
        return _last_reached(score.total, self._tiers, "")
