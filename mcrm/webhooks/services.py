"""Webhook endpoints (made, switched on and off by the owner) and events: ``emit`` writes one
delivery row per subscribed endpoint in the caller's transaction, so an event commits, or rolls
back, with the change that caused it and survives any process. Low in the layer order, as the audit
log is, so every feature may emit. The delivery job is ``webhooks.delivery``."""
import json
import secrets
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from mcrm.core.errors import ValidationError
from mcrm.extensions import db
from mcrm.merchants.models import Merchant
from mcrm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from mcrm.webhooks.sending import resolve

SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS = 10
#: how long delivered and failed deliveries stay in the log
KEEP_FINISHED = timedelta(days=30)


def create_endpoint(merchant: Merchant, *, url: str, events: list[str], actor, now: datetime,
                    allow_private: bool) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned to be shown once). Flushes."""
    url = (url or "").strip()
    if len(url) > 500:
        raise ValidationError("A webhook URL is at most 500 characters")
    resolve(url, allow_private=allow_private)
    chosen = [event for event in WebhookEvent if event in set(events or ())]
    if not chosen or len(chosen) != len(set(events)):
        raise ValidationError("Choose at least one event, from the listed ones")
    if len(list_endpoints(merchant)) >= MAX_ENDPOINTS:
        raise ValidationError("A merchant has at most %(count)s webhook endpoints", count=MAX_ENDPOINTS)
    secret = _new_secret()
    endpoint = WebhookEndpoint(merchant_id=merchant.id, url=url, events=[str(e) for e in chosen],
                               secret=secret, enabled=True, created_by_id=actor.id, created_at=now)
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def replace_secret(endpoint: WebhookEndpoint) -> str:
    """Give an endpoint a new signing secret (returned to be shown once), for a secret that leaked
    or a receiver set up again. Deliveries are signed when they are sent, so every try from now on,
    waiting ones included, carries the new one. Flushes."""
    endpoint.secret = _new_secret()
    db.session.flush()
    return endpoint.secret


def delete_endpoint(endpoint: WebhookEndpoint) -> int:
    """Delete an endpoint and its deliveries, waiting ones too: nothing more is sent to it and its
    log goes with it. Returns the deliveries deleted. Flushes."""
    # deleted here, not left to the foreign key: SQLite enforces no ON DELETE without its pragma
    deleted = db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                                 ).rowcount
    db.session.delete(endpoint)
    db.session.flush()
    return deleted


def list_endpoints(merchant: Merchant) -> list[WebhookEndpoint]:
    return list(db.session.scalars(sa.select(WebhookEndpoint)
                                   .where(WebhookEndpoint.merchant_id == merchant.id).order_by(WebhookEndpoint.id)))


def set_endpoint_enabled(endpoint: WebhookEndpoint, enabled: bool) -> bool:
    """Switch an endpoint on or off; returns whether it changed. Off, it gets no new events and its
    waiting deliveries wait (the job skips them) until it is on again. Flushes."""
    if endpoint.enabled == enabled:
        return False
    endpoint.enabled = enabled
    db.session.flush()
    return True


# built once with bind parameters: every join by SMS asks it
_SUBSCRIBERS = sa.select(WebhookEndpoint.id, WebhookEndpoint.events).where(
    WebhookEndpoint.merchant_id == sa.bindparam("merchant_id"), WebhookEndpoint.enabled.is_(True))
_INSERT_DELIVERY = sa.insert(WebhookDelivery.__table__)


def emit(merchant_id: int, event: WebhookEvent, items: list[dict], *, now: datetime) -> int:
    """Queue an event per item of ``items`` (its ``data``) for each of the merchant's enabled
    endpoints that chose ``event``, in the caller's transaction. Returns the deliveries queued."""
    if not items:
        return 0
    endpoints = [row.id for row in db.session.execute(_SUBSCRIBERS, {"merchant_id": merchant_id})
                 if event in row.events]
    if not endpoints:
        return 0
    rows = []
    for data in items:
        event_id = str(uuid.uuid4())
        body = json.dumps({"id": event_id, "type": str(event), "created_at": now.isoformat(), "data": data},
                          ensure_ascii=False, separators=(",", ":"))
        rows += [dict(merchant_id=merchant_id, endpoint_id=endpoint_id, event=str(event), event_id=event_id,
                      body=body, status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now,
                      last_error="", created_at=now) for endpoint_id in endpoints]
    db.session.execute(_INSERT_DELIVERY, rows)
    return len(rows)


def list_deliveries(merchant: Merchant, *, status: str = "", before_id: int | None = None,
                    limit: int = 50) -> list[WebhookDelivery]:
    """The merchant's deliveries, newest first, a page at a time."""
    query = sa.select(WebhookDelivery).where(WebhookDelivery.merchant_id == merchant.id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return list(db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)))


def resend_delivery(delivery: WebhookDelivery, *, now: datetime) -> None:
    """Send a delivery again with all its tries (a failed one, or a delivered one the receiver
    lost); the same event id, so the receiver can tell. Refused while it is still being tried."""
    if delivery.status == DeliveryStatus.PENDING:
        raise ValidationError("This delivery is still being tried")
    delivery.status, delivery.attempts, delivery.next_attempt_at = DeliveryStatus.PENDING, 0, now
    delivery.claim_id = delivery.claimed_at = delivery.delivered_at = None
    db.session.flush()


def forget_deliveries(*, now: datetime) -> int:
    """Delete delivered and failed deliveries older than ``KEEP_FINISHED``; returns how many."""
    return db.session.execute(sa.delete(WebhookDelivery).where(
        WebhookDelivery.status.in_([DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value]),
        WebhookDelivery.created_at < now - KEEP_FINISHED)).rowcount


def erase_deliveries(merchant_id: int, *, member_no: str, msisdn: str) -> int:
    """Delete the deliveries that name a member whose data is erased, sent or still waiting: an
    erased member's events are neither kept nor sent on. Returns how many."""
    # the bodies are written compact (``emit``), so the member's fields read exactly so
    names = sa.or_(WebhookDelivery.body.contains(f'"member_no":"{member_no}"', autoescape=True),
                   WebhookDelivery.body.contains(f'"msisdn":"{msisdn}"', autoescape=True))
    return db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.merchant_id == merchant_id, names)
                              ).rowcount
