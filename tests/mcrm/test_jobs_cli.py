"""``mcrm jobs list`` and ``mcrm jobs run NAME [--now ISO-TIME]``: what ran and what runs next, and a
day replayed on demand with the clock the job is given."""
import re
from datetime import datetime, timedelta, UTC

from mcrm.jobs.definitions import TIMEZONE
from mcrm.jobs.models import JobRun, RunKind, RunStatus
from mcrm.jobs.services import acquire_lease
from mcrm.members.models import Member
from mcrm.points.services import Actor, record_purchase


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TIMEZONE)


def test_jobs_run_replays_a_day_with_the_time_given(runner, db, merchant, make_member):
    member = make_member()
    record_purchase(member, merchant, 100, actor=Actor("t"), now=local(2025, 3, 1, 1, 0))  # lapses 2026-03-01 01:00
    db.session.commit()
    before = runner.invoke(args=["jobs", "run", "expire_points", "--now", "2026-03-01T00:59"])   # Shanghai time
    assert before.exit_code == 0, before.output
    assert before.output.startswith("job expire_points for 2026-03-01T00:59:00+08:00: ok (0)")
    assert db.session.get(Member, member.id).points_balance == 100
    after = runner.invoke(args=["jobs", "run", "expire_points", "--now", "2026-02-28T19:00Z"])  # 03:00 there
    assert after.exit_code == 0, after.output
    assert after.output.startswith("job expire_points for 2026-03-01T03:00:00+08:00: ok (1)")
    db.session.expire_all()
    assert db.session.get(Member, member.id).points_balance == 0
    recorded = db.session.query(JobRun).order_by(JobRun.id).all()
    assert [(run.kind, run.scheduled_for, run.result) for run in recorded] == [
        (RunKind.MANUAL, local(2026, 3, 1, 0, 59), "0"), (RunKind.MANUAL, local(2026, 3, 1, 3, 0), "1")]


def test_jobs_run_refuses_an_unknown_job_or_time_with_status_2(runner, db):
    unknown = runner.invoke(args=["jobs", "run", "expire_everything"])
    assert unknown.exit_code == 2
    assert "no job named 'expire_everything'; the jobs are expire_points, refresh_tiers" in unknown.output
    bad_time = runner.invoke(args=["jobs", "run", "expire_points", "--now", "yesterday"])
    assert bad_time.exit_code == 2 and "is not an ISO 8601 time like 2026-03-01T03:00+08:00" in bad_time.output
    assert db.session.query(JobRun).count() == 0


def test_jobs_list_shows_each_trigger_last_run_result_and_next_run(runner, db):
    now = datetime.now(UTC)
    db.session.add_all([
        JobRun(job_id="expire_points", kind=RunKind.SCHEDULED, scheduled_for=now - timedelta(minutes=1),
               started_at=now, finished_at=now, status=RunStatus.OK, result="12", host="h", pid=1),
        JobRun(job_id="refresh_tiers", kind=RunKind.SCHEDULED, scheduled_for=now - timedelta(days=40),
               started_at=now - timedelta(days=40), finished_at=now - timedelta(days=40),
               status=RunStatus.FAILED, error="OperationalError: database is locked", host="h", pid=1),
    ])
    db.session.commit()
    result = runner.invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Scheduler: none has run yet"
    assert lines[1].split() == ["JOB", "TRIGGER", "LAST", "RUN", "RESULT", "NEXT", "RUN"]
    expire = next(line for line in lines if line.startswith("expire_points "))
    assert "cron hour=2 minute=10" in expire and "ok: 12" in expire
    assert re.search(r"ok: 12 +\d{4}-\d\d-\d\dT02:10:00\+08:00$", expire), expire
    tiers = next(line for line in lines if line.startswith("refresh_tiers "))
    assert "failed: OperationalError: database is locked" in tiers
    # its last run stands for a month ago: the next scheduler to start runs it once
    assert re.search(r"when a scheduler starts \(missed \d{4}-\d\d-01T03:00:00\+08:00\), then ", tiers), tiers
    never = next(line for line in lines if line.startswith("release_stale_sms_claims "))
    assert "interval minutes=5" in never and " never " in never

    acquire_lease("web-1:4242:abcdef", now=now, seconds=30)
    db.session.commit()
    acting = runner.invoke(args=["jobs", "list"]).output.splitlines()
    assert acting[0].startswith("Scheduler: web-1:4242:abcdef acts (since ")
    assert "now (due " in next(line for line in acting if line.startswith("refresh_tiers "))


def test_a_manual_run_for_a_later_day_does_not_hide_a_missed_run(runner, db):
    from mcrm.jobs.schedule import load_jobs
    from mcrm.jobs.services import list_missed_jobs
    now = datetime.now(UTC)
    assert runner.invoke(args=["jobs", "run", "refresh_tiers"]).exit_code == 0
    assert "refresh_tiers" not in [job.id for job, _due in list_missed_jobs(load_jobs(), now=now)]
    future = (now + timedelta(days=90)).isoformat()
    assert runner.invoke(args=["jobs", "run", "expire_points", "--now", future]).exit_code == 0
    assert "expire_points" in [job.id for job, _due in list_missed_jobs(load_jobs(), now=now)]
