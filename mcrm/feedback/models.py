"""Feedback tickets: suggestions, complaints and praise, texted in or typed in the console.

A ticket's thread is its opening text followed by its entries: the member's further texts, the
staff's SMS replies and internal notes. The timestamps on the ticket (first response, resolution,
reminders, satisfaction) are what the inbox, the overdue job and the figures read.
"""
from enum import StrEnum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.auth.models import Staff
from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime
from mcrm.extensions import db
from mcrm.members.models import Member


class TicketKind(StrEnum):
    SUGGESTION = "suggestion"
    COMPLAINT = "complaint"
    PRAISE = "praise"


class TicketStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: a ticket in one of these still waits for the shop
OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.IN_PROGRESS)


class EntryKind(StrEnum):
    MO = "mo"        # a further text from the member
    REPLY = "reply"  # an SMS from staff to the member
    NOTE = "note"    # internal: staff only


class FeedbackTicket(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "feedback_tickets"
    __table_args__ = (sa.Index("ix_feedback_tickets_merchant_status", "merchant_id", "status", "id"),
                      sa.Index("ix_feedback_tickets_merchant_msisdn", "merchant_id", "msisdn", "id"))

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    kind: Mapped[str] = mapped_column(sa.String(12))
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(12), default=TicketStatus.NEW)
    #: the MO the ticket came from (None when typed in the console)
    inbound_message_id: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: who typed it in the console (None for a texted ticket)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    #: when the first reply is due, from the kind's response target (None: no target)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the member's or the staff's latest text: further texts within the window join the ticket
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the overdue reminders, each sent once
    assignee_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    satisfaction_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 1 satisfied, 2 so-so, 3 dissatisfied (the SMS's own numbering)
    satisfaction: Mapped[int | None] = mapped_column(sa.SmallInteger)
    satisfaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    assignee = relationship(Staff, foreign_keys=[assignee_id])
    created_by = relationship(Staff, foreign_keys=[created_by_id])
    member = relationship(Member)

    @property
    def number(self) -> str:
        return f"{self.id:06d}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        """Still unanswered past its response target."""
        return self.is_open and self.first_response_at is None and self.due_at is not None and self.due_at <= now


class TicketEntry(IdMixin, db.Model):
    """One line of a ticket's thread after its opening text."""

    __tablename__ = "feedback_entries"

    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("feedback_tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    body: Mapped[str] = mapped_column(sa.Text)
    #: who wrote a reply or a note
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    inbound_message_id: Mapped[int | None]
    outbound_message_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    staff = relationship(Staff)


class ResponseTarget(IdMixin, db.Model):
    """A merchant's own response target for one kind, for everyone or for the members of one tier
    (the fast complaint handling for high tiers); without a row the kind's target, else the default,
    applies."""

    __tablename__ = "feedback_targets"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "kind", "tier",
                                          name="uq_feedback_targets_merchant_kind_tier"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    #: the member tier the target is for ("": everyone, the kind's own target)
    tier: Mapped[str] = mapped_column(sa.String(20), default="", server_default="")
    #: minutes to the first reply (None: no target for this kind)
    minutes: Mapped[int | None]
