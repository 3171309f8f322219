"""What the scheduler keeps in the database: every job run, and the lease that makes one scheduler act."""
import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.models import IdMixin, UTCDateTime, enum_type
from mcrm.extensions import db


class RunKind(enum.StrEnum):
    SCHEDULED = "scheduled"  # at its time, by the scheduler holding the lease
    CATCH_UP = "catch_up"    # once on start, for the due time missed while no scheduler acted
    MANUAL = "manual"        # ``mcrm jobs run``


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"              # the job raised; ``error`` says what
    INTERRUPTED = "interrupted"    # its scheduler died mid-run (the next leader runs it again)


class JobRun(IdMixin, db.Model):
    __tablename__ = "job_runs"
    __table_args__ = (
        # a job's last run (``mcrm jobs list``, the catch-up on start)
        sa.Index("ix_job_runs_job_id_scheduled_for", "job_id", "scheduled_for"),
    )

    job_id: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[RunKind] = mapped_column(enum_type(RunKind))
    #: the time the run stands for, which the job got as ``now``: its due time, or a manual run's ``--now``
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[RunStatus] = mapped_column(enum_type(RunStatus))
    #: what the job returned (a count)
    result: Mapped[str | None] = mapped_column(sa.String(100))
    #: one line on a failure: the exception's type and first line, never bodies or parameters
    error: Mapped[str | None] = mapped_column(sa.String(300))
    #: the process that ran it
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int]

    def __repr__(self):
        return f"<JobRun {self.id} {self.job_id} {self.status.value}>"


class SchedulerLease(db.Model):
    """One row per lease name. The scheduler holding it (``holder``, until ``expires_at``) is the only
    one whose jobs run; it renews the lease every third of its length, and any other takes it once it
    has expired, with one conditional UPDATE that works alike on SQLite and PostgreSQL."""
    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    #: ``host:pid:random`` of the scheduler holding it
    holder: Mapped[str] = mapped_column(sa.String(300))
    #: since when this holder has held it
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
