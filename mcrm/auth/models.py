"""Staff accounts of a merchant and their roles."""
from enum import StrEnum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime
from mcrm.extensions import db


class Role(StrEnum):
    OWNER = "owner"      # everything, including staff and settings
    MANAGER = "manager"  # members, points, campaigns
    CLERK = "clerk"      # look up members and record purchases


#: who may do what another may: a role covers every lower one
_RANK = {Role.CLERK: 1, Role.MANAGER: 2, Role.OWNER: 3}

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
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant = relationship("Merchant", lazy="joined")

    #: the secret token of the signed-in session this object was loaded for or signed in with
    #: (a StaffSession; not a column)
    session_token = None

    def get_id(self) -> str:
        """Flask-Login's alternative id, kept in the session and remember-me cookies: it names one
        StaffSession row, so a cookie stops working as soon as that row is gone (sign-out)."""
        return f"{self.id}:{self.session_token}"

    def has_role(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def __repr__(self):
        return f"<Staff {self.username} {self.role}>"


class StaffSession(IdMixin, db.Model):
    """One signed-in browser. Its session and remember-me cookies carry a random token; signing out
    deletes the row, so a copy of the cookie signs nobody in afterwards. Ending all of a staff's rows
    signs them out everywhere."""

    __tablename__ = "staff_sessions"

    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the token (hex): the table alone signs nobody in
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginFailure(IdMixin, db.Model):
    """One wrong password (or unknown username) from one address, kept for the lockout window;
    the lock counts them per (username, address) and per address (services.authenticate)."""

    __tablename__ = "login_failures"
    __table_args__ = (sa.Index("ix_login_failures_address_failed_at", "address", "failed_at"),)

    #: as typed, lower-cased: usernames that name no account count the same
    username: Mapped[str] = mapped_column(sa.String(64))
    #: the client's IP address
    address: Mapped[str] = mapped_column(sa.String(45))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
