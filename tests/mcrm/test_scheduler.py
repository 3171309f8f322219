"""The scheduler: the lease that lets one of several schedulers act, runs recorded, a missed run
happening once on start, failures recorded without secrets. Real database (SQLite, or PostgreSQL
when MCRM_TEST_DATABASE_URL is set), real APScheduler threads, bounded waits."""
import logging
import time
from datetime import datetime, timedelta, UTC

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from flask import current_app

from mcrm import create_app
from mcrm.core.clock import ManualClock
from mcrm.jobs.definitions import TIMEZONE
from mcrm.jobs.models import JobRun, RunKind, RunStatus, SchedulerLease
from mcrm.jobs.runner import run_job
from mcrm.jobs.schedule import load_jobs
from mcrm.jobs.scheduler import LeaderScheduler
from mcrm.jobs.services import LEASE, acquire_lease, error_summary, find_lease, release_lease
from tests.smsc_peer import wait_until

#: (app, now) of every run of ``tick``, in order
TICKS: list = []
#: what must never reach a run's record or the log: an SMS body with a code in it
SECRET_BODY = "生日快乐 验证码 834211"


def tick(*, now):
    """A job for these tests: notes which scheduler's app ran it, and for when."""
    TICKS.append((current_app._get_current_object(), now))
    return 1


def leaky_failure(*, now):
    """A job failing inside the database, with an SMS body among its statement's parameters."""
    from mcrm.extensions import db
    statement = sa.text("SELECT body FROM no_such_table WHERE body = :body")
    db.session.execute(statement, {"body": SECRET_BODY})


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TIMEZONE)


def runs(db, job_id=None) -> list[JobRun]:
    """The recorded runs as they are now, read without keeping a transaction (and on SQLite its write
    lock) open while the schedulers' threads write."""
    query = sa.select(JobRun).order_by(JobRun.id)
    if job_id:
        query = query.where(JobRun.job_id == job_id)
    db.session.rollback()
    found = db.session.scalars(query).all()
    db.session.expunge_all()
    db.session.rollback()
    return found


@pytest.fixture
def leaders(app):
    """leaders(**kwargs) → a LeaderScheduler on a BackgroundScheduler, each with its own app (and so
    its own database connections, as separate processes would have); all are stopped at the end."""
    made = []

    def make(*, lease_seconds=30, clock=None, jobs=None, start=True):
        own_app = create_app(app.extensions["mcrm_settings"])
        leader = LeaderScheduler(own_app, BackgroundScheduler(timezone=TIMEZONE), lease_seconds=lease_seconds,
                                 clock=clock or ManualClock(local(2026, 3, 5, 9, 0)), jobs=jobs)
        made.append(leader)
        if start:
            leader.start()
        return leader

    yield make
    for leader in made:
        leader.stop()


@pytest.fixture(autouse=True)
def _no_ticks():
    TICKS.clear()
    yield
    TICKS.clear()


# --- the lease -------------------------------------------------------------------------------

def test_one_scheduler_holds_the_lease_and_another_takes_it_only_once_it_expired(db):
    start = local(2026, 3, 5, 9, 0)
    assert acquire_lease("a", now=start, seconds=30)
    db.session.commit()
    assert not acquire_lease("b", now=start + timedelta(seconds=29), seconds=30)
    assert acquire_lease("a", now=start + timedelta(seconds=20), seconds=30)   # renewed until 09:00:50
    assert not acquire_lease("b", now=start + timedelta(seconds=49), seconds=30)
    assert acquire_lease("b", now=start + timedelta(seconds=50), seconds=30)
    assert not acquire_lease("a", now=start + timedelta(seconds=51), seconds=30)
    db.session.commit()
    lease = find_lease()
    assert (lease.holder, lease.acquired_at, lease.expires_at) == \
        ("b", start + timedelta(seconds=50), start + timedelta(seconds=80))


def test_a_released_lease_is_taken_at_once(db):
    start = local(2026, 3, 5, 9, 0)
    assert acquire_lease("a", now=start, seconds=30)
    release_lease("a", now=start + timedelta(seconds=1))
    assert acquire_lease("b", now=start + timedelta(seconds=1), seconds=30)


# --- runs ------------------------------------------------------------------------------------

def test_a_run_is_recorded_from_start_to_result(db):
    clock = ManualClock(local(2026, 3, 5, 9, 0))
    run = run_job(load_jobs()["expire_points"], now=local(2026, 3, 1, 3, 0), kind=RunKind.MANUAL, clock=clock)
    assert (run.job_id, run.kind, run.status, run.result) == ("expire_points", RunKind.MANUAL, RunStatus.OK, "0")
    assert run.scheduled_for == local(2026, 3, 1, 3, 0)
    assert run.started_at == run.finished_at == clock()
    assert run.pid > 0 and run.host


