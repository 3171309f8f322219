"""Points maths: earning, expiry dates, first-in-first-out expiry, tiers. Pure: no db, no clock."""
import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from mcrm.core.errors import ValidationError

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
    except Exception:
        raise ValidationError("Not an amount: %(text)r", text=text) from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        raise ValidationError("Not an amount: %(text)r", text=text)
    return amount


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class ExpiryRule:
    policy: str = MONTHS
    months: int = 12
    cycle_end_month: int = 12
    timezone: str = "Asia/Shanghai"

    def expires_at(self, earned_at: datetime) -> datetime | None:
        """When points earned at ``earned_at`` lapse (an aware datetime), or None for never."""
        if self.policy == NEVER:
            return None
        if self.policy == MONTHS:
            return add_months(earned_at, self.months)
        # cycle end: the first end of ``cycle_end_month`` on or after the earning day, local time
        zone = ZoneInfo(self.timezone)
        local_day = earned_at.astimezone(zone).date()
        year = local_day.year if local_day.month <= self.cycle_end_month else local_day.year + 1
        last_day = date(year, self.cycle_end_month, calendar.monthrange(year, self.cycle_end_month)[1])
        return datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)


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


def tenure_bonus(joined_at: datetime, now: datetime, bonus_table: list) -> int:
    years = (now - joined_at).days / 365.25
    bonus = 0
    for min_years, points in sorted(bonus_table):
        if years >= min_years:
            bonus = points
    return bonus


def tier_for(score: int, thresholds: list) -> str:
    """The highest tier whose threshold the score reaches."""
    tier = ""
    for name, threshold in sorted(thresholds, key=lambda t: t[1]):
        if score >= threshold:
            tier = name
    return tier
