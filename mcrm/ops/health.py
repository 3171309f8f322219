"""Liveness and readiness: what ``/readyz`` checks, and the gateways' heartbeat it reads.

Ready means the installation can do its work now: the database answers, a gateway has been bound to
the SMSC (the sandbox: running) within ``GATEWAY_STALE``, and a scheduler holds an unexpired lease
(the lease is the scheduler's heartbeat: its holder renews it every third of its length).
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from mcrm.extensions import db
from mcrm.jobs.models import SchedulerLease
from mcrm.jobs.services import LEASE
from mcrm.ops.models import GatewayHeartbeat

#: how often a gateway writes its heartbeat while its state does not change
GATEWAY_BEAT = timedelta(seconds=10)
#: a heartbeat older than this is a gateway that stopped, hung or lost its database
GATEWAY_STALE = timedelta(seconds=60)


@dataclass(frozen=True)
class Readiness:
    #: one short reason per failing part, empty when ready; never an address or a password
    reasons: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.reasons


def record_gateway_heartbeat(worker_id: str, *, bound: bool, transport: str, host: str, pid: int,
                             now: datetime) -> None:
    """Write ``worker_id``'s heartbeat (one row per worker id; one process runs each id)."""
    values = dict(host=host[:255], pid=pid, transport=transport, bound=bound, seen_at=now)
    updated = db.session.execute(sa.update(GatewayHeartbeat).where(GatewayHeartbeat.worker_id == worker_id)
                                 .values(**values).execution_options(synchronize_session=False))
    if not updated.rowcount:
        db.session.add(GatewayHeartbeat(worker_id=worker_id, **values))
    db.session.flush()


def list_bound_gateways(now: datetime) -> list[GatewayHeartbeat]:
    """The gateways that said within ``GATEWAY_STALE`` that they were bound."""
    return list(db.session.scalars(sa.select(GatewayHeartbeat).where(
        GatewayHeartbeat.bound.is_(True), GatewayHeartbeat.seen_at >= now - GATEWAY_STALE)
        .order_by(GatewayHeartbeat.worker_id)))


def has_fresh_scheduler(now: datetime) -> bool:
    return db.session.scalar(sa.select(SchedulerLease.name).where(
        SchedulerLease.name == LEASE, SchedulerLease.expires_at > now)) is not None


def check_readiness(now: datetime) -> Readiness:
    """Each part that is not ready, with a reason; a database that does not answer is the only one
    then (the others live in it)."""
    try:
        db.session.execute(sa.text("SELECT 1"))
        reasons = []
        if not list_bound_gateways(now):
            reasons.append(f"no gateway bound to the SMSC in the last {GATEWAY_STALE.seconds} s")
        if not has_fresh_scheduler(now):
            reasons.append("no scheduler holds an unexpired lease")
    except SQLAlchemyError:
        reasons = ["database unreachable"]
    finally:
        db.session.rollback()
    return Readiness(tuple(reasons))
