"""Job functions: run inside an app context, call one service per merchant, commit. Idempotent.

Each periodic job takes ``now``, the moment it runs for (its due time, or ``mcrm jobs run --now``),
so that a missed day can be replayed; it never reads the clock itself.
"""
import logging
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from mcrm.agenda.services import send_due_reminders
from mcrm.api.services import forget_requests
from mcrm.campaigns.services import dispatch_due
from mcrm.care.services import run_due_greetings
from mcrm.core.clock import now_utc
from mcrm.core.errors import ConflictError
from mcrm.extensions import db
from mcrm.feedback.services import send_overdue_reminders
from mcrm.keywords.apps.custom import send_event_reminders
from mcrm.keywords.engine import handle_inbound_sms
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import InboundMessage
from mcrm.messaging.services import (blank_old_bodies, claim_inbound, mark_inbound_batch_done, mark_inbound_done,
                                     mark_inbound_failed, release_stale_claims)
from mcrm.points.services import expire_due_points, refresh_all_tiers
from mcrm.webhooks.delivery import deliver_due
from mcrm.webhooks.services import forget_deliveries

logger = logging.getLogger(__name__)

_INBOUND_COLUMNS = [column.key for column in sa.inspect(InboundMessage).column_attrs]


def _active_merchants() -> list[Merchant]:
    return db.session.scalars(sa.select(Merchant).where(Merchant.is_active.is_(True)).order_by(Merchant.id)).all()


def _for_each_merchant(service, counted: str, now: datetime) -> int:
    """Run ``service(merchant, now=now)`` for every active merchant, committing after each one."""
    total = 0
    for merchant in _active_merchants():
        count = service(merchant, now=now)
        db.session.commit()
        total += count
        logger.info("%s: %s for merchant %s", counted, count, merchant.id)
    return total


def expire_points(*, now: datetime) -> int:
    """Daily: lapse points past their expiry, first in, first out."""
    return _for_each_merchant(expire_due_points, "members whose points expired", now)


def blank_old_message_bodies(*, now: datetime) -> int:
    """Daily: blank the texts of messages older than each merchant keeps them."""
    return _for_each_merchant(blank_old_bodies, "messages whose text was blanked", now)


def refresh_tiers(*, now: datetime) -> int:
    """Monthly: re-evaluate every member's tier (tenure bonuses, points earned more than 12 months ago)."""
    return _for_each_merchant(refresh_all_tiers, "members who changed tier", now)


def release_stale_sms_claims(*, now: datetime) -> int:
    """Every few minutes: give back messages claimed by a gateway worker that died and never
    came back under its own worker id (a restarted one releases its claims itself)."""
    released = release_stale_claims(now)
    db.session.commit()
    return released


def forget_api_requests(*, now: datetime) -> int:
    """Daily: drop the stored answers of idempotent API requests older than a week."""
    forgotten = forget_requests(now=now)
    db.session.commit()
    return forgotten


def process_inbound_sms(worker_id: str = "jobs", limit: int = 50, now=None) -> int:
    """Answer new MOs: claim a batch, run the keyword engine on each, commit the batch once.

    The batch runs in one transaction: a savepoint per MO cost an eighth of the work. If any MO
    raises, the batch is rolled back (the claims were committed first, so its rows stay this
    worker's) and run again with a savepoint per MO, so an MO whose app fails is rolled back alone
    and marked FAILED with the reason while the others are answered. The batch commits once (a
    commit per MO costs more than the engine); a crash before it leaves the rows claimed and
    unanswered, and another worker takes them after the lease, so nothing is lost or answered
    twice. Returns how many were claimed. ``now`` pins the clock (tests, benchmarks).
    """
    clock = (lambda: now) if now is not None else now_utc
    claimed = claim_inbound(worker_id, limit, clock())
    db.session.commit()
    # the rows as claimed: a rolled-back batch puts them back (they are detached, so the rollback
    # does not, and they would still show the DONE marks it took away)
    as_claimed = [{key: getattr(inbound, key) for key in _INBOUND_COLUMNS} for inbound in claimed]
    try:
        for inbound in claimed:
            handle_inbound_sms(inbound, now=clock())
        mark_inbound_batch_done(claimed, now=clock())
        db.session.flush()  # any error shows here, not in the commit
    except Exception as error:  # noqa: BLE001  the batch is answered again, one MO at a time
        db.session.rollback()
        for inbound, values in zip(claimed, as_claimed, strict=True):
            for key, value in values.items():
                set_committed_value(inbound, key, value)
        logger.info("a batch of %d MOs %s: answering it again one MO at a time", len(claimed),
                    "met a concurrent insert" if isinstance(error, IntegrityError) else "had a failing MO")
        _answer_each_alone(claimed, clock)
    db.session.commit()
    return len(claimed)


def _answer_each_alone(claimed: list, clock) -> None:
    """Each MO in its own savepoint: its effects, replies and DONE mark stand or fall together, and
    one that raises is rolled back alone and marked FAILED with the reason."""

    def answer(inbound):
        with db.session.begin_nested():
            handle_inbound_sms(inbound, now=clock())
            mark_inbound_done(inbound, now=clock())

    for inbound in claimed:
        try:
            try:
                answer(inbound)
            except IntegrityError:
                # another worker committed the same row first (two "ZC" texts from one phone at
                # once): run it again, it now sees that row and answers "already a member"
                logger.info("MO %s met a concurrent insert: answering it again", inbound.id)
                answer(inbound)
        except Exception as error:  # one bad MO must not stop the others
            logger.exception("MO %s failed", inbound.id)
            try:
                mark_inbound_failed(inbound, now=clock(), error=f"{type(error).__name__}: {error}")
            except ConflictError:
                pass  # the lease ran out and another worker answers it


def remind_event_signups(*, now: datetime) -> int:
    """Every few minutes: text confirmed sign-ups of events about to start (once each)."""
    return _for_each_merchant(send_event_reminders, "event reminders sent", now)


def send_agenda_reminders(*, now: datetime) -> int:
    """Every minute: text agenda reminders that are due, and tell owners of unconfirmed ones."""
    return _for_each_merchant(send_due_reminders, "agenda SMS queued", now)


def remind_overdue_tickets(*, now: datetime) -> int:
    """Every minute: text the assignee, then the owners, of feedback tickets past their response
    target (once each)."""
    return _for_each_merchant(send_overdue_reminders, "overdue ticket reminders queued", now)


def dispatch_campaigns(*, now: datetime) -> int:
    """Every minute: start the campaign runs that are due, queue their members in batches (each
    committed: a run stopped half-way goes on from its last batch), finish the runs that are sent."""
    return dispatch_due(now=now)


def care(*, now: datetime) -> int:
    """Every few minutes: the care greetings whose local hour has come today (birthdays, festivals,
    special days), in batches, each committed; once per member and occasion however often it runs."""
    return run_due_greetings(now=now)


def deliver_webhooks(*, now: datetime) -> int:
    """Every minute: POST the webhook events that are due (new ones, and retries whose wait is
    over), committing each try; returns how many were tried."""
    return deliver_due(current_app.extensions["mcrm_settings"], now=now)


def forget_webhook_deliveries(*, now: datetime) -> int:
    """Daily: drop delivered and failed webhook deliveries older than 30 days."""
    forgotten = forget_deliveries(now=now)
    db.session.commit()
    return forgotten
