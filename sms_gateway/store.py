"""The MessageStore port: the only contract between the gateway worker and the rest of the system.

The worker never touches a database. It calls these methods from its one thread, in this order
within a loop turn, so an implementation can rely on it:

1. ``release_claims(worker_id)`` once at start-up and once at shutdown.
2. ``claim_outbound(worker_id, limit, now)`` when its local queue runs low.
3. ``record_parts`` → ``mark_submitted`` → ``mark_retry`` → ``mark_failed`` → ``save_receipts``:
   results are batched per loop turn, and part records are always flushed *before* receipts, so a
   receipt that arrives right after its submit_sm_resp already finds its part.
4. ``save_inbound(sms)`` for each one-part MO and ``save_inbound_part(part)`` for each part of a
   concatenated one; the SMSC gets ESME_ROK only after it returned.
5. ``expire_inbound_parts(before)`` at start and every few seconds (see ``SmppWorker``).

Each method is one transaction: it commits before returning, and raising means "nothing stored"
(the worker then answers the SMSC with a temporary error, or keeps the result and retries the call).

Message life cycle the store keeps: QUEUED → (claim) SENDING → SUBMITTED (all parts acked) →
DELIVERED (every part has a DELIVRD receipt) or FAILED (a permanent submit error, too many attempts,
or any part with a failed final receipt). A transient error puts it back to QUEUED with ``retry_at``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from .encoding import RECEIPT_FINAL_FAILURES, decode_payload

__all__ = ["OutboxId", "OutboundSms", "PartResult", "SubmitError", "DeliveryReceipt", "InboundSms",
           "InboundPart", "join_parts", "MessageStore", "MessageStatus"]

OutboxId = int | str


class MessageStatus:
    """Outbound statuses as plain strings (an implementation may map them to its own enum)."""

    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SUBMITTED = "SUBMITTED"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class OutboundSms:
    """A queued MT message claimed for this worker.

    :param id: the outbox row id, echoed back in every result.
    :param source_addr: sender (service number / short code).
    :param destination_addr: recipient MSISDN, E.164 (``+8613800138000``); the worker strips the ``+``
        and sends it with the configured destination TON/NPI.
    :param want_receipt: ask the SMSC for a delivery receipt (registered_delivery=1).
    :param attempts: submit attempts already made (0 on the first claim).
    :param accepted_parts: part indexes (1-based) the SMSC accepted in an earlier attempt (the parts
        ``record_parts`` stored for it): a retry sends only the others, under the same concatenation
        reference, so the handset joins them and nothing is sent or charged twice.
    """

    id: OutboxId
    source_addr: str
    destination_addr: str
    text: str
    want_receipt: bool = True
    attempts: int = 0
    accepted_parts: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PartResult:
    """One part accepted by the SMSC (submit_sm_resp with ESME_ROK). A retried message records its
    parts again: ``(outbox_id, part_index)`` identifies a part, the latest record wins."""

    outbox_id: OutboxId
    part_index: int
    total_parts: int
    sequence_number: int
    smsc_message_id: str


@dataclass(frozen=True)
class SubmitError:
    """A message that was not (fully) accepted.

    :param command_status: the SMSC's SMPP status (e.g. 0x58), or 0 for a local cause (response
        timeout, lost connection, shutdown release).
    :param reason: short machine-friendly text (``ESME_RTHROTTLED``, ``response timeout``, …).
    :param attempts: the attempts count to store (the worker decides whether this try counted).
    :param retry_at: when to offer it again (``mark_retry``); None for ``mark_failed``.
    """

    outbox_id: OutboxId
    command_status: int
    reason: str
    attempts: int
    retry_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    """A delivery receipt for one part, matched by ``smsc_message_id``.

    ``stat`` is the 7-letter SMPP state (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN,
    ENROUTE, ACCEPTD); ``err`` the network error code text. ``source_addr`` is the handset (the
    receipt's addresses are swapped relative to the MT)."""

    smsc_message_id: str
    stat: str
    err: str | None
    received_at: datetime
    source_addr: str = ""
    destination_addr: str = ""
    submit_date: str | None = None
    done_date: str | None = None

    @property
    def delivered(self) -> bool:
        return self.stat == "DELIVRD"

    @property
    def failed(self) -> bool:
        """A final state that means this part will never be delivered."""
        return self.stat in RECEIPT_FINAL_FAILURES


@dataclass(frozen=True)
class InboundSms:
    """A complete MO message (concatenated parts already joined).

    :param source_addr: the handset; ``+`` is prefixed when the SMSC marked it international (TON 1).
    :param destination_addr: the service number it was sent to (access number + sub-code + extension).
    :param text: decoded text ('' for binary data codings; then see ``payload``).
    :param payload: the raw user data without UDH, all parts joined.
    :param parts: number of parts received; ``complete`` is False when parts were missing at the
        reassembly deadline and what arrived is stored anyway.
    """

    source_addr: str
    destination_addr: str
    text: str
    data_coding: int
    received_at: datetime
    parts: int = 1
    payload: bytes = b""
    complete: bool = True


@dataclass(frozen=True)
class InboundPart:
    """One part of a concatenated MO (UDH with an 8- or 16-bit reference, or the SAR TLVs).

    ``key`` (source, destination, reference, total) names its group and ``index`` (1-based) its place;
    ``payload`` is the user data without UDH; ``received_at`` the worker's clock when it was read."""

    source_addr: str
    destination_addr: str
    reference: int
    total: int
    index: int
    data_coding: int
    payload: bytes
    received_at: datetime

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.source_addr, self.destination_addr, self.reference, self.total)


