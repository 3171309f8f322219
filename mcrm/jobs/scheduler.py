"""The periodic jobs on APScheduler, with a database lease so that of several schedulers one acts.

Every scheduler process (``mcrm scheduler``, or the thread inside ``mcrm run``) keeps the same
triggers; a job that fires runs only in the process holding the lease (``jobs.services.LEASE``).
The holder renews it every third of its length; when it dies, another takes it once it has expired
and, as any scheduler does on taking it, runs once each job whose due time passed without a
completed run: missed while no scheduler acted, or interrupted by the one that died.

The catch-up runs go to a thread pool of this class, not to APScheduler: ``shutdown(wait=True)``
holds APScheduler's job-store lock while it waits for running jobs, so a heartbeat adding a job to it
at that moment (a SIGTERM just as the lease is taken) would wait on that lock for ever.
"""
import logging
import os
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from mcrm.core.clock import Clock, now_utc
from mcrm.extensions import db
from mcrm.jobs.definitions import TIMEZONE
from mcrm.jobs.models import RunKind
from mcrm.jobs.runner import run_job
from mcrm.jobs.schedule import Job, load_jobs
from mcrm.jobs.services import (acquire_lease, error_summary, interrupt_abandoned_runs, list_missed_jobs,
                                release_lease)

logger = logging.getLogger(__name__)

#: catch-up runs at once after a take-over; the rest wait for a free thread
CATCH_UP_THREADS = 4


class LeaderScheduler:
    """``scheduler`` (a Blocking- or BackgroundScheduler, not started) carrying ``jobs`` (default:
    definitions.JOBS) and the lease heartbeat. ``clock`` is the time the lease and the runs are
    measured by; APScheduler itself fires on the wall clock."""

    def __init__(self, app: Flask, scheduler: BaseScheduler, *, lease_seconds: float, clock: Clock = now_utc,
                 jobs: dict[str, Job] | None = None):
        self.app, self.scheduler, self.clock = app, scheduler, clock
        self.lease_seconds = lease_seconds
        self.jobs = load_jobs() if jobs is None else jobs
        self.host, self.pid = socket.gethostname(), os.getpid()
        #: unique even for two schedulers in one process, or a pid reused in a container
        self.holder = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"
        self._leader_until: datetime | None = None
        #: one run of a job at a time in this process (its scheduled run and a catch-up could meet)
        self._running = {job_id: threading.Lock() for job_id in self.jobs}
        self._catch_ups = ThreadPoolExecutor(max_workers=CATCH_UP_THREADS, thread_name_prefix="mcrm-catch-up")
        # misfire_grace_time=None: a run fired late (a busy or suspended machine) still runs, once
        for job in self.jobs.values():
            scheduler.add_job(self._run, job.trigger, args=[job.id, RunKind.SCHEDULED], id=job.id,
                              name=job.id, replace_existing=True, coalesce=True, max_instances=1,
                              misfire_grace_time=None)
        # the first heartbeat at once: a lone scheduler acts from its start
        scheduler.add_job(self.heartbeat, "interval", seconds=lease_seconds / 3, id="scheduler-lease",
                          next_run_time=datetime.now(TIMEZONE), coalesce=True, max_instances=1,
                          misfire_grace_time=None)

    def start(self) -> None:
        """Start the scheduler (a BlockingScheduler returns only when it stops)."""
        logger.info("scheduler %s starting with %d jobs (lease %ss)", self.holder, len(self.jobs),
                    self.lease_seconds)
        self.scheduler.start()

    def stop(self) -> None:
        """Let running jobs finish, then give the lease up so that another scheduler acts at once. A
        catch-up not started yet is dropped: it has no completed run, so the next scheduler runs it."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._catch_ups.shutdown(wait=True, cancel_futures=True)
        if self._leader_until is None:
            return
        self._leader_until = None
        with self.app.app_context():
            try:
                release_lease(self.holder, now=self.clock())
                db.session.commit()
            except SQLAlchemyError as error:
                logger.warning("could not release the scheduler lease (it expires by itself): %s",
                               error_summary(error))
        logger.info("scheduler %s stopped and released the lease", self.holder)

    def is_leader(self) -> bool:
        return self._leader_until is not None and self.clock() < self._leader_until

    def heartbeat(self) -> bool:
        """Take or renew the lease; on taking it, run once what was missed. Returns whether this
        scheduler acts. A database that does not answer leaves the lease to run out."""
        now = self.clock()
        was_leader = self.is_leader()
        with self.app.app_context():
            try:
                held = acquire_lease(self.holder, now=now, seconds=self.lease_seconds)
                db.session.commit()
                if not held:
                    if was_leader:
                        logger.warning("scheduler %s lost the lease to another scheduler", self.holder)
                    self._leader_until = None
                    return False
                # before the catch-up is queued: its runs check it
                self._leader_until = now + timedelta(seconds=self.lease_seconds)
                if not was_leader:
                    self._take_over(now)
            except SQLAlchemyError as error:
                db.session.rollback()
                logger.warning("scheduler lease not renewed: %s", error_summary(error))
                if not was_leader:
                    self._leader_until = None  # the next heartbeat takes over again
                return self.is_leader()
        return True

    def _take_over(self, now: datetime) -> None:
        """The lease was just taken: close the runs the previous holder left open, and queue once each
        job whose latest due time has no completed run."""
        logger.info("scheduler %s took the lease: it runs the jobs", self.holder)
        interrupted = interrupt_abandoned_runs(now=now, host=self.host, pid=self.pid)
        missed = list_missed_jobs(self.jobs, now=now)
        db.session.commit()
        if interrupted:
            logger.warning("%d job runs were interrupted by the previous scheduler's end", interrupted)
        for job, due in missed:
            logger.info("job %s has no run for %s: running it once now", job.id, due.isoformat())
            try:  # at once, not in this heartbeat
                self._catch_ups.submit(self._catch_up, job.id, due)
            except RuntimeError:  # stopping: the pool is shut
                logger.info("scheduler stopping: job %s is left to the next scheduler", job.id)
                return

    def _catch_up(self, job_id: str, due: datetime) -> None:
        try:
            self._run(job_id, RunKind.CATCH_UP, due)
        except Exception:  # APScheduler logs what its jobs raise; a bare pool would not
            logger.exception("catch-up run of job %s failed", job_id)

    def _run(self, job_id: str, kind: RunKind, due: datetime | None = None) -> None:
        """A trigger fired (or a catch-up was queued): run the job for its due time if this
        scheduler acts and the job is not already running here."""
        if not self.is_leader():
            return
        running = self._running[job_id]
        if not running.acquire(blocking=False):
            logger.info("job %s is still running: this run is left out", job_id)
            return
        try:
            job = self.jobs[job_id]
            now = self.clock()
            with self.app.app_context():
                run_job(job, now=due or job.previous_due(now) or now, kind=kind, clock=self.clock,
                        holder=self.holder)
        except SQLAlchemyError as error:  # the record of the run itself failed: the database is gone
            logger.error("job %s not recorded: %s", job_id, error_summary(error))
        finally:
            running.release()
