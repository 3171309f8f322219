"""Two ``mcrm scheduler`` processes on one database (SQLite, or PostgreSQL when
MCRM_TEST_DATABASE_URL is set): one acts, and when it is killed (SIGKILL: no goodbye, its lease is
left to expire) the other takes over; SIGTERM hands the lease over at once. Bounded waits."""
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, UTC

import pytest
import sqlalchemy as sa

from mcrm.jobs.models import JobRun, RunStatus
from mcrm.jobs.services import find_lease
from tests.mcrm.test_settings import MCRM, mcrm_environ
from tests.smsc_peer import wait_until

LEASE_SECS = 2


def holder_pid(db) -> int | None:
    """The pid of the scheduler holding an unexpired lease, read without holding a transaction open."""
    db.session.rollback()
    lease = find_lease()
    pid = int(lease.holder.split(":")[-2]) if lease and lease.expires_at > datetime.now(UTC) else None
    db.session.rollback()
    return pid


def lease_expiry(db) -> datetime:
    db.session.rollback()
    expires_at = find_lease().expires_at
    db.session.rollback()
    return expires_at


def completed_runs(db) -> list[tuple[str, int]]:
    """Completed runs of the jobs that run once at start and then not for minutes (the every-minute
    jobs run as often as the minutes the test took)."""
    db.session.rollback()
    rows = db.session.execute(sa.select(JobRun.job_id, JobRun.pid).where(
        JobRun.status == RunStatus.OK, JobRun.job_id.not_in((
            "dispatch_campaigns", "send_agenda_reminders", "remind_overdue_tickets", "deliver_webhooks")))).all()
    db.session.rollback()
    return rows


@pytest.mark.slow
def test_one_scheduler_process_acts_and_another_takes_over_when_it_is_killed(settings, db, tmp_path):
    env = mcrm_environ(tmp_path, DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
                       MCRM_SCHEDULER_LEASE_SECS=str(LEASE_SECS))
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}
    processes = []

    def start(name):
        with open(logs[name], "w") as log:
            process = subprocess.Popen([str(MCRM), "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    try:
        first = start("first")
        wait_until(lambda: holder_pid(db) == first.pid, timeout=30, message="the first scheduler to lead")
        # nothing ran before: it runs each job once at start
        wait_until(lambda: len(completed_runs(db)) == 8, timeout=30, message="the first one's catch-up")
        second = start("second")
        wait_until(lambda: "starting with 12 jobs" in logs["second"].read_text(), timeout=30,
                   message="the second scheduler to start")
        # two renewals by the first while the second tries too
        renewed_from = lease_expiry(db)
        wait_until(lambda: (lease_expiry(db) - renewed_from).total_seconds() >= 2 * LEASE_SECS / 3, timeout=10,
                   message="two renewals")
        assert holder_pid(db) == first.pid
        assert {pid for _job, pid in completed_runs(db)} == {first.pid}

        first.kill()
        first.wait(timeout=10)
        killed = time.monotonic()
        wait_until(lambda: holder_pid(db) == second.pid, timeout=3 * LEASE_SECS + 5,
                   message="the second scheduler to take over")
        assert time.monotonic() - killed < LEASE_SECS + LEASE_SECS / 3 + 3   # lease, heartbeat, slack
        assert "took the lease" in logs["second"].read_text()
        assert len(completed_runs(db)) == 8   # nothing was missed meanwhile

        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
        assert holder_pid(db) is None   # handed over at once, not left to expire
        assert "released the lease" in logs["second"].read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def mcrm_run(settings, tmp_path):
    """``mcrm run`` on the test database: (the process, the file of its output); killed at the end if
    it still runs."""
    from tests.mcrm.test_startup import free_port
    env = mcrm_environ(tmp_path, DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
                       MCRM_PORT=str(free_port()))
    log = tmp_path / "run.log"
    with open(log, "w") as output:
        process = subprocess.Popen([str(MCRM), "run"], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.slow
def test_mcrm_run_acts_as_the_scheduler_beside_the_web_and_hands_over_on_sigterm(settings, db, tmp_path):
    with mcrm_run(settings, tmp_path) as (process, log):
        wait_until(lambda: holder_pid(db) == process.pid, timeout=30, message="mcrm run to lead")
        wait_until(lambda: len(completed_runs(db)) == 8, timeout=30, message="its catch-up")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert holder_pid(db) is None
        assert "Traceback" not in log.read_text()


@pytest.mark.slow
def test_mcrm_run_terminated_as_its_scheduler_takes_the_lease_still_gives_it_back(settings, db, tmp_path):
    """The scheduler thread takes its lease while the main thread is still starting the gateway and
    the inbound loop: a SIGTERM then must still stop everything and hand the lease over."""
    with mcrm_run(settings, tmp_path) as (process, log):
        wait_until(lambda: holder_pid(db) == process.pid, timeout=30, interval=0.005, message="mcrm run to lead")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert holder_pid(db) is None
        output = log.read_text()
        assert "released the lease" in output and "Traceback" not in output
