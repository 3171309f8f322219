"""Run one job and record it: the boundary that commits, shared by the scheduler and ``mcrm jobs run``."""
import logging
import os
import random
import socket
import time
import traceback
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from mcrm.core.clock import Clock, now_utc
from mcrm.extensions import db
from mcrm.jobs.models import JobRun, RunKind
from mcrm.jobs.schedule import Job
from mcrm.jobs.services import confirm_lease, error_summary, finish_run, has_run_for, start_run

logger = logging.getLogger(__name__)

#: how often a job is tried again at once when the database undid it to break a deadlock
TRANSIENT_RETRIES = 3
#: PostgreSQL's "deadlock detected" and "could not serialize access": the work was undone whole and
#: may succeed when tried again (two jobs of one scheduler run in parallel threads and may lock the
#: same members in different orders)
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def run_job(job: Job, *, now: datetime, kind: RunKind, clock: Clock = now_utc,
            holder: str | None = None) -> JobRun | None:
    """Run ``job.func(now=now)`` and record the run: its start is committed before the job begins
    (``mcrm jobs list`` shows it running; a run its process dies in stays visible), its end with the
    count the job returned or, on an exception, the job's own work rolled back and a one-line
    summary.

    ``holder``: the scheduler whose run it is (None for ``mcrm jobs run``). Its run starts only while
    it holds the lease and no scheduled or catch-up run stands for ``now`` yet; else None.
    """
    started = clock()
    if holder is not None:
        # one transaction from the check to the record: the lease row stays locked meanwhile
        if not confirm_lease(holder, now=started):
            db.session.rollback()
            logger.info("job %s not run: this scheduler no longer holds the lease", job.id)
            return None
        if has_run_for(job.id, now):
            db.session.rollback()
            logger.info("job %s already ran for %s", job.id, now.isoformat())
            return None
    run = start_run(job.id, kind=kind, scheduled_for=now, now=started, host=socket.gethostname(),
                    pid=os.getpid())
    db.session.commit()
    try:
        result = _call(job, now=now)
    except Exception as error:  # noqa: BLE001  recorded and logged; the next run is another chance
        db.session.rollback()
        summary = error_summary(error)
        finish_run(run, now=clock(), error=summary)
        db.session.commit()
        # the frames only: the exception's own text may quote a statement's parameters
        logger.error("job %s for %s failed: %s\n%s", job.id, now.isoformat(), summary,
                     "".join(traceback.format_tb(error.__traceback__)).rstrip())
        return run
    finish_run(run, now=clock(), result=result)
    db.session.commit()
    logger.info("job %s for %s: ok (%s) in %.1fs", job.id, now.isoformat(), result,
                (run.finished_at - run.started_at).total_seconds())
    return run


def _call(job: Job, *, now: datetime) -> object:
    """``job.func(now=now)``, tried again (up to ``TRANSIENT_RETRIES`` times, after a short random
    pause) when the database undid it as a deadlock's victim: jobs are written to be run again for
    the same ``now``, and waiting for the next period would delay a daily job by a day."""
    retries = 0
    while True:
        try:
            return job.func(now=now)
        except DBAPIError as error:
            if retries == TRANSIENT_RETRIES or not is_transient(error):
                raise
            retries += 1
            db.session.rollback()
            logger.warning("job %s for %s: %s; trying again", job.id, now.isoformat(), error_summary(error))
            time.sleep(random.uniform(0.1, 0.5) * retries)
