"""The outbox (every MT is a row before it is sent) and the inbox (every MO is a row before it is read)."""
import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.clock import now_utc
from mcrm.core.models import IdMixin, UTCDateTime
from mcrm.extensions import db


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"          # waiting for a gateway (maybe until ``not_before`` or ``retry_at``)
    SENDING = "sending"        # claimed by a gateway worker
    SUBMITTED = "submitted"    # every part accepted by the SMSC
    DELIVERED = "delivered"    # every part has a DELIVRD receipt
    FAILED = "failed"          # refused by the SMSC, too many attempts, or a failed receipt
    EXPIRED = "expired"        # a part's receipt said EXPIRED
    SUPPRESSED = "suppressed"  # never sent: opted out, frequency cap, duplicate occasion, cancelled
    HELD = "held"              # queued, but its campaign is paused: no gateway claims it until resumed


class MessageKind(enum.StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class SuppressReason(enum.StrEnum):
    """Why a marketing message was kept in the outbox as suppressed (the console shows it as is)."""
    OPTED_OUT = "opted out"
    FREQUENCY_CAP = "frequency cap"
    DUPLICATE_OCCASION = "duplicate occasion"
    INVALID_NUMBER = "invalid number"
    TOO_LONG = "too long"
    #: its campaign was cancelled before a gateway took it
    CANCELLED = "cancelled"


class InboundStatus(enum.StrEnum):
    NEW = "new"                # stored, waiting for the keyword engine
    PROCESSING = "processing"  # claimed by a keyword worker
    DONE = "done"
    UNROUTED = "unrouted"      # no merchant's service number matches: stored, never answered
    FAILED = "failed"


def _enum(cls, name):
    """Stored as plain VARCHAR of the lower-case values, identical on SQLite and PostgreSQL."""
    return sa.Enum(cls, name=name, native_enum=False, create_constraint=False, length=16,
                   values_callable=lambda e: [m.value for m in e], validate_strings=True)


class OutboundMessage(IdMixin, db.Model):
    __tablename__ = "outbound_messages"
    __table_args__ = (
        # the gateway's claim: oldest queued first
        sa.Index("ix_outbound_messages_status_id", "status", "id"),
        # the console log, the phone simulator, frequency caps and occasions
        sa.Index("ix_outbound_messages_merchant_msisdn", "merchant_id", "msisdn", "id"),
        sa.Index("ix_outbound_messages_merchant_created", "merchant_id", "created_at"),
        # a campaign run's report, pause, resume and cancel: its messages by status
        sa.Index("ix_outbound_messages_occasion_status", "occasion", "status"),
    )

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"), index=True)
    #: recipient, E.164
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    #: the service number it goes out from; filled from the merchant's sub-code when claimed if empty
    source_addr: Mapped[str | None] = mapped_column(sa.String(21))
    #: what the caller asked to send
    body: Mapped[str] = mapped_column(sa.Text)
    #: what goes on the air: signature + body (+ unsubscribe hint for marketing)
    text: Mapped[str] = mapped_column(sa.Text)
    #: the text as it goes on the air when ``body`` and ``text`` show a secret in it masked (a login
    #: code): only the gateway's claim reads it, and the row forgets it once the SMSC accepted the
    #: message or it failed for good, so no page, export or log can ever show the secret
    secret_text: Mapped[str | None] = mapped_column(sa.Text)
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind, "message_kind"))
    parts: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus, "message_status"),
                                                  default=MessageStatus.QUEUED)
    suppressed_reason: Mapped[str | None] = mapped_column(sa.String(40))
    #: marketing outside the sending window waits until the next window opens
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: submit attempts made (a throttled try does not count)
    attempts: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    #: the SMSC's command_status of the last error (0 for a local cause)
    error_code: Mapped[int | None] = mapped_column()
    #: worker holding it while SENDING, and since when (a lease: stale claims are released)
    claim_id: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: a repeat of the same request returns the first row instead of sending twice
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    #: e.g. ``campaign:12``, ``birthday:2026``: one marketing SMS per number per occasion
    occasion: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    part_rows = relationship("OutboundPart", order_by="OutboundPart.index", lazy="select",
                             cascade="all, delete-orphan", back_populates="message")

    def __repr__(self):
        return f"<OutboundMessage {self.id} {self.status.value}>"


