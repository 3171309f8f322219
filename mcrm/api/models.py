"""API tokens and the answers to idempotent API requests."""
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, UTCDateTime
from mcrm.extensions import db


class TokenScope(StrEnum):
    READ = "read"    # GET only
    WRITE = "write"  # every method


class ApiToken(IdMixin, db.Model):
    """A merchant's key for its tills. Only the SHA-256 of the secret is kept: the table alone lets
    nobody in, and the secret is shown once, when it is made."""

    __tablename__ = "api_tokens"

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    scope: Mapped[str] = mapped_column(sa.String(10))
    #: the secret's first characters, so the owner can tell tokens apart (not enough to guess it)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    #: SHA-256 of the whole secret (hex)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: written at most once a minute (``services.USE_RESOLUTION``): a GET stays a read
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiRequest(IdMixin, db.Model):
    """One idempotent write: its key, what was asked, and the answer given, committed with the
    change itself, so a retry gets the same answer and never repeats the change."""

    __tablename__ = "api_requests"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "key", name="uq_api_requests_merchant_key"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    #: the client's key (header ``Idempotency-Key`` or a purchase's ``client_key``)
    key: Mapped[str] = mapped_column(sa.String(64))
    #: SHA-256 of method, path and body: the same key with another request is refused
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int | None]
    body: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