def test_a_failing_job_is_recorded_and_logged_with_a_summary_never_its_parameters(db, caplog):
    job = load_jobs([{"id": "leaky", "func": "tests.mcrm.test_scheduler:leaky_failure",
                      "trigger": "cron", "hour": 4}])["leaky"]
    with caplog.at_level(logging.INFO, logger="mcrm.jobs"):
        run = run_job(job, now=local(2026, 3, 5, 4, 0), kind=RunKind.MANUAL)
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    assert "no_such_table" in run.error and run.error.count("\n") == 0
    assert "834211" not in run.error and "SELECT" not in run.error
    failure = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(failure) == 1 and "job leaky for 2026-03-05T04:00:00+08:00 failed" in failure[0].getMessage()
    assert "test_scheduler.py" in failure[0].getMessage()    # where it failed, for whoever reads the log
    assert "834211" not in caplog.text and "no_such_table WHERE" not in caplog.text
    assert runs(db, "leaky")[0].status == RunStatus.FAILED   # committed, not rolled back with the job


def test_an_error_summary_is_one_line_without_the_statement():
    try:
        raise sa.exc.StatementError("boom", "SELECT :body", {"body": "secret text"}, None)
    except sa.exc.StatementError as error:
        assert error_summary(error) == "StatementError"
    assert error_summary(ValueError("first line\nsecond line")) == "ValueError: first line"


def test_a_scheduler_without_the_lease_starts_no_run_and_a_due_time_runs_once(db):
    job, due = load_jobs()["expire_points"], local(2026, 3, 5, 2, 10)
    clock = ManualClock(due)
    assert acquire_lease("a", now=clock(), seconds=30)
    db.session.commit()
    assert run_job(job, now=due, kind=RunKind.SCHEDULED, clock=clock, holder="b") is None
    assert run_job(job, now=due, kind=RunKind.SCHEDULED, clock=clock, holder="a").status == RunStatus.OK
    # a second firing for the same due time (a late thread, a handover) is left out
    assert run_job(job, now=due, kind=RunKind.CATCH_UP, clock=clock, holder="a") is None
    clock.advance(timedelta(seconds=31))   # the lease ran out: "a" stalled
    assert run_job(job, now=due + timedelta(days=1), kind=RunKind.SCHEDULED, clock=clock, holder="a") is None
    assert [run.scheduled_for for run in runs(db)] == [due]


# --- the catch-up on start -------------------------------------------------------------------

def test_a_run_missed_while_no_scheduler_acted_happens_once_on_start(db, leaders):
    jobs = load_jobs()
    # expire_points last ran for 20 February: 13 days were missed; refresh_tiers ran for 1 March
    run_job(jobs["expire_points"], now=local(2026, 2, 20, 2, 10), kind=RunKind.SCHEDULED)
    run_job(jobs["refresh_tiers"], now=local(2026, 3, 1, 3, 0), kind=RunKind.SCHEDULED)
    clock = ManualClock(local(2026, 3, 5, 9, 2))
    first = leaders(clock=clock)
    wait_until(lambda: len(runs(db)) == 2 + 11 and all(run.finished_at for run in runs(db)),
               timeout=10, message="the catch-up runs")
    caught_up = {run.job_id: run for run in runs(db) if run.kind == RunKind.CATCH_UP}
    assert {job_id: run.scheduled_for for job_id, run in caught_up.items()} == {
        "expire_points": local(2026, 3, 5, 2, 10),       # once, for the latest due time
        "forget_api_requests": local(2026, 3, 5, 4, 40),
        "remind_event_signups": local(2026, 3, 5, 9, 0),  # never ran: once, too
        "care": local(2026, 3, 5, 9, 0),
        "blank_old_message_bodies": local(2026, 3, 5, 4, 20),
        "release_stale_sms_claims": local(2026, 3, 5, 9, 0),
        "dispatch_campaigns": local(2026, 3, 5, 9, 2),
        "send_agenda_reminders": local(2026, 3, 5, 9, 2),
        "remind_overdue_tickets": local(2026, 3, 5, 9, 2),
        "deliver_webhooks": local(2026, 3, 5, 9, 2),
        "forget_webhook_deliveries": local(2026, 3, 5, 4, 50),
    }
    assert {run.status for run in caught_up.values()} == {RunStatus.OK}
    assert first.heartbeat() is True   # renewing queues nothing again
    first.stop()
    leaders(clock=clock)               # a restart finds nothing missed
    clock.advance(timedelta(days=2))   # down over two nights: one run of expire_points
    leaders(clock=clock)
    wait_until(lambda: len(runs(db, "expire_points")) == 3 and runs(db, "expire_points")[-1].finished_at,
               timeout=10, message="the second catch-up")
    assert runs(db, "expire_points")[-1].scheduled_for == local(2026, 3, 7, 2, 10)
    assert len(runs(db, "refresh_tiers")) == 1


