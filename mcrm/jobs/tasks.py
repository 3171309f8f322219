"""Job functions: run inside an app context, call one service per merchant, commit. Idempotent."""
import logging

import sqlalchemy as sa

from mcrm.core.clock import now_utc
from mcrm.extensions import db
from mcrm.merchants.models import Merchant

logger = logging.getLogger(__name__)


def _active_merchants() -> list[Merchant]:
    return db.session.scalars(sa.select(Merchant).where(Merchant.is_active.is_(True)).order_by(Merchant.id)).all()


def expire_points() -> int:
    """Daily: lapse points past their expiry, first in, first out."""
    from mcrm.points.services import expire_due_points
    total = 0
    for merchant in _active_merchants():
        touched = expire_due_points(merchant, now=now_utc())
        db.session.commit()
        total += touched
        logger.info("expired points of %s members of merchant %s", touched, merchant.id)
    return total


def refresh_tiers() -> int:
    """Monthly: re-evaluate every member's tier (tenure bonuses, points earned more than 12 months ago)."""
    from mcrm.points.services import refresh_all_tiers
    total = 0
    for merchant in _active_merchants():
        changed = refresh_all_tiers(merchant, now=now_utc())
        db.session.commit()
        total += changed
        logger.info("tiers changed for %s members of merchant %s", changed, merchant.id)
    return total


def process_inbound_sms(worker_id: str = "jobs", limit: int = 50, now=None) -> int:
    """Answer new MOs: claim a batch, run the keyword engine on each, commit the batch once.

    Each MO runs in its own savepoint: its effects, its replies and its DONE mark stand or fall
    together, and an MO whose app fails is rolled back alone and marked FAILED with the reason. The
    batch commits once (a commit per MO costs more than the engine); a crash before it leaves the
    rows claimed and unanswered, and another worker takes them after the lease, so nothing is lost
    or answered twice. Returns how many were claimed. ``now`` pins the clock (tests, benchmarks).
    """
    from sqlalchemy.exc import IntegrityError

    from mcrm.core.errors import ConflictError
    from mcrm.keywords.services import handle_inbound_sms
    from mcrm.messaging.services import claim_inbound, mark_inbound_done, mark_inbound_failed
    clock = (lambda: now) if now is not None else now_utc
    claimed = claim_inbound(worker_id, limit, clock())
    db.session.commit()
    for inbound in claimed:
        try:
            try:
                with db.session.begin_nested():
                    handle_inbound_sms(inbound, now=clock())
                    mark_inbound_done(inbound, now=clock())
            except IntegrityError:
                # another worker committed the same row first (two "ZC" texts from one phone at
                # once): run it again, it now sees that row and answers "already a member"
                logger.info("MO %s met a concurrent insert: answering it again", inbound.id)
                with db.session.begin_nested():
                    handle_inbound_sms(inbound, now=clock())
                    mark_inbound_done(inbound, now=clock())
        except Exception as error:  # noqa: BLE001  one bad MO must not stop the others
            logger.exception("MO %s failed", inbound.id)
            try:
                mark_inbound_failed(inbound, now=clock(), error=f"{type(error).__name__}: {error}")
            except ConflictError:
                pass  # the lease ran out and another worker answers it
    db.session.commit()
    return len(claimed)


def remind_event_signups() -> int:
    """Every few minutes: text confirmed sign-ups of events about to start (once each)."""
    from mcrm.keywords.services import send_event_reminders
    total = 0
    for merchant in _active_merchants():
        total += send_event_reminders(merchant, now=now_utc())
        db.session.commit()
    return total
