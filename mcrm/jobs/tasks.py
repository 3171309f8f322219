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
