"""The points ledger: append-only, one row per change of a member's balance."""
from enum import StrEnum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.clock import now_utc
from mcrm.core.models import IdMixin, UTCDateTime
from mcrm.extensions import db


class EntryKind(StrEnum):
    EARN = "earn"      # purchase amount x merchant rate
    GIFT = "gift"      # join gift and other grants
    REDEEM = "redeem"
    ADJUST = "adjust"  # manual, reason required, either sign
    EXPIRE = "expire"


class PointsEntry(IdMixin, db.Model):
    __tablename__ = "points_entries"
    __table_args__ = (
        sa.Index("ix_points_entries_member", "member_id", "id"),
        sa.Index("ix_points_entries_merchant_created", "merchant_id", "created_at"),
        sa.CheckConstraint("points <> 0", name="nonzero"),
    )

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    #: signed: positive adds to the balance, negative takes from it
    points: Mapped[int]
    #: the member's balance right after this entry
    balance_after: Mapped[int]
    #: purchase amount in yuan, for earn entries
    amount: Mapped[float | None] = mapped_column(sa.Numeric(12, 2))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    #: staff who did it, if any; actor says who or what in words (staff name, 'sms', 'system')
    actor_staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    actor: Mapped[str] = mapped_column(sa.String(64), default="")
    #: for positive entries: when these points lapse (None: never)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: makes a repeated request (retried SMS, double click, job run twice) a no-op
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    #: for a void: the purchase or redemption it reverses. A void keeps that entry's kind with the
    #: opposite sign (and amount), so sums per kind (points earned, spend) net it out; unique, so an
    #: entry is voided at most once, however many managers try at the same moment
    voids_entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("points_entries.id"), unique=True)

    #: the entry this void reverses, and the void of this entry (list_entries loads both with a page)
    voids: Mapped["PointsEntry | None"] = relationship(remote_side="PointsEntry.id", foreign_keys=[voids_entry_id],
                                                       back_populates="voided_by", viewonly=True)
    voided_by: Mapped["PointsEntry | None"] = relationship(
        foreign_keys=[voids_entry_id], back_populates="voids", viewonly=True)

    @property
    def is_voidable(self) -> bool:
        """A purchase or a redemption, not a void itself and not voided yet."""
        return self.kind in (EntryKind.EARN, EntryKind.REDEEM) and self.voids_entry_id is None \
            and self.voided_by is None


#: SQL: the entry is on the credit side of the ledger (points issued, lots that lapse first in, first
#: out), else on the debit side. A void stands on the side of the entry it reverses, with the opposite
#: sign: a voided purchase cancels its own lot (same expiry) and its issued points, a voided
#: redemption its debit.
IS_CREDIT = sa.or_(sa.and_(PointsEntry.points > 0, PointsEntry.voids_entry_id.is_(None)),
                   sa.and_(PointsEntry.points < 0, PointsEntry.voids_entry_id.is_not(None)))


#: SQL: a purchase that is no void. 'earn' is literal, not a bound parameter: a database uses a
#: partial index only when the query's own terms, as written, imply the index's condition
IS_PURCHASE = sa.and_(PointsEntry.kind == sa.literal_column(f"'{EntryKind.EARN}'"),
                      PointsEntry.voids_entry_id.is_(None))

# visits and spend in a period, for segments: the purchases alone, by member, with the columns the
# aggregates read, so they are counted and summed from the index without reading the table (id, for
# leaving out the voided ones, is implied on SQLite and needed on PostgreSQL)
sa.Index("ix_points_entries_purchases", PointsEntry.merchant_id, PointsEntry.member_id,
         PointsEntry.created_at, PointsEntry.amount, PointsEntry.id,
         sqlite_where=IS_PURCHASE, postgresql_where=IS_PURCHASE)
