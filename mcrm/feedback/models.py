"""Feedback tickets: suggestions, complaints and praise texted in by consumers."""
from enum import StrEnum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime
from mcrm.extensions import db


class TicketKind(StrEnum):
    SUGGESTION = "suggestion"
    COMPLAINT = "complaint"
    PRAISE = "praise"


class TicketStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class FeedbackTicket(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "feedback_tickets"
    __table_args__ = (sa.Index("ix_feedback_tickets_merchant_status", "merchant_id", "status", "id"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    kind: Mapped[str] = mapped_column(sa.String(12))
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default=TicketStatus.OPEN)
    #: the MO the ticket came from (None when typed in the console)
    inbound_message_id: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def number(self) -> str:
        return f"{self.id:06d}"
