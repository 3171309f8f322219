"""Agenda items and the reminders sent for their occurrences.

An item happens at ``starts_at`` and, when it repeats, again every day, week or month at the same
local time in the merchant's zone. Each reminder SMS of one occurrence to one person is a row
whose ``key`` is also the outbox idempotency key: the row and the SMS are written in one
transaction, so a job that runs twice or dies mid-run sends each reminder exactly once.
"""
import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime, enum_type
from mcrm.extensions import db


class Repeat(enum.StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


agenda_item_staff = sa.Table(
    "agenda_item_staff", db.metadata,
    sa.Column("item_id", sa.ForeignKey("agenda_items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("staff_id", sa.ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
)

agenda_item_members = sa.Table(
    "agenda_item_members", db.metadata,
    sa.Column("item_id", sa.ForeignKey("agenda_items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("member_id", sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
)


class AgendaItem(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "agenda_items"
    __table_args__ = (sa.Index("ix_agenda_items_merchant_starts", "merchant_id", "starts_at"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    title: Mapped[str] = mapped_column(sa.String(100))
    place: Mapped[str] = mapped_column(sa.String(100), default="")
    #: the first occurrence; a repeating item keeps its local time (weekday, day of month) after it
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    repeat: Mapped[Repeat] = mapped_column(enum_type(Repeat), default=Repeat.NONE)
    #: minutes before each occurrence the reminder goes out (None: no reminder)
    remind_minutes: Mapped[int | None] = mapped_column()
    #: minutes after a staff reminder the owner is told it is still unconfirmed (None: never)
    escalate_minutes: Mapped[int | None] = mapped_column()
    #: who made it (None once that staff account is gone)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    #: "console" or "sms" (an RC text from a staff phone)
    source: Mapped[str] = mapped_column(sa.String(8), default="console")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    staff = relationship("Staff", secondary=agenda_item_staff, order_by="Staff.id")
    members = relationship("Member", secondary=agenda_item_members, order_by="Member.id")

    def __repr__(self):
        return f"<AgendaItem {self.id}>"


class AgendaReminder(IdMixin, db.Model):
    """One reminder SMS of one occurrence to one staff member or member."""

    __tablename__ = "agenda_reminders"
    __table_args__ = (sa.Index("ix_agenda_reminders_pending", "merchant_id", "confirmed_at", "escalated_at"),
                      sa.Index("ix_agenda_reminders_staff", "staff_id", "sent_at"))

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("agenda_items.id", ondelete="CASCADE"), index=True)
    #: the occurrence reminded of
    occurs_at: Mapped[datetime] = mapped_column(UTCDateTime)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id", ondelete="CASCADE"))
    #: ``agenda:<item>:<occurrence>:<s|m><id>``, the outbox idempotency key of the SMS too
    key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: when the staff member replied 1
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the owner was told it was unconfirmed (once)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    item = relationship(AgendaItem, lazy="joined")
    staff = relationship("Staff")

    def __repr__(self):
        return f"<AgendaReminder {self.key}>"


class AgendaText(IdMixin, TimestampMixin, db.Model):
    """A merchant's own wording of one agenda SMS (``mcrm.agenda.texts.NAMES``); without a row the
    default in the merchant's language goes."""

    __tablename__ = "agenda_texts"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "name"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    #: which SMS: ``staff_reminder``, ``member_reminder`` or ``escalation``
    name: Mapped[str] = mapped_column(sa.String(30))
    body: Mapped[str] = mapped_column(sa.Text)

    def __repr__(self):
        return f"<AgendaText {self.name}>"
