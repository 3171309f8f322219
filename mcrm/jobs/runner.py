"""Run one job and record it: the boundary that commits, shared by the scheduler and ``mcrm jobs run``."""
import logging
import os
import socket
import traceback
from datetime import datetime

from mcrm.core.clock import Clock, now_utc
from mcrm.extensions import db
from mcrm.jobs.models import JobRun, RunKind
from mcrm.jobs.schedule import Job
from mcrm.jobs.services import confirm_lease, error_summary, finish_run, has_run_for, start_run

logger = logging.getLogger(__name__)


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
        result = job.func(now=now)
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
