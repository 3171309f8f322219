"""Capped exponential back-off between reconnects (SMPP_RECONNECT_MIN_SECS / _MAX_SECS). Pure.

A refused bind, an unreachable SMSC, a lost link and a store that is still starting all wait the
same way: the first delay, then twice as long each time, never longer than the cap, and back to the
first delay once a connection works. An SMSC that is down is then not hammered, and one that comes
back is found within the cap.
"""
from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Delays ``first``, ``2 * first``, ``4 * first``, … up to ``cap``; ``reset()`` starts over."""

    def __init__(self, first: float, cap: float) -> None:
        if first <= 0 or cap < first:
            raise ValueError("need 0 < first <= cap")
        self.first = first
        self.cap = cap
        self._next = first

    def next_delay(self) -> float:
        """The delay to wait now; the one after it is doubled (up to the cap)."""
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        """A connection worked: the next failure waits the first delay again."""
        self._next = self.first
