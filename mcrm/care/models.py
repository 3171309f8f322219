"""Care: greetings a merchant switches on (birthdays, festivals, special days), and their daily runs.

A greeting is what the merchant sets (its text, hour, days before, gift); a run is one local day of
sending it. The messages of a run are outbox rows whose ``occasion`` names the greeting and the
year it greets for (``care:<greeting id>:<year>``), so one member gets one greeting per birthday
year, festival or anniversary however often the job runs.
"""
import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime, enum_type
from mcrm.extensions import db


class CareKind(enum.StrEnum):
    BIRTHDAY = "birthday"                  # the member's solar or lunar birthday
    FESTIVAL = "festival"                  # one of calendar.FESTIVALS (``code``)
    STORE_ANNIVERSARY = "store_day"        # the store's opening day (``on_date``), every year
    JOIN_ANNIVERSARY = "join_day"          # the day the member joined, every year after
    NAMED_DAY = "named_day"                # a date the merchant names (``on_date``; yearly or once)
    WIN_BACK = "win_back"                  # no visit for ``days`` days (``code``: a tier, or "" for every tier)
    CHURN = "churn"                        # spend of the last ``days``-day period fell ``drop_percent`` % (per tier too)
    POINTS_EXPIRING = "points_expiring"    # points lapse within ``days`` days (transactional)
    TIER_CHANGE = "tier_change"            # the member's tier went up or down (``code``: up, down; transactional)


class RunStatus(enum.StrEnum):
    ENQUEUING = "enqueuing"    # members are being put in the outbox, in batches after ``last_member_id``
    DONE = "done"              # every member of the day is in the outbox


class CareGreeting(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "care_greetings"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "kind", "code", name="uq_care_greetings_kind_code"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    kind: Mapped[CareKind] = mapped_column(enum_type(CareKind))
    #: the festival's code, the named day's name; empty for the other kinds (one each per merchant)
    code: Mapped[str] = mapped_column(sa.String(40), default="")
    enabled: Mapped[bool] = mapped_column(default=False)
    #: the text with member fields (``{name}``, ``{points}`` …, ``{coupon}``), without signature and hint
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: the merchant's local hour the day's greetings go at (the sending window still applies)
    hour: Mapped[int] = mapped_column(sa.SmallInteger, default=10)
    #: greet this many days before the day (0: on the day)
    days_before: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    #: points given with the greeting, and per tier (``{"金卡": 200}``) where a tier gets other than that
    gift_points: Mapped[int] = mapped_column(default=0)
    gift_points_by_tier: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: a coupon app: every member whose greeting goes gets a code of it in ``{coupon}``
    coupon_app_id: Mapped[int | None] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="SET NULL"))
    #: the store's opening day or the named day
    on_date: Mapped[date | None] = mapped_column(sa.Date)
    #: a named day comes back every year on its month and day (else only on ``on_date``)
    yearly: Mapped[bool] = mapped_column(default=True)
    #: win-back: days without a visit; churn: the period's length; points expiring: the days ahead
    days: Mapped[int] = mapped_column(sa.SmallInteger, default=0, server_default="0")
    #: churn: how far (in %) the last period's spend fell against the one before
    drop_percent: Mapped[int] = mapped_column(sa.SmallInteger, default=0, server_default="0")

    def __repr__(self):
        return f"<CareGreeting {self.id} {self.kind.value} {self.code}>"


class CareRun(IdMixin, db.Model):
    """One local day of a greeting. Unique per (greeting, day), so two schedulers that both find the
    greeting due start one run between them, and a run killed mid-way goes on after its last batch."""

    __tablename__ = "care_runs"
    __table_args__ = (sa.UniqueConstraint("greeting_id", "day", name="uq_care_runs_greeting_day"),)

    greeting_id: Mapped[int] = mapped_column(sa.ForeignKey("care_greetings.id", ondelete="CASCADE"))
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    #: the merchant's local day it ran for
    day: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus), default=RunStatus.ENQUEUING)
    #: the highest member id put in the outbox so far
    last_member_id: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CareCoupon(db.Model):
    """The coupon a greeting handed a member for an occasion: issued in the same transaction as the
    member's message, and one per (occasion, member), so a repeated run never issues a second."""

    __tablename__ = "care_coupons"

    occasion: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    coupon_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon_codes.id", ondelete="CASCADE"))


class CareMemberTier(db.Model):
    """The tier a member's last tier notice (or the first look) saw: a member whose tier differs
    from it has gone up or down since, and the notice's batch moves it on in its own transaction."""

    __tablename__ = "care_member_tiers"

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    tier: Mapped[str] = mapped_column(sa.String(20), default="")
