"""Saved segments: a name and a definition (see segments.rules) per merchant."""
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, TimestampMixin
from mcrm.extensions import db


class Segment(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "segments"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "name", name="uq_segments_merchant_name"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(sa.String(60))
    #: the normalized definition: nested and/or/not groups of conditions
    definition: Mapped[dict] = mapped_column(sa.JSON)
    #: staff who saved it last
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))

    def __repr__(self):
        return f"<Segment {self.id}>"
