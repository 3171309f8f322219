"""Campaigns: a marketing text to a segment, sent once, at a moment, or again every day, week or month.

A campaign is what staff compose; a run is one occasion of sending it (a recurring campaign has
many). The messages of a run are outbox rows whose ``occasion`` is ``run.occasion``; every figure
of the report is counted from them by SQL, so nothing here can drift from what was sent.
"""
import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime, enum_type
from mcrm.extensions import db


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"            # being composed; never sends
    SCHEDULED = "scheduled"    # launched: waits for ``scheduled_at`` (the next occasion of a recurring one)
    SENDING = "sending"        # a run is being queued or its messages are with the gateway
    PAUSED = "paused"          # its queued messages wait; no new run starts
    DONE = "done"              # every message of its (last) run is final
    CANCELLED = "cancelled"    # stopped for good: what was still queued is suppressed as cancelled


class Recurrence(enum.StrEnum):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class RunStatus(enum.StrEnum):
    ENQUEUING = "enqueuing"    # members are being put in the outbox, in batches after ``last_member_id``
    SENDING = "sending"        # all queued; the gateway sends them
    PAUSED = "paused"          # held: its queued messages (status held) and the rest of its enqueue wait
    DONE = "done"              # no message of the run waits any more
    CANCELLED = "cancelled"


class Campaign(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        # the dispatch job: launched campaigns that are due
        sa.Index("ix_campaigns_status_scheduled", "status", "scheduled_at"),
        sa.Index("ix_campaigns_merchant_id", "merchant_id", "id"),
    )

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(sa.String(60))
    #: the text with member fields (``{name}``, ``{coupon}`` …), without signature and hint
    body: Mapped[str] = mapped_column(sa.Text)
    #: the normalized segment definition every run selects by (a saved segment's is copied in, so
    #: editing that segment later does not change whom a launched campaign reaches)
    segment_definition: Mapped[dict] = mapped_column(sa.JSON)
    #: the saved segment it was taken from, for the console (None: typed in, or the segment is gone)
    segment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("segments.id", ondelete="SET NULL"))
    recurrence: Mapped[Recurrence] = mapped_column(enum_type(Recurrence), default=Recurrence.ONCE)
    #: the first occasion as asked (None: when launched); a recurring campaign repeats its local
    #: time (and weekday or day of month) in the merchant's zone
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the next occasion the dispatch job starts a run for (None: none is due)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[CampaignStatus] = mapped_column(enum_type(CampaignStatus), default=CampaignStatus.DRAFT)
    #: a coupon app: every recipient gets a unique code of it in ``{coupon}``
    coupon_app_id: Mapped[int | None] = mapped_column(sa.ForeignKey("keyword_apps.id", ondelete="SET NULL"))
    #: a survey the campaign invites to: its intro and first question follow the text, and each
    #: recipient's reply is the first answer (docs/campaigns.md)
    survey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("surveys.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    #: who created it in words (staff name, or ``cli``)
    created_by: Mapped[str] = mapped_column(sa.String(64), default="")
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    runs = relationship("CampaignRun", order_by="CampaignRun.id", lazy="select", back_populates="campaign",
                        cascade="all, delete-orphan")

    def __repr__(self):
        return f"<Campaign {self.id} {self.status.value}>"


class CampaignRun(IdMixin, db.Model):
    """One occasion of sending a campaign. Unique per (campaign, moment), so two schedulers that
    both find the campaign due start one run between them."""

    __tablename__ = "campaign_runs"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "scheduled_for", name="uq_campaign_runs_campaign_scheduled"),
        sa.Index("ix_campaign_runs_status", "status", "id"),
    )

    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    #: the occasion it sends for (the campaign's ``scheduled_at`` when it was picked up)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus), default=RunStatus.ENQUEUING)
    #: members in the segment when the run started (the progress bar's whole)
    targeted: Mapped[int] = mapped_column(default=0)
    #: the highest member id put in the outbox so far: a restarted enqueue goes on after it
    last_member_id: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: texts from its recipients until then count as replies to it
    replies_until: Mapped[datetime] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    campaign = relationship("Campaign", back_populates="runs")

    @property
    def occasion(self) -> str:
        """The outbox occasion of the run's messages (one message per number per occasion)."""
        return f"campaign-run:{self.id}"

    def __repr__(self):
        return f"<CampaignRun {self.id} {self.status.value}>"


class CampaignRecipient(db.Model):
    """The members a run selected when it started, kept until it has queued them all: the batches
    walk this list, so the segment's query runs once per run, and members who join the segment
    while it is being queued wait for the next occasion."""

    __tablename__ = "campaign_recipients"

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    member_id: Mapped[int] = mapped_column(primary_key=True)


class CampaignCoupon(db.Model):
    """The coupon a run handed a member: one per member and run (the key), issued in the same
    transaction as the member's message, so a resumed or repeated batch never issues a second."""

    __tablename__ = "campaign_coupons"
    __table_args__ = (sa.UniqueConstraint("coupon_id", name="uq_campaign_coupons_coupon"),)

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign_runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    member_id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon_codes.id", ondelete="CASCADE"))
