"""MOs an SMSC delivers twice after a lost link.

SMPP 3.4 gives an MO no id. When the link dies just after we stored an MO and answered ESME_ROK,
the SMSC cannot tell whether the answer arrived, and delivers the MO again after we rebind: without
this, a staff member's ``XF 13800138000 88`` would award the points twice.

:class:`RedeliveryGuard` remembers what the session acknowledged lately (for as long as a dead link
can go unnoticed: an enquire_link interval plus its response timeout). When the link is lost, those
MOs are *in doubt* for ``SMPP_MO_REDELIVERY_SECS``; the first equal MO (same handset, service number,
data coding and octets) in that time is the redelivery, acknowledged and not stored again. Only the
same text from the same number sent again right after an outage could be taken for one, and its
first copy was stored and answered. Parts of a concatenated MO need none of this: the store keeps
each part once (``MessageStore.save_inbound_part``). The memory is the process's own: a copy the SMSC
hands to another gateway process, or one that follows a crash of this one, is stored again.
"""
from __future__ import annotations

import collections
from collections.abc import Callable, Hashable

__all__ = ["RedeliveryGuard"]


class RedeliveryGuard:
    def __init__(self, doubt_secs: float, hold_secs: float, clock: Callable[[], float]) -> None:
        self.doubt_secs = doubt_secs
        self.hold_secs = hold_secs
        self.clock = clock
        self._acked: collections.deque[tuple[float, Hashable]] = collections.deque()   # (when, key)
        self._until: collections.deque[tuple[float, Hashable]] = collections.deque()   # (expiry, key)
        self._in_doubt: collections.Counter[Hashable] = collections.Counter()

    def acknowledged(self, key: Hashable) -> None:
        """An MO was stored and ESME_ROK is going out on the current link."""
        if not self.hold_secs:
            return
        now = self.clock()
        self._acked.append((now, key))
        while self._acked and self._acked[0][0] < now - self.doubt_secs:
            self._acked.popleft()

    def link_lost(self) -> None:
        """The link died: what it acknowledged lately may not have reached the SMSC."""
        now = self.clock()
        for when, key in self._acked:
            if when >= now - self.doubt_secs:
                self._until.append((now + self.hold_secs, key))
                self._in_doubt[key] += 1
        self._acked.clear()

    def is_redelivery(self, key: Hashable) -> bool:
        """Whether this MO is the SMSC's second copy of one in doubt (which it then stops being)."""
        if not self._in_doubt:
            return False
        now = self.clock()
        while self._until and self._until[0][0] <= now:
            _expiry, old = self._until.popleft()
            if self._in_doubt[old] > 0:
                self._in_doubt[old] -= 1
            if not self._in_doubt[old]:
                del self._in_doubt[old]
        if not self._in_doubt.get(key):
            return False
        self._in_doubt[key] -= 1
        if not self._in_doubt[key]:
            del self._in_doubt[key]
        return True
