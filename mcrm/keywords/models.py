"""Keyword apps made in the console wizard, their keywords, and what they hand out."""
from enum import StrEnum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.clock import now_utc
from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime
from mcrm.extensions import db


class AppKind(StrEnum):
    AUTOREPLY = "autoreply"
    COUPON = "coupon"
    VOTE = "vote"
    INFO = "info"
    EVENT = "event"


class AppStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    #: stopped for good: keywords and extension released, what it collected kept
    ENDED = "ended"


class KeywordApp(IdMixin, TimestampMixin, db.Model):
    """A custom keyword app: a type, its keywords, its replies and its limits."""
    __tablename__ = "keyword_apps"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "extension", name="uq_keyword_apps_merchant_extension"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(10), default=AppStatus.ACTIVE)
    #: the app answers only inside this range (either end open)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: most times one number may use the app (None: no limit)
    per_number_limit: Mapped[int | None]
    #: reply id → template, validated on save
    replies: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: settings of the app's kind (vote options, event capacity, coupon stock, ...)
    config: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: digits after the service number that route every text straight to this app
    extension: Mapped[str | None] = mapped_column(sa.String(6))
    #: texts this app has answered (a counter kept in the same transaction as the use)
    uses: Mapped[int] = mapped_column(default=0)
    #: seats confirmed (event) or codes issued (coupon). Raised only by one conditional UPDATE that
    #: keeps it within the capacity or stock, so two texts at once can never both take the last seat
    taken: Mapped[int] = mapped_column(default=0, server_default="0")

    words = relationship("KeywordWord", cascade="all, delete-orphan", lazy="selectin",
                         order_by="KeywordWord.position")

    @property
    def keywords(self) -> list[str]:
        return [w.display for w in self.words]


class KeywordWord(IdMixin, db.Model):
    """One keyword or alias of an app; unique per merchant so two apps can never share one."""
    __tablename__ = "keyword_words"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "word", name="uq_keyword_words_merchant_word"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    app_id: Mapped[int] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="CASCADE"), index=True)
    #: folded form (half-width, case-folded) the matcher compares
    word: Mapped[str] = mapped_column(sa.String(20))
    #: as the merchant typed it
    display: Mapped[str] = mapped_column(sa.String(20))
    #: 0 is the main keyword, the rest are aliases
    position: Mapped[int] = mapped_column(default=0)


class KeywordUse(IdMixin, db.Model):
    """One answered text of an app by one number: the per-number limit counts these."""
    __tablename__ = "keyword_uses"
    __table_args__ = (sa.Index("ix_keyword_uses_app_msisdn", "app_id", "msisdn"),)

    app_id: Mapped[int] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="CASCADE"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class CouponCode(IdMixin, db.Model):
    """A coupon code: in the pool (no msisdn yet), issued to a number, or redeemed."""
    __tablename__ = "coupon_codes"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "code", name="uq_coupon_codes_merchant_code"),
        sa.Index("ix_coupon_codes_app_msisdn", "app_id", "msisdn"),
    )

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    app_id: Mapped[int] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="CASCADE"))
    #: the offer the code is for (read only: the database deletes codes with their app)
    app = relationship("KeywordApp", viewonly=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    msisdn: Mapped[str | None] = mapped_column(sa.String(20))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: staff name or 'sms:<staff>' that marked it redeemed
    redeemed_by: Mapped[str | None] = mapped_column(sa.String(64))


class PollVote(IdMixin, db.Model):
    __tablename__ = "poll_votes"
    __table_args__ = (sa.UniqueConstraint("app_id", "msisdn", name="uq_poll_votes_app_msisdn"),)

    app_id: Mapped[int] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="CASCADE"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    #: the option's key as configured (e.g. "1", "A")
    option: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class InfoRow(IdMixin, db.Model):
    """One row of a merchant-uploaded CSV table that an info-query app looks up by code."""
    __tablename__ = "info_rows"
    __table_args__ = (sa.UniqueConstraint("app_id", "lookup", name="uq_info_rows_app_lookup"),)

    app_id: Mapped[int] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="CASCADE"))
    #: the first column, folded, as a texter would type it
    lookup: Mapped[str] = mapped_column(sa.String(64))
    #: column name → value, for the reply template
    values: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class SignupStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITING = "waiting"


class EventSignup(IdMixin, db.Model):
    __tablename__ = "event_signups"
    __table_args__ = (sa.UniqueConstraint("app_id", "msisdn", name="uq_event_signups_app_msisdn"),)

    app_id: Mapped[int] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="CASCADE"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    #: how many people the texter brings (the text "BM 2" signs up two)
    seats: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
