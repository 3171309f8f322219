"""Liveness and readiness: what ``/readyz`` checks, and the gateways' heartbeat it reads.

Ready means the installation can do its work now: the database answers, a gateway has been bound to
the SMSC (the sandbox: running) within ``GATEWAY_STALE``, and a scheduler holds an unexpired lease
(the lease is the scheduler's heartbeat: its holder renews it every third of its length).

A probe must answer in bounded time when the database does not: the check runs in a thread of its
own and the answer waits for it ``READY_TIMEOUT`` at most.
"""
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
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
#: how long ``/readyz`` waits for the database: a load balancer's probe gives up after a few seconds
READY_TIMEOUT = 2.0


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


def check_readiness(now: datetime, *, app, timeout: float = READY_TIMEOUT) -> Readiness:
    """Each part that is not ready, with a reason; a database that does not answer (refuses, or
    has not answered within ``timeout`` seconds) is the only one then (the others live in it).

    A check that outlives ``timeout`` goes on in its thread until the engine's connect timeout
    (``MCRM_DB_CONNECT_TIMEOUT``) or the statement ends it, so hung probes cannot pile up for ever."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="readyz")
    try:
        return Readiness(executor.submit(_check_in_context, app, now).result(timeout))
    except FutureTimeout:
        return Readiness((f"database did not answer within {timeout:g} s",))
    finally:
        executor.shutdown(wait=False)


def _check_in_context(app, now: datetime) -> tuple[str, ...]:
    with app.app_context():
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
        return tuple(reasons)