def test_a_run_its_scheduler_died_in_is_marked_interrupted_and_run_again_by_the_next(db, leaders):
    due = local(2026, 3, 5, 2, 10)
    for job_id, slot in [("expire_points", due), ("refresh_tiers", local(2026, 3, 1, 3, 0)),
                         ("remind_event_signups", local(2026, 3, 5, 9, 0)),
                         ("care", local(2026, 3, 5, 9, 0)),
                         ("blank_old_message_bodies", local(2026, 3, 5, 4, 20)),
                         ("forget_api_requests", local(2026, 3, 5, 4, 40)),
                         ("release_stale_sms_claims", local(2026, 3, 5, 9, 0)),
                         ("dispatch_campaigns", local(2026, 3, 5, 9, 1)),
                         ("send_agenda_reminders", local(2026, 3, 5, 9, 1)),
                         ("remind_overdue_tickets", local(2026, 3, 5, 9, 1)),
                         ("deliver_webhooks", local(2026, 3, 5, 9, 1)),
                         ("forget_webhook_deliveries", local(2026, 3, 5, 4, 50))]:
        db.session.add(JobRun(job_id=job_id, kind=RunKind.SCHEDULED, scheduled_for=slot, started_at=slot,
                              finished_at=None if job_id == "expire_points" else slot,
                              status=RunStatus.RUNNING if job_id == "expire_points" else RunStatus.OK,
                              host="dead-host", pid=4242))
    db.session.add(SchedulerLease(name=LEASE, holder="dead-host:4242:abcdef", acquired_at=due,
                                  expires_at=local(2026, 3, 5, 9, 0, 30)))
    db.session.commit()
    leaders(clock=ManualClock(local(2026, 3, 5, 9, 1)))
    wait_until(lambda: len(runs(db, "expire_points")) == 2 and runs(db, "expire_points")[-1].finished_at,
               timeout=10, message="the run again")
    interrupted, again = runs(db, "expire_points")
    assert interrupted.status == RunStatus.INTERRUPTED and "stopped before the run finished" in interrupted.error
    assert (again.kind, again.scheduled_for, again.status) == (RunKind.CATCH_UP, due, RunStatus.OK)
    assert len(runs(db)) == 13   # nothing else was missed


# --- two schedulers --------------------------------------------------------------------------

def test_of_two_schedulers_only_the_leader_runs_each_job_and_the_other_takes_over_when_it_dies(db, leaders):
    """Both run the same every-second job on the wall clock, with a 1.5 s lease renewed every 0.5 s.
    While the first lives, only it runs the job; once it dies without a word (its lease is left to
    expire), the second takes over within the lease, and no due time runs twice."""
    from mcrm.core.clock import now_utc
    jobs = load_jobs([{"id": "tick", "func": "tests.mcrm.test_scheduler:tick", "trigger": "interval",
                       "seconds": 1}])
    first = leaders(lease_seconds=1.5, clock=now_utc, jobs=jobs)
    wait_until(first.is_leader, timeout=5, message="the first scheduler to lead")
    second = leaders(lease_seconds=1.5, clock=now_utc, jobs=jobs)
    wait_until(lambda: len(TICKS) >= 3, timeout=10, message="three ticks")
    assert not second.is_leader()
    assert {app for app, _now in TICKS} == {first.app}

    first.scheduler.shutdown(wait=True)   # dies: no more heartbeats, the lease is not released
    died = time.monotonic()
    ticks_before = len(TICKS)
    wait_until(second.is_leader, timeout=5, message="the second scheduler to take over")
    assert time.monotonic() - died < 1.5 + 0.5 + 1.0   # the lease, a heartbeat, and slack
    wait_until(lambda: len(TICKS) >= ticks_before + 3, timeout=10, message="the second one's ticks")
    assert {app for app, _now in TICKS[ticks_before:]} == {second.app}
    due_times = [now for _app, now in TICKS]
    assert len(due_times) == len(set(due_times)), "a due time ran twice"
    recorded = [run for run in runs(db, "tick") if run.status == RunStatus.OK]
    assert sorted(run.scheduled_for for run in recorded) == sorted(due_times)
    assert len({(run.host, run.pid) for run in recorded}) == 1   # both in this process: told apart above
    second.stop()
    db.session.rollback()
    assert find_lease().expires_at <= datetime.now(UTC)   # released on a clean stop
    db.session.rollback()


