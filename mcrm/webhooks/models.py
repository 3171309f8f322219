"""A merchant's webhook endpoints, and one delivery row per event and endpoint."""
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, UTCDateTime
from mcrm.extensions import db


class WebhookEvent(StrEnum):
    MEMBER_JOINED = "member.joined"
    MEMBER_OPTED_OUT = "member.opted_out"
    FEEDBACK_RECEIVED = "feedback.received"
    CAMPAIGN_FINISHED = "campaign.finished"
    SURVEY_COMPLETED = "survey.completed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"      # waiting for its next try (or being tried by the claim's holder)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"        # every try failed; the owner may send it again


class WebhookEndpoint(IdMixin, db.Model):
    """Where a merchant wants events POSTed. The secret is kept whole, not hashed: every delivery
    is signed with it. The console shows it once, when it is made."""

    __tablename__ = "webhook_endpoints"

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    #: the ``WebhookEvent`` values it gets
    events: Mapped[list] = mapped_column(sa.JSON, default=list)
    secret: Mapped[str] = mapped_column(sa.String(80))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(IdMixin, db.Model):
    """One event for one endpoint: written with the change that caused it, so it outlives any
    process; the delivery job claims it, POSTs it, and records each try here."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
                      sa.Index("ix_webhook_deliveries_merchant_id", "merchant_id", "id"))

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
                                             index=True)
    event: Mapped[str] = mapped_column(sa.String(40))
    #: one id per event, the same for each endpoint and every try: receivers drop repeats by it
    event_id: Mapped[str] = mapped_column(sa.String(36))
    #: the JSON body exactly as POSTed (what the event carries: docs/webhooks.md)
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the worker trying it now, and since when (a claim older than the lease is taken over)
    claim_id: Mapped[str | None] = mapped_column(sa.String(80))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(sa.String(200), default="")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
