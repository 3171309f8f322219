"""When each periodic job falls due: the triggers of definitions.JOBS read in the scheduler's zone."""
from datetime import datetime, timedelta, UTC

import pytest

from mcrm.core.clock import ManualClock
from mcrm.jobs.definitions import TIMEZONE
from mcrm.jobs.schedule import load_jobs

JOBS = load_jobs()


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TIMEZONE)


@pytest.mark.parametrize("now, previous, following", [
    # at the minute itself the run is due; a second before, yesterday's was the last
    (local(2026, 3, 1, 2, 10), local(2026, 3, 1, 2, 10), local(2026, 3, 2, 2, 10)),
    (local(2026, 3, 1, 2, 9, 59), local(2026, 2, 28, 2, 10), local(2026, 3, 1, 2, 10)),
    (local(2026, 12, 31, 23, 59), local(2026, 12, 31, 2, 10), local(2027, 1, 1, 2, 10)),
])
def test_a_daily_job_is_due_at_its_local_time(now, previous, following):
    job = JOBS["expire_points"]
    assert job.previous_due(now) == previous
    assert job.next_due(now) == following


def test_times_are_read_in_the_schedulers_zone_whatever_zone_now_is_given_in():
    # 18:10 UTC on 28 February is 02:10 on 1 March in Shanghai
    assert JOBS["expire_points"].previous_due(datetime(2026, 2, 28, 18, 10, tzinfo=UTC)) == \
        local(2026, 3, 1, 2, 10)


def test_a_monthly_job_looks_back_a_whole_month():
    job = JOBS["refresh_tiers"]
    assert job.previous_due(local(2026, 3, 31, 23, 0)) == local(2026, 3, 1, 3, 0)
    assert job.previous_due(local(2026, 3, 1, 2, 59)) == local(2026, 2, 1, 3, 0)
    assert job.next_due(local(2026, 3, 1, 3, 0)) == local(2026, 4, 1, 3, 0)


def test_intervals_fall_on_the_same_clock_times_in_every_process():
    # counted from a fixed origin, not from when the process started: two schedulers share slots
    job = JOBS["release_stale_sms_claims"]
    assert job.previous_due(local(2026, 3, 1, 10, 7, 30)) == local(2026, 3, 1, 10, 5)
    assert job.next_due(local(2026, 3, 1, 10, 7, 30)) == local(2026, 3, 1, 10, 10)
    assert job.next_due(local(2026, 3, 1, 10, 10)) == local(2026, 3, 1, 10, 15)
    assert load_jobs()["release_stale_sms_claims"].previous_due(local(2026, 3, 1, 10, 7)) == \
        local(2026, 3, 1, 10, 5)


def test_two_jobs_with_one_id_are_refused_at_start():
    definition = {"id": "twice", "func": "mcrm.jobs.tasks:expire_points", "trigger": "cron", "hour": 1}
    with pytest.raises(ValueError, match="two jobs are called twice"):
        load_jobs([definition, definition])


def test_a_manual_clock_stands_still_until_moved():
    clock = ManualClock(local(2026, 3, 1, 9, 0))
    assert clock() == clock() == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=5)) == clock() == datetime(2026, 3, 1, 1, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2026, 3, 1))