def test_of_two_schedulers_starting_at_once_exactly_one_leads(db, leaders):
    from mcrm.core.clock import now_utc
    both = [leaders(lease_seconds=3, clock=now_utc, jobs={}) for _ in range(2)]
    wait_until(lambda: any(leader.is_leader() for leader in both), timeout=5, message="a leader")
    assert not all(leader.heartbeat() for leader in both)
    assert sum(leader.is_leader() for leader in both) == 1


def test_a_scheduler_stopped_as_it_takes_the_lease_stops_and_gives_the_lease_back(db, leaders, monkeypatch):
    """A SIGTERM at start calls stop() while the first heartbeat takes the lease: APScheduler's
    shutdown waits for that heartbeat holding its job-store lock, so queueing the catch-ups must not
    need that lock (it did, and stop() waited for ever)."""
    import threading

    from mcrm.jobs import scheduler as scheduler_module
    taking, real_list = threading.Event(), scheduler_module.list_missed_jobs

    def list_missed_slowly(jobs, *, now):
        taking.set()
        time.sleep(0.5)   # stop() is called meanwhile and waits for this heartbeat
        return real_list(jobs, now=now)
    monkeypatch.setattr(scheduler_module, "list_missed_jobs", list_missed_slowly)
    clock = ManualClock(local(2026, 3, 5, 9, 2))
    leader = leaders(clock=clock)
    assert taking.wait(10)
    stopping = threading.Thread(target=leader.stop, daemon=True)
    stopping.start()
    stopping.join(timeout=15)
    assert not stopping.is_alive(), "stop() is still waiting"
    db.session.rollback()
    assert find_lease().expires_at <= clock()   # given back
    assert all(run.finished_at for run in runs(db))   # a catch-up begun was let finish


#: the tries of ``deadlocked_once`` and what it needs to stage its deadlock
DEADLOCK: dict = {}


def deadlocked_once(*, now):
    """A job adding 1 to rows 1 and 2 of ``deadlock_rows``. On its first try another connection
    holds row 2 and then waits for row 1: a real deadlock, in which this job waits first, so
    PostgreSQL picks it as the victim (the first to reach its deadlock_timeout checks and gives up)."""
    import threading

    from mcrm.extensions import db
    DEADLOCK["tries"] += 1
    bump = sa.text("UPDATE deadlock_rows SET n = n + 1 WHERE id = :id")
    if DEADLOCK["tries"] == 1:
        holds_two, engine = threading.Event(), db.engine

        def other():
            with engine.begin() as connection:
                connection.execute(bump, {"id": 2})
                holds_two.set()
                time.sleep(0.3)                    # the job is waiting for row 2 by now
                connection.execute(bump, {"id": 1})
        DEADLOCK["other"] = threading.Thread(target=other)
        db.session.execute(bump, {"id": 1})
        DEADLOCK["other"].start()
        assert holds_two.wait(10)
    else:
        db.session.execute(bump, {"id": 1})
    db.session.execute(bump, {"id": 2})
    return 2


@pytest.mark.postgres
def test_a_job_the_database_undoes_to_break_a_deadlock_is_tried_again_and_recorded_once(db, caplog):
    db.session.execute(sa.text("CREATE TABLE deadlock_rows (id integer PRIMARY KEY, n integer NOT NULL)"))
    db.session.execute(sa.text("INSERT INTO deadlock_rows VALUES (1, 0), (2, 0)"))
    db.session.commit()
    DEADLOCK.clear()
    DEADLOCK["tries"] = 0
    job = load_jobs([{"id": "deadlocked", "func": "tests.mcrm.test_scheduler:deadlocked_once",
                      "trigger": "cron", "hour": 4}])["deadlocked"]
    try:
        with caplog.at_level(logging.INFO, logger="mcrm.jobs"):
            run = run_job(job, now=local(2026, 3, 5, 4, 0), kind=RunKind.MANUAL)
        DEADLOCK["other"].join(10)
        assert (run.status, run.result, run.error) == (RunStatus.OK, "2", None)
        assert DEADLOCK["tries"] == 2 and "DeadlockDetected" in caplog.text and "trying again" in caplog.text
        # the other transaction's 1 and the job's second try's 1, on each row: the first try left nothing
        assert db.session.execute(sa.text("SELECT n FROM deadlock_rows ORDER BY id")).scalars().all() == [2, 2]
        assert len(runs(db, "deadlocked")) == 1
    finally:
        db.session.rollback()
        db.session.execute(sa.text("DROP TABLE deadlock_rows"))
        db.session.commit()
