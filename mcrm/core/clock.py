"""The one place that reads the wall clock; services take ``now`` as an argument instead.

Long-lived objects (the scheduler) take a ``Clock``, a function returning the current aware time:
``now_utc`` in production, a ``ManualClock`` in tests, so time is injected, never patched.
"""
from datetime import datetime, timedelta, UTC
from collections.abc import Callable

#: the merchants' default zone, and the zone the periodic jobs' times are written in
DEFAULT_TIMEZONE = "Asia/Shanghai"

Clock = Callable[[], datetime]


def now_utc() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until it is moved: ``clock()`` is ``at`` until ``advance`` or ``set``."""

    def __init__(self, at: datetime):
        self.set(at)

    def __call__(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware datetime")
        self._now = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now
