"""Token bucket for the submit rate (SMPP_TPS). Pure: the clock is injected, nothing sleeps.

The worker asks ``take()`` before each submit_sm and, when it gets False, uses ``wait_time()`` as its
select() timeout, so the loop never sleeps per message. ``pause()`` empties the bucket for a while,
which is how the worker backs off after the SMSC says ESME_RTHROTTLED.
"""
from __future__ import annotations

from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored. ``rate`` 0 means unlimited.

    The default burst is a tenth of a second's worth (at least 1), so a rate is spread evenly over
    the second instead of going out in one lump that an SMSC counting per wall-clock second would
    partly reject.
    """

    def __init__(self, rate: float, clock: Callable[[], float], burst: float | None = None) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate / 10.0)
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()
        self._paused_until = float("-inf")

    @property
    def unlimited(self) -> bool:
        return self.rate == 0

    def _refill(self, now: float) -> None:
        if now > self._last:
            start = max(self._last, self._paused_until)
            if now > start:
                self._tokens = min(self.burst, self._tokens + (now - start) * self.rate)
            self._last = now

    def available(self) -> float:
        """Tokens that could be taken now (infinite when unlimited)."""
        now = self._clock()
        if now < self._paused_until:
            return 0.0
        if self.unlimited:
            return float("inf")
        self._refill(now)
        return self._tokens

    def take(self, n: int = 1) -> bool:
        """Consume ``n`` tokens if they are all there."""
        now = self._clock()
        if now < self._paused_until:
            return False
        if self.unlimited:
            return True
        self._refill(now)
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def wait_time(self, n: int = 1) -> float:
        """Seconds until ``n`` tokens will be available (0 if they are now)."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if self.unlimited:
            return 0.0
        self._refill(now)
        missing = min(n, self.burst) - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def pause(self, seconds: float) -> None:
        """Hand out nothing for ``seconds`` and start again from an empty bucket."""
        now = self._clock()
        if not self.unlimited:
            self._refill(now)
        self._tokens = 0.0
        self._paused_until = max(self._paused_until, now + seconds)
        self._last = max(self._last, now)
