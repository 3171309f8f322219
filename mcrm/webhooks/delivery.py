"""The delivery job's work: claim the due deliveries, POST each, record the try.

A claim is one conditional UPDATE (``messaging.store.claim_update``: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; on SQLite the claim's own condition, repeated on the UPDATE under the write lock),
committed before any POST, so two schedulers, or a scheduler and ``mcrm jobs run``, never try one
row at once. A claim older than ``LEASE`` is taken over: its worker died mid-try. That try may have
reached the receiver, so delivery is at least once; the event id tells a receiver the repeat.
A try is recorded only while its claim holds, so a worker that outlived its lease records nothing.

Above messaging in the layer order (it reuses the outbox's claim); ``webhooks.services``, which
every feature emits through, stays below members.
"""
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from mcrm.extensions import db
from mcrm.messaging.store import claim_update
from mcrm.settings import Settings
from mcrm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from mcrm.webhooks.sending import Answer, post

logger = logging.getLogger(__name__)

#: rows a claim takes; with the longest timeout (30 s) a batch ends well inside the lease
BATCH = 10
LEASE = timedelta(minutes=10)
#: a run claims batch after batch for about this long (the job runs every minute)
RUN_BUDGET_SECS = 45
#: the wait after the first failed try; it doubles after each, up to ``MAX_WAIT``
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(hours=6)

_deliveries = WebhookDelivery.__table__
_endpoints = WebhookEndpoint.__table__


def retry_wait(attempts: int, rng: random.Random) -> timedelta:
    """The wait after ``attempts`` failed tries: doubling from ``FIRST_WAIT``, each between half and
    all of it at random, so the deliveries that failed together (a receiver down) spread out."""
    full = min(FIRST_WAIT * 2 ** (attempts - 1), MAX_WAIT)
    return full * rng.uniform(0.5, 1.0)


def _claim(worker_id: str, now: datetime, skip: set[int]) -> str | None:
    """Claim a batch of due deliveries of enabled endpoints but ``skip``; returns the claim id, or
    None when there was none."""
    claim_id = f"{worker_id}:{uuid.uuid4().hex[:12]}"
    enabled = sa.select(_endpoints.c.id).where(_endpoints.c.enabled.is_(True), _endpoints.c.id.not_in(skip))
    due = sa.and_(_deliveries.c.status == DeliveryStatus.PENDING.value, _deliveries.c.next_attempt_at <= now,
                  sa.or_(_deliveries.c.claim_id.is_(None), _deliveries.c.claimed_at < now - LEASE),
                  _deliveries.c.endpoint_id.in_(enabled))
    dialect = db.session.get_bind().dialect.name
    claimed = db.session.execute(claim_update(_deliveries, due, BATCH, dialect, claim_id=claim_id, claimed_at=now))
    return claim_id if claimed.rowcount else None


def _claimed_rows(claim_id: str) -> list:
    return db.session.execute(
        sa.select(_deliveries.c.id, _deliveries.c.event, _deliveries.c.event_id, _deliveries.c.body,
                  _deliveries.c.attempts, _deliveries.c.endpoint_id, _endpoints.c.url, _endpoints.c.secret)
        .join(_endpoints, _endpoints.c.id == _deliveries.c.endpoint_id)
        .where(_deliveries.c.claim_id == claim_id).order_by(_deliveries.c.id)).all()


def _record(row, claim_id: str, answer: Answer, *, now: datetime, max_attempts: int, rng: random.Random) -> None:
    attempts = row.attempts + 1
    values = dict(attempts=attempts, last_status_code=answer.status, last_error=answer.error[:200],
                  last_attempt_at=now, claim_id=None, claimed_at=None)
    if answer.ok:
        values.update(status=DeliveryStatus.DELIVERED.value, delivered_at=now, next_attempt_at=None)
    elif attempts >= max_attempts:
        values.update(status=DeliveryStatus.FAILED.value, next_attempt_at=None)
    else:
        values.update(next_attempt_at=now + retry_wait(attempts, rng))
    db.session.execute(_deliveries.update().where(_deliveries.c.id == row.id, _deliveries.c.claim_id == claim_id)
                       .values(**values))


def _release(claim_id: str, ids: list[int]) -> None:
    """Give rows back untried (their endpoint just failed): the next run tries them."""
    db.session.execute(_deliveries.update().where(_deliveries.c.id.in_(ids), _deliveries.c.claim_id == claim_id)
                       .values(claim_id=None, claimed_at=None))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver_due(settings: Settings, *, now: datetime, worker_id: str | None = None,
                rng: random.Random | None = None, clock: Callable[[], float] = time.time,
                budget_secs: float = RUN_BUDGET_SECS) -> int:
    """POST the due deliveries, batch after batch, for about ``budget_secs``; commits each claim
    before its POSTs and each try's record after it. Returns how many were tried.

    Within a run, an endpoint that failed once gets no more tries (its other rows go back for the
    next run), so one dead receiver cannot spend the run on timeouts."""
    rng = rng or random.Random()
    worker_id = worker_id or worker_name()
    started, tried = time.monotonic(), 0
    failing: set[int] = set()
    while time.monotonic() - started < budget_secs:
        claim_id = _claim(worker_id, now, failing)
        db.session.commit()
        if claim_id is None:
            break
        for row in _claimed_rows(claim_id):
            if row.endpoint_id in failing:
                _release(claim_id, [row.id])
                db.session.commit()
                continue
            answer = post(row.url, row.body.encode(), secret=row.secret, event=row.event, event_id=row.event_id,
                          timestamp=int(clock()), timeout=settings.webhook_timeout_secs,
                          allow_private=settings.webhook_allow_private)
            if not answer.ok:
                failing.add(row.endpoint_id)
                logger.info("webhook delivery %s to endpoint %s failed: %s", row.id, row.endpoint_id,
                            answer.status or answer.error)
            _record(row, claim_id, answer, now=now, max_attempts=settings.webhook_max_attempts, rng=rng)
            db.session.commit()
            tried += 1
    return tried
