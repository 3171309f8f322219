"""InMemoryMessageStore: a complete, thread-safe MessageStore kept in process memory.

Used by the gateway's tests, by the sandbox, and by anyone who needs the gateway without a database.
It implements the same semantics the SQL adapter must have (exclusive claims, retry_at, per-part
receipts, orphan receipts), so tests against it say something about the contract.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from .store import (DeliveryReceipt, InboundPart, InboundSms, MessageStatus, OutboundSms, OutboxId,
                    PartResult, SubmitError, join_parts)

__all__ = ["InMemoryMessageStore", "StoredMessage", "StoredPart", "StoreUnavailableError"]


class StoreUnavailableError(RuntimeError):
    """Raised by ``save_inbound`` and ``save_inbound_part`` while ``fail_inbound`` is set (simulates
    a database outage)."""


@dataclass
class StoredPart:
    part_index: int
    total_parts: int
    sequence_number: int
    smsc_message_id: str
    receipt: DeliveryReceipt | None = None


@dataclass
class _PartGroup:
    """The parts of one concatenated MO; ``completed_at`` is set once it was stored as a message."""

    parts: dict[int, InboundPart] = field(default_factory=dict)
    completed_at: datetime | None = None


@dataclass
class StoredMessage:
    id: OutboxId
    sms: OutboundSms
    status: str = MessageStatus.QUEUED
    claim_id: str | None = None
    attempts: int = 0
    retry_at: datetime | None = None
    command_status: int | None = None
    error: str | None = None
    submitted_at: datetime | None = None
    parts: dict[int, StoredPart] = field(default_factory=dict)
    total_parts: int = 0
    claims: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InMemoryMessageStore:
    """MessageStore in memory. Besides the port methods it has ``add_outbound`` (enqueue),
    ``get``/``messages``/``inbound``/``counts`` for inspection, and ``fail_inbound`` to simulate an
    outage of ``save_inbound``."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._messages: dict[OutboxId, StoredMessage] = {}
        self._queued: dict[OutboxId, None] = {}          # insertion-ordered set of QUEUED ids
        self._by_smsc_id: dict[str, tuple[OutboxId, int]] = {}
        self._orphans: dict[str, DeliveryReceipt] = {}
        self._inbound: list[InboundSms] = []
        self._part_groups: dict[tuple[str, str, int, int], _PartGroup] = {}
        self.fail_inbound = False
        self.calls: dict[str, int] = {}
        self.on_enqueue: Callable[[], None] | None = None

    # ------------------------------------------------------------------ host side
    def add_outbound(self, destination_addr: str, text: str, source_addr: str = "10657",
                     want_receipt: bool = True, id: OutboxId | None = None) -> OutboxId:
        """Queue one MT message and return its id."""
        with self._lock:
            msg_id = id if id is not None else next(self._ids)
            if msg_id in self._messages:
                raise ValueError("duplicate outbox id %r" % (msg_id,))
            sms = OutboundSms(msg_id, source_addr, destination_addr, text, want_receipt, 0)
            self._messages[msg_id] = StoredMessage(msg_id, sms)
            self._queued[msg_id] = None
        if self.on_enqueue:
            self.on_enqueue()
        return msg_id

    def get(self, msg_id: OutboxId) -> StoredMessage:
        with self._lock:
            return self._messages[msg_id]

    def messages(self) -> list[StoredMessage]:
        with self._lock:
            return list(self._messages.values())

    def inbound(self) -> list[InboundSms]:
        with self._lock:
            return list(self._inbound)

    def inbound_parts(self) -> list[InboundPart]:
        """Parts kept for reassembly (waiting ones and those of recently finished groups)."""
        with self._lock:
            return [p for g in self._part_groups.values() for p in g.parts.values()]

    def counts(self) -> dict[str, int]:
        """How many messages are in each status."""
        with self._lock:
            out: dict[str, int] = {}
            for m in self._messages.values():
                out[m.status] = out.get(m.status, 0) + 1
            return out

    def orphan_receipts(self) -> list[DeliveryReceipt]:
        with self._lock:
            return list(self._orphans.values())

    # ------------------------------------------------------------------ MessageStore
    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def release_claims(self, worker_id: str) -> int:
        with self._lock:
            self._count("release_claims")
            n = 0
            for m in self._messages.values():
                if m.status == MessageStatus.SENDING and m.claim_id == worker_id:
                    m.status, m.claim_id = MessageStatus.QUEUED, None
                    self._queued[m.id] = None
                    n += 1
            return n

    def claim_outbound(self, worker_id: str, limit: int, now: datetime) -> list[OutboundSms]:
        with self._lock:
            self._count("claim_outbound")
            out: list[OutboundSms] = []
            for msg_id in list(self._queued):
                if len(out) >= limit:
                    break
                m = self._messages[msg_id]
                if m.retry_at is not None and m.retry_at > now:
                    continue
                del self._queued[msg_id]
                m.status, m.claim_id = MessageStatus.SENDING, worker_id
                m.claims += 1
                out.append(replace(m.sms, attempts=m.attempts, accepted_parts=frozenset(m.parts)))
            return out

    def record_parts(self, parts: Sequence[PartResult]) -> None:
        with self._lock:
            self._count("record_parts")
            for p in parts:
                m = self._messages[p.outbox_id]
                old = m.parts.get(p.part_index)
                if old is not None:
                    self._by_smsc_id.pop(old.smsc_message_id, None)
                if m.total_parts != p.total_parts:
                    m.parts = {i: q for i, q in m.parts.items() if q.total_parts == p.total_parts}
                    m.total_parts = p.total_parts
                m.parts[p.part_index] = StoredPart(p.part_index, p.total_parts, p.sequence_number,
                                                   p.smsc_message_id)
                self._by_smsc_id[p.smsc_message_id] = (p.outbox_id, p.part_index)
                orphan = self._orphans.pop(p.smsc_message_id, None)
                if orphan is not None:
                    m.parts[p.part_index].receipt = orphan
            for p in parts:
                self._settle(self._messages[p.outbox_id])

    def mark_submitted(self, outbox_ids: Sequence[OutboxId], now: datetime) -> None:
        with self._lock:
            self._count("mark_submitted")
            for msg_id in outbox_ids:
                m = self._messages[msg_id]
                if m.status == MessageStatus.SENDING:
                    m.status, m.claim_id, m.submitted_at = MessageStatus.SUBMITTED, None, now
                    m.attempts += 1
                self._settle(m)

    def mark_retry(self, errors: Sequence[SubmitError]) -> None:
        with self._lock:
            self._count("mark_retry")
            for e in errors:
                m = self._messages[e.outbox_id]
                m.status, m.claim_id = MessageStatus.QUEUED, None
                m.attempts, m.retry_at = e.attempts, e.retry_at
                m.command_status, m.error = e.command_status, e.reason
                self._queued[m.id] = None

    def mark_failed(self, errors: Sequence[SubmitError]) -> None:
        with self._lock:
            self._count("mark_failed")
            for e in errors:
                m = self._messages[e.outbox_id]
                m.status, m.claim_id = MessageStatus.FAILED, None
                m.attempts, m.retry_at = e.attempts, None
                m.command_status, m.error = e.command_status, e.reason
                self._queued.pop(m.id, None)

    def save_receipts(self, receipts: Sequence[DeliveryReceipt]) -> None:
        with self._lock:
            self._count("save_receipts")
            touched = {}
            for r in receipts:
                where = self._by_smsc_id.get(r.smsc_message_id)
                if where is None:
                    self._orphans[r.smsc_message_id] = r
                    continue
                m = self._messages[where[0]]
                m.parts[where[1]].receipt = r
                touched[m.id] = m
            for m in touched.values():
                self._settle(m)

    def save_inbound(self, sms: InboundSms) -> None:
        with self._lock:
            self._count("save_inbound")
            if self.fail_inbound:
                raise StoreUnavailableError("inbound storage unavailable")
            self._inbound.append(sms)

    def save_inbound_part(self, part: InboundPart) -> None:
        with self._lock:
            self._count("save_inbound_part")
            if self.fail_inbound:
                raise StoreUnavailableError("inbound storage unavailable")
            group = self._part_groups.get(part.key)
            if group is not None and part.index in group.parts:
                if group.completed_at is None or group.parts[part.index].payload == part.payload:
                    return                                  # a resend after a lost ack
                group = None                                # a new message reusing the reference
            if group is None:
                group = self._part_groups[part.key] = _PartGroup()
            group.parts[part.index] = part
            if len(group.parts) == part.total:
                self._inbound.append(join_parts(list(group.parts.values()), True))
                group.completed_at = part.received_at

    def expire_inbound_parts(self, before: datetime) -> int:
        with self._lock:
            self._count("expire_inbound_parts")
            if self.fail_inbound:
                raise StoreUnavailableError("inbound storage unavailable")
            stored = 0
            for key, group in list(self._part_groups.items()):
                if group.completed_at is not None:
                    if group.completed_at < before:
                        del self._part_groups[key]
                    continue
                parts = list(group.parts.values())
                if min(p.received_at for p in parts) < before:
                    self._inbound.append(join_parts(parts, len(parts) == key[3]))
                    del self._part_groups[key]
                    stored += 1
            return stored

    # ------------------------------------------------------------------ internals
    def _settle(self, m: StoredMessage) -> None:
        """Apply per-part receipts to the message status (delivered needs every part)."""
        if m.status not in (MessageStatus.SUBMITTED, MessageStatus.SENDING):
            return
        receipts = [p.receipt for p in m.parts.values() if p.receipt is not None]
        if any(r.failed for r in receipts):
            bad = next(r for r in receipts if r.failed)
            if m.status == MessageStatus.SUBMITTED:
                m.status, m.error = MessageStatus.FAILED, "receipt %s err:%s" % (bad.stat, bad.err)
            return
        if (m.status == MessageStatus.SUBMITTED and m.total_parts and len(m.parts) == m.total_parts
                and all(p.receipt is not None and p.receipt.delivered for p in m.parts.values())):
            m.status = MessageStatus.DELIVERED
