"""Staff accounts of a merchant and their roles."""
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime
from mcrm.extensions import db


class Role:
    OWNER = "owner"      # everything, including staff and settings
    MANAGER = "manager"  # members, points, campaigns
    CLERK = "clerk"      # look up members and record purchases
    ALL = (OWNER, MANAGER, CLERK)
    RANK = {CLERK: 1, MANAGER: 2, OWNER: 3}


class Staff(UserMixin, IdMixin, TimestampMixin, db.Model):
    __tablename__ = "staff"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "msisdn", name="uq_staff_merchant_msisdn"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    #: login name, unique across mcrm, stored lower-case
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(10))
    display_name: Mapped[str] = mapped_column(sa.String(64), default="")
    #: a trusted phone: may send staff commands and receive login codes
    msisdn: Mapped[str | None] = mapped_column(sa.String(20))
    is_active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(sa.String(5))
    #: wrong passwords since the last success; reaching the limit locks the account for a while
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: part of every session and remember-me cookie (get_id); raising it ends them all
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    merchant = relationship("Merchant", lazy="joined")

    def get_id(self) -> str:
        """Flask-Login's alternative id: a cookie issued before the version was raised no longer loads."""
        return f"{self.id}:{self.session_version}"

    def has_role(self, role: str) -> bool:
        return Role.RANK[self.role] >= Role.RANK[role]

    def __repr__(self):
        return f"<Staff {self.username} {self.role}>"