class OutboundPart(IdMixin, db.Model):
    """One submit_sm of a message, as the SMSC accepted it, and its delivery receipt."""

    __tablename__ = "outbound_parts"
    __table_args__ = (sa.UniqueConstraint("message_id", "part_index", name="uq_outbound_parts_message_part"),)

    message_id: Mapped[int] = mapped_column(sa.ForeignKey("outbound_messages.id", ondelete="CASCADE"))
    #: 1-based part number
    index: Mapped[int] = mapped_column("part_index", sa.SmallInteger)
    total: Mapped[int] = mapped_column(sa.SmallInteger)
    sequence_number: Mapped[int] = mapped_column()
    smsc_message_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    #: submitted, delivered or failed (from the receipt)
    status: Mapped[str] = mapped_column(sa.String(12), default="submitted")
    receipt_stat: Mapped[str | None] = mapped_column(sa.String(10))
    receipt_err: Mapped[str | None] = mapped_column(sa.String(10))
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    message = relationship("OutboundMessage", back_populates="part_rows")


class PendingReceipt(IdMixin, db.Model):
    """A receipt whose SMSC message id is not known yet (it may overtake its submit_sm_resp on
    another bind, or belong to a copy sent before a crash); applied when the part is recorded."""

    __tablename__ = "pending_receipts"

    smsc_message_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    stat: Mapped[str] = mapped_column(sa.String(10))
    err: Mapped[str | None] = mapped_column(sa.String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboundMessage(IdMixin, db.Model):
    __tablename__ = "inbound_messages"
    __table_args__ = (
        sa.Index("ix_inbound_messages_status_id", "status", "id"),
        sa.Index("ix_inbound_messages_merchant_msisdn", "merchant_id", "msisdn", "id"),
        sa.Index("ix_inbound_messages_merchant_received", "merchant_id", "received_at"),
    )

    #: None when no merchant's service number matched (status unrouted)
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"))
    #: the sender, E.164, or the raw address when it does not parse as a phone number
    msisdn: Mapped[str] = mapped_column(sa.String(32))
    destination_addr: Mapped[str] = mapped_column(sa.String(32))
    #: digits after the merchant's service number (may route to one app)
    extension: Mapped[str] = mapped_column(sa.String(21), default="")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    data_coding: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    parts: Mapped[int] = mapped_column(sa.SmallInteger, default=1)
    #: False when parts of a long MO never arrived and what came was stored anyway
    complete: Mapped[bool] = mapped_column(default=True)
    #: raw user data (binary codings have no text)
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary, default=b"")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[InboundStatus] = mapped_column(_enum(InboundStatus, "inbound_status"),
                                                  default=InboundStatus.NEW)
    claim_id: Mapped[str | None] = mapped_column(sa.String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(sa.String(200))

    #: the claim this process holds, set by ``claim_inbound`` (not a column: it must survive a commit,
    #: which reloads ``claim_id`` and would show another worker's claim after a lease ran out)
    held_claim = None

    def __repr__(self):
        return f"<InboundMessage {self.id} {self.status.value}>"


class InboundPart(IdMixin, db.Model):
    """One part of a concatenated MO, stored before the SMSC gets its ack. When the last part comes
    the message goes to the inbox in the same transaction and the group is kept (``completed_at``)
    for the reassembly deadline, so a resent part is not stored twice."""

    __tablename__ = "inbound_parts"
    __table_args__ = (
        sa.UniqueConstraint("source_addr", "destination_addr", "reference", "total", "part_index",
                            name="uq_inbound_parts_group_part"),
    )

    #: as the SMSC sent them (routing happens when the message is stored)
    source_addr: Mapped[str] = mapped_column(sa.String(32))
    destination_addr: Mapped[str] = mapped_column(sa.String(32))
    #: the concatenation reference (8- or 16-bit UDH, or sar_msg_ref_num)
    reference: Mapped[int] = mapped_column()
    total: Mapped[int] = mapped_column(sa.SmallInteger)
    #: 1-based part number
    index: Mapped[int] = mapped_column("part_index", sa.SmallInteger)
    data_coding: Mapped[int] = mapped_column(sa.SmallInteger)
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: when the group's message was stored; None while parts are missing
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
