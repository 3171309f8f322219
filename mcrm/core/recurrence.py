"""When a repeating thing happens: daily, weekly and monthly occurrences in a local time zone. Pure.

Campaigns and agenda items both repeat by these rules. An occurrence keeps the first one's local
time of day (across a daylight-saving change too); weekly keeps the weekday; monthly keeps the day of
the month, or the month's last day when the month is shorter (the 31st happens on 30 April and on
28 or 29 February), and returns to the 31st in the months that have one.
"""
import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: the repeat rules, each with its longest step in days: a walk towards a moment starts from
#: (days elapsed // step - 1) steps, which is never past the moment
STEP_DAYS = {"daily": 1, "weekly": 7, "monthly": 31}


def add_months(moment, months: int):
    """``moment`` (a date or datetime) ``months`` later, on the month's last day where it is shorter."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def occurrence(anchor: datetime, repeat: str, n: int) -> datetime:
    """The ``n``-th occurrence after ``anchor`` (local, aware; ``n`` = 0 is the anchor itself)."""
    if repeat == "daily":
        day = anchor.date() + timedelta(days=n)
    elif repeat == "weekly":
        day = anchor.date() + timedelta(weeks=n)
    elif repeat == "monthly":
        day = add_months(anchor.date(), n)
    else:
        raise ValueError(f"unknown repeat rule {repeat!r}")
    # the wall-clock time, not the elapsed hours: 09:00 stays 09:00 when the clocks move
    return datetime.combine(day, anchor.time(), tzinfo=anchor.tzinfo)


def _walk_from(first: datetime, repeat: str, since: datetime) -> int:
    """A step number whose occurrence is at or before ``since`` (or 0): where a walk may start."""
    return max(0, (since - first).days // STEP_DAYS[repeat] - 1)


def occurrences_between(first: datetime, repeat: str | None, start: datetime, end: datetime,
                        zone: ZoneInfo) -> list[datetime]:
    """Every occurrence in ``[start, end)``, in ``zone``, of a thing first at ``first``
    (``repeat`` None: it happens once)."""
    anchor = first.astimezone(zone)
    # compared in UTC: two times of one zone compare by the wall clock, wrong around a DST change
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if repeat is None:
        return [anchor] if start <= anchor < end else []
    found = []
    n = _walk_from(first, repeat, start)
    while (moment := occurrence(anchor, repeat, n)) < end:
        if moment >= start:
            found.append(moment)
        n += 1
    return found


def next_occurrence(first: datetime, repeat: str | None, since: datetime, zone: ZoneInfo, *,
                    strictly: bool = False) -> datetime | None:
    """The first occurrence at or after ``since`` (``strictly``: after it), in ``zone``, or None
    when there is none. Occurrences that passed while nothing looked are skipped, not caught up."""
    anchor = first.astimezone(zone)
    since = since.astimezone(UTC)    # as in occurrences_between

    def ahead(moment: datetime) -> bool:
        return moment > since if strictly else moment >= since

    if repeat is None:
        return anchor if ahead(anchor) else None
    n = _walk_from(first, repeat, since)
    while not ahead(moment := occurrence(anchor, repeat, n)):
        n += 1
    return moment
