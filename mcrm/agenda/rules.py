"""When an agenda item happens: its occurrences in the merchant's local time. Pure.

A repeating item keeps its local time of day; weekly keeps the weekday, monthly the day of the
month, or the month's last day when the month is shorter (an item on the 31st happens on 30 April).
"""
import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

#: the smallest step of each repeat rule in days, to guess how many steps lie before a moment
_STEP_DAYS = {"daily": 1, "weekly": 7, "monthly": 31}


def occurrence(anchor: datetime, repeat: str, n: int) -> datetime:
    """The ``n``-th occurrence after ``anchor`` (local, aware; ``n`` = 0 is the anchor itself)."""
    if repeat == "daily":
        day = anchor.date() + timedelta(days=n)
    elif repeat == "weekly":
        day = anchor.date() + timedelta(weeks=n)
    elif repeat == "monthly":
        months = anchor.month - 1 + n
        year, month = anchor.year + months // 12, months % 12 + 1
        day = date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))
    else:
        return anchor
    return datetime.combine(day, anchor.time(), tzinfo=anchor.tzinfo)


def _first_step(first: datetime, repeat: str, since: datetime) -> int:
    """A step number whose occurrence is at or before ``since`` (or 0): where a walk may start."""
    return max(0, (since - first).days // _STEP_DAYS[repeat] - 1)


def occurrences_between(first: datetime, repeat: str, start: datetime, end: datetime,
                        zone: ZoneInfo) -> list[datetime]:
    """Every occurrence in ``[start, end)``, in ``zone``, of an item first at ``first``."""
    anchor = first.astimezone(zone)
    if repeat == "none":
        return [anchor] if start <= anchor < end else []
    found = []
    n = _first_step(first, repeat, start)
    while (moment := occurrence(anchor, repeat, n)) < end:
        if moment >= start:
            found.append(moment)
        n += 1
    return found


def next_occurrence(first: datetime, repeat: str, since: datetime, zone: ZoneInfo) -> datetime | None:
    """The first occurrence at or after ``since`` (in ``zone``), or None when there is none."""
    anchor = first.astimezone(zone)
    if repeat == "none":
        return anchor if anchor >= since else None
    n = _first_step(first, repeat, since)
    while (moment := occurrence(anchor, repeat, n)) < since:
        n += 1
    return moment