def join_parts(parts: Sequence[InboundPart], complete: bool) -> InboundSms:
    """The MO made of ``parts`` (one group, any order): payloads joined by index, decoded with the
    first part's data coding, received when its last part was."""
    parts = sorted(parts, key=lambda p: p.index)
    first = parts[0]
    payload = b"".join(p.payload for p in parts)
    return InboundSms(first.source_addr, first.destination_addr, decode_payload(payload, first.data_coding),
                      first.data_coding, max(p.received_at for p in parts), len(parts), payload, complete)


@runtime_checkable
class MessageStore(Protocol):
    """Storage port implemented by the host (SQLAlchemy in mcrm) and by ``InMemoryMessageStore``.

    All methods are called from the gateway's single worker thread. Several gateway processes may
    share one store: each has its own ``worker_id`` and claims are exclusive.
    """

    def release_claims(self, worker_id: str) -> int:
        """Return every SENDING message claimed by ``worker_id`` to QUEUED (start-up after a crash,
        and shutdown). Attempts are not changed. Returns how many were released."""
        ...

    def claim_outbound(self, worker_id: str, limit: int, now: datetime) -> list[OutboundSms]:
        """Atomically move up to ``limit`` QUEUED messages whose ``retry_at`` is unset or <= ``now``
        to SENDING for ``worker_id`` and return them, oldest first (``UPDATE … SET status='SENDING',
        claim_id=? WHERE status='QUEUED'``: no message is ever claimed twice), each with the parts
        already recorded for it as ``accepted_parts``."""
        ...

    def record_parts(self, parts: Sequence[PartResult]) -> None:
        """Store the SMSC message id and sequence number of each accepted part. Receipts saved
        earlier for one of these ids (possible with several binds) must be applied now."""
        ...

    def mark_submitted(self, outbox_ids: Sequence[OutboxId], now: datetime) -> None:
        """Every part of these messages was accepted: SENDING → SUBMITTED (or straight to
        DELIVERED/FAILED if all their receipts are already in)."""
        ...

    def mark_retry(self, errors: Sequence[SubmitError]) -> None:
        """Transient failure: back to QUEUED with ``retry_at``, ``attempts`` and the last error."""
        ...

    def mark_failed(self, errors: Sequence[SubmitError]) -> None:
        """Permanent failure: FAILED with the SMSC's ``command_status`` and ``attempts``."""
        ...

    def save_receipts(self, receipts: Sequence[DeliveryReceipt]) -> None:
        """Attach each receipt to the part with that ``smsc_message_id``. A message becomes
        DELIVERED when every part has a DELIVRD receipt, FAILED when any part has a failed final
        one. A receipt whose id is unknown must still be kept (``record_parts`` may come later)."""
        ...

    def save_inbound(self, sms: InboundSms) -> None:
        """Durably store one MO. Only after this returns does the SMSC get ESME_ROK; raising makes
        the worker answer ESME_RX_T_APPN so the SMSC delivers it again."""
        ...

    def save_inbound_part(self, part: InboundPart) -> None:
        """Durably store one part of a concatenated MO before the SMSC gets ESME_ROK for it.

        Idempotent per ``(*part.key, part.index)``: a part delivered again (its ack was lost) is
        stored once. When this part completes its group, the joined ``InboundSms`` (``join_parts``,
        ``complete=True``) is stored in the same transaction and the group is kept as finished until
        ``expire_inbound_parts`` drops it, so a resent last part does not store the MO again; a
        finished group's part arriving with a different payload starts a new group (the handset
        reused the reference). Raising means "nothing stored", as for ``save_inbound``."""
        ...

    def expire_inbound_parts(self, before: datetime) -> int:
        """Store every unfinished group whose first part arrived before ``before`` as one MO with
        the parts it has, in order (``complete=False`` unless all arrived), and forget it; drop
        finished groups completed before ``before``. One transaction; returns how many MOs were
        stored. Several workers may call it at once: each group is stored by one of them."""
        ...
