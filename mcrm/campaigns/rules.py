"""When a campaign sends: the occasions of a recurrence, in the merchant's local time. Pure."""
import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def _occurrence(anchor: datetime, recurrence: str, n: int) -> datetime:
    """The ``n``-th occasion after ``anchor`` (local, aware): same local time; same weekday for
    weekly; same day of the month for monthly, or the month's last day when it is shorter."""
    if recurrence == "daily":
        day = anchor.date() + timedelta(days=n)
    elif recurrence == "weekly":
        day = anchor.date() + timedelta(weeks=n)
    else:
        months = anchor.month - 1 + n
        year, month = anchor.year + months // 12, months % 12 + 1
        day = date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))
    return datetime.combine(day, anchor.timetz().replace(tzinfo=None), tzinfo=anchor.tzinfo)


def next_occurrence(first: datetime, recurrence: str, after: datetime, zone: ZoneInfo) -> datetime | None:
    """The first occasion of a campaign first sent at ``first`` that comes strictly after ``after``
    (None for a one-off). Occasions missed while nothing ran are skipped, not sent in a burst."""
    if recurrence == "once":
        return None
    anchor = first.astimezone(zone)
    step = {"daily": 1, "weekly": 7, "monthly": 31}[recurrence]
    # a first guess from the days elapsed, then walk: a few steps at most
    n = max(0, (after - first).days // step - 1)
    while (moment := _occurrence(anchor, recurrence, n)) <= after:
        n += 1
    return moment.astimezone(first.tzinfo)
