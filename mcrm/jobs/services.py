"""Job runs and the scheduler lease: what lets several schedulers run while one acts, and a missed
run happen once on start. Services flush; the scheduler and the ``mcrm jobs`` command commit."""
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from mcrm.core.errors import DomainError
from mcrm.extensions import db
from mcrm.jobs.models import JobRun, RunKind, RunStatus, SchedulerLease
from mcrm.jobs.schedule import Job

#: the lease every scheduler of an installation competes for
LEASE = "scheduler"
#: runs that count as done for the catch-up: a failure was a run (recorded, and shown by ``mcrm jobs
#: list``); one its scheduler died in was not
_COMPLETED = (RunStatus.OK, RunStatus.FAILED)


# --- the lease -------------------------------------------------------------------------------

def acquire_lease(holder: str, *, now: datetime, seconds: float) -> bool:
    """Renew the lease if ``holder`` has it, else take it if it has expired (or was never taken).
    True when ``holder`` holds it until ``now + seconds``.

    Each step is one conditional UPDATE, so two schedulers taking an expired lease at once cannot both
    succeed: PostgreSQL re-checks the condition on the row the first one changed, SQLite runs one
    writer at a time."""
    expires_at = now + timedelta(seconds=seconds)
    lease = sa.update(SchedulerLease).where(SchedulerLease.name == LEASE).execution_options(
        synchronize_session=False)
    renewed = db.session.execute(lease.where(SchedulerLease.holder == holder).values(expires_at=expires_at))
    if renewed.rowcount:
        return True
    taken = db.session.execute(lease.where(SchedulerLease.expires_at <= now).values(
        holder=holder, acquired_at=now, expires_at=expires_at))
    if taken.rowcount:
        return True
    if find_lease() is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(SchedulerLease(name=LEASE, holder=holder, acquired_at=now, expires_at=expires_at))
    except IntegrityError:
        return False  # another scheduler created it first, and holds it
    return True


def confirm_lease(holder: str, *, now: datetime) -> bool:
    """Whether ``holder`` still holds the lease at ``now``, locking its row until the transaction
    ends: a run recorded in that transaction starts under a lease nobody else can take meanwhile."""
    touched = db.session.execute(
        sa.update(SchedulerLease).where(SchedulerLease.name == LEASE, SchedulerLease.holder == holder,
                                        SchedulerLease.expires_at > now)
        .values(holder=holder).execution_options(synchronize_session=False))
    return touched.rowcount == 1


def release_lease(holder: str, *, now: datetime) -> None:
    """Give the lease up at once (a clean stop), so another scheduler need not wait for it to expire."""
    db.session.execute(
        sa.update(SchedulerLease).where(SchedulerLease.name == LEASE, SchedulerLease.holder == holder)
        .values(expires_at=now).execution_options(synchronize_session=False))


def find_lease() -> SchedulerLease | None:
    return db.session.scalar(sa.select(SchedulerLease).where(SchedulerLease.name == LEASE))


# --- runs ------------------------------------------------------------------------------------

def has_run_for(job_id: str, due: datetime) -> bool:
    """Whether a scheduler's run of ``job_id`` stands for ``due`` or later, done or under way: a
    trigger that fires twice for one due time (a late thread, two schedulers at a handover) runs once."""
    return db.session.scalar(
        sa.select(JobRun.id).where(JobRun.job_id == job_id, JobRun.kind != RunKind.MANUAL,
                                   JobRun.status != RunStatus.INTERRUPTED, JobRun.scheduled_for >= due)
        .limit(1)) is not None


def start_run(job_id: str, *, kind: RunKind, scheduled_for: datetime, now: datetime, host: str,
              pid: int) -> JobRun:
    """Record that a run of ``job_id`` for ``scheduled_for`` starts at ``now``."""
    run = JobRun(job_id=job_id, kind=kind, scheduled_for=scheduled_for, started_at=now,
                 status=RunStatus.RUNNING, host=host[:255], pid=pid)
    db.session.add(run)
    db.session.flush()
    return run


def finish_run(run: JobRun, *, now: datetime, result=None, error: str | None = None) -> None:
    run.finished_at = now
    if error is None:
        run.status, run.result = RunStatus.OK, None if result is None else str(result)[:100]
    else:
        run.status, run.error = RunStatus.FAILED, error[:300]
    db.session.flush()


def interrupt_abandoned_runs(*, now: datetime, host: str, pid: int) -> int:
    """Mark the scheduled runs left RUNNING by other processes as interrupted: called by a scheduler
    that has just taken the lease, so their scheduler stopped holding it (it died, or lost the
    database) before they finished. Manual runs are left alone: ``mcrm jobs run`` holds no lease."""
    abandoned = db.session.execute(
        sa.update(JobRun).where(JobRun.status == RunStatus.RUNNING, JobRun.kind != RunKind.MANUAL,
                                sa.not_(sa.and_(JobRun.host == host, JobRun.pid == pid)))
        .values(status=RunStatus.INTERRUPTED, finished_at=now,
                error="its scheduler stopped before the run finished")
        .execution_options(synchronize_session=False))
    return abandoned.rowcount


def _last_completed(jobs: dict[str, Job]) -> dict[str, datetime]:
    """Each job's latest ``scheduled_for`` among its completed runs."""
    rows = db.session.execute(
        sa.select(JobRun.job_id, sa.func.max(JobRun.scheduled_for))
        .where(JobRun.job_id.in_(list(jobs)), JobRun.status.in_(_COMPLETED),
               # a manual run for a later moment than it ran at covers nothing that has passed
               sa.or_(JobRun.kind != RunKind.MANUAL, JobRun.scheduled_for <= JobRun.started_at))
        .group_by(JobRun.job_id))
    return {job_id: last for job_id, last in rows}


def list_missed_jobs(jobs: dict[str, Job], *, now: datetime) -> list[tuple[Job, datetime]]:
    """The jobs whose last completed run stands for a time before their latest due time (or that never
    ran), each with that due time: what to run once on start. Several periods missed are one run."""
    last = _last_completed(jobs)
    missed = []
    for job in jobs.values():
        due = job.previous_due(now)
        if due is not None and (job.id not in last or last[job.id] < due):
            missed.append((job, due))
    return missed


@dataclass(frozen=True)
class JobState:
    """A job as ``mcrm jobs list`` shows it."""
    job: Job
    last_run: JobRun | None
    #: the due time a scheduler will run on start, when no completed run stands for it
    missed: datetime | None
    next_due: datetime | None


def list_job_states(jobs: dict[str, Job], *, now: datetime) -> list[JobState]:
    missed = dict((job.id, due) for job, due in list_missed_jobs(jobs, now=now))
    states = []
    for job in jobs.values():
        last_run = db.session.scalar(sa.select(JobRun).where(JobRun.job_id == job.id)
                                     .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1))
        states.append(JobState(job, last_run, missed.get(job.id), job.next_due(now)))
    return states


def error_summary(error: BaseException) -> str:
    """One line about a failure, safe to store and log: the exception's type and the first line of
    its message. A database error gives its driver's first line, never the statement or its
    parameters (they may hold an SMS body or a phone number)."""
    if isinstance(error, DomainError):
        text = error.message
    elif isinstance(error, SQLAlchemyError) and getattr(error, "orig", None) is not None:
        error = error.orig
        text = str(error)
    elif isinstance(error, SQLAlchemyError):
        text = ""  # its text quotes the statement
    else:
        text = str(error)
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    name = type(error).__name__
    return f"{name}: {first_line}"[:300] if first_line else name
