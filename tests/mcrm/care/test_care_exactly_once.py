"""One greeting per member when the day's run is killed mid-batch (SIGKILL: no cleanup) and the next
job run finishes it, for the birthday, the win-back, the churn warning and the points and tier
notices, and when two schedulers race on the same day."""
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from mcrm.care import services
from mcrm.care.models import CareMemberTier, CareRun, RunStatus
from mcrm.core.recurrence import add_months
from mcrm.members.models import Member
from mcrm.messaging.models import OutboundMessage
from mcrm.points.models import PointsEntry
from mcrm.points.services import SYSTEM, grant_points, record_purchase
from tests.concurrency import run_together
from tests.mcrm.test_settings import mcrm_environ

#: queues two batches, then dies by SIGKILL in the middle of the third: its rows and gifts are
#: written in the transaction, the run's last member moved on, nothing committed
KILLED_MID_BATCH = textwrap.dedent("""
    import os, signal, sys
    from datetime import date, datetime
    from mcrm import create_app
    from mcrm.care import services
    from mcrm.care.models import CareGreeting
    from mcrm.extensions import db
    app = create_app()
    with app.app_context():
        now = datetime.fromisoformat(sys.argv[2])
        greeting = db.session.get(CareGreeting, int(sys.argv[1]))
        run_id = services.start_run(greeting, date.fromisoformat(sys.argv[3]), now)
        db.session.commit()
        for _ in range(2):
            services.run_batch(run_id, now=now, batch_size=10)
            db.session.commit()
        services.run_batch(run_id, now=now, batch_size=10)
        db.session.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def per_member(db, model) -> dict:
    db.session.rollback()
    counts = dict(db.session.execute(sa.select(model.member_id, sa.func.count()).group_by(model.member_id)).all())
    db.session.rollback()
    return counts


def kill_mid_batch(settings, db, greeting_id, now, tmp_path) -> None:
    """Run the greeting's day (2026-11-20) in a process that SIGKILLs itself in its third batch."""
    env = mcrm_environ(tmp_path, DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
                       MCRM_ENV="test")
    db.session.rollback()               # SQLite: this test's session must not hold the write lock
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_BATCH, str(greeting_id), now.isoformat(),
                             "2026-11-20"], env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def gifts(db) -> dict:
    """Points the greetings gave, per member (their ledger key names the occasion)."""
    db.session.rollback()
    counts = dict(db.session.execute(sa.select(PointsEntry.member_id, sa.func.count())
                                     .where(PointsEntry.idempotency_key.like("care:%"))
                                     .group_by(PointsEntry.member_id)).all())
    db.session.rollback()
    return counts


def test_a_run_killed_mid_batch_goes_on_after_its_last_commit(settings, db, merchant, make_member, greet, now,
                                                              tmp_path):
    members = [make_member(msisdn=f"138000000{n:02d}", birthday="1990-11-20").id for n in range(35)]
    greeting_id = greet(gift_points=10).id
    kill_mid_batch(settings, db, greeting_id, now, tmp_path)
    assert sorted(per_member(db, OutboundMessage)) == members[:20]     # two batches committed, the third lost
    assert sorted(per_member(db, PointsEntry)) == members[:20]
    run = db.session.scalar(sa.select(CareRun))
    assert (run.status, run.last_member_id) == (RunStatus.ENQUEUING, members[19])
    db.session.rollback()
    services.run_due_greetings(now=now, batch_size=10)                 # the restart: the next job run
    assert per_member(db, OutboundMessage) == dict.fromkeys(members, 1)
    assert per_member(db, PointsEntry) == dict.fromkeys(members, 1)
    db.session.refresh(run)
    assert run.status is RunStatus.DONE


def absent(db, merchant, make_member, greet, now) -> tuple[int, list[int]]:
    """35 members last seen 400 days ago, and a win-back after 90 days with a gift."""
    members = [make_member(msisdn=f"138000000{n:02d}", joined_at=now - timedelta(days=400)).id for n in range(35)]
    return greet(kind="win_back", body="{name}，好久不见", days=90, gift_points=10).id, members


def spending_less(db, merchant, make_member, greet, now) -> tuple[int, list[int]]:
    """35 members who spent 400 in the period before last and nothing in the last one."""
    greeting = greet(kind="churn", body="{name}，期待您再次光临", days=30, drop_percent=50, gift_points=10)
    _current, (start, _middle, _end) = services.churn_periods(merchant, greeting, now.date())
    members = []
    for n in range(35):
        member = make_member(msisdn=f"138000000{n:02d}", joined_at=start - timedelta(days=1))
        record_purchase(member, merchant, Decimal(400), actor=SYSTEM, now=start + timedelta(days=1))
        members.append(member.id)
    db.session.commit()
    return greeting.id, members


def lapsing(db, merchant, make_member, greet, now) -> tuple[int, list[int]]:
    """35 members whose points earned a year ago lapse within the week."""
    members = [make_member(msisdn=f"138000000{n:02d}") for n in range(35)]
    for member in members:
        grant_points(member, merchant, 100, reason="test", actor=SYSTEM, now=add_months(now, -12) + timedelta(days=3))
    db.session.commit()
    return greet(kind="points_expiring", body="您有{expiring_points}积分即将到期", days=7).id, [m.id for m in members]


def moved_up(db, merchant, make_member, greet, now) -> tuple[int, list[int]]:
    """35 members seen in 银卡 by yesterday's run (the first look), in 金卡 since."""
    members = [make_member(msisdn=f"138000000{n:02d}").id for n in range(35)]
    db.session.execute(sa.update(Member).where(Member.id.in_(members)).values(tier="银卡"))
    db.session.commit()
    greeting = greet(kind="tier_change", code="up", body="恭喜升级为{tier}")
    services.run_due_greetings(now=now - timedelta(days=1))
    db.session.execute(sa.update(Member).where(Member.id.in_(members)).values(tier="金卡"))
    db.session.commit()
    return greeting.id, members


@pytest.mark.parametrize("setup, gives", [(absent, True), (spending_less, True), (lapsing, False),
                                          (moved_up, False)], ids=["win_back", "churn", "points_expiring",
                                                                   "tier_change"])
def test_every_kind_killed_mid_batch_sends_each_member_exactly_one(settings, db, merchant, make_member, greet,
                                                                    now, tmp_path, setup, gives):
    greeting_id, members = setup(db, merchant, make_member, greet, now)
    kill_mid_batch(settings, db, greeting_id, now, tmp_path)
    assert sorted(per_member(db, OutboundMessage)) == members[:20]     # two batches committed, the third lost
    assert sorted(gifts(db)) == (members[:20] if gives else [])
    services.run_due_greetings(now=now, batch_size=10)                 # the restart: the next job run
    services.run_due_greetings(now=now + timedelta(hours=1), batch_size=10)   # and the job once more
    assert per_member(db, OutboundMessage) == dict.fromkeys(members, 1)
    assert gifts(db) == (dict.fromkeys(members, 1) if gives else {})
    if setup is moved_up:                                               # the tier seen moved on with each batch
        assert set(db.session.scalars(sa.select(CareMemberTier.tier))) == {"金卡"}
    run = db.session.scalar(sa.select(CareRun).where(CareRun.greeting_id == greeting_id,
                                                     CareRun.day == now.date()))
    assert run.status is RunStatus.DONE


def test_two_schedulers_racing_on_the_same_day_greet_each_member_once(app, db, merchant, make_member, greet, now):
    members = [make_member(msisdn=f"138000000{n:02d}", birthday="1990-11-20").id for n in range(40)]
    greet(gift_points=10)
    queued = run_together(app, lambda n: services.run_due_greetings(now=now, batch_size=3), threads=2)
    assert sum(queued) == 40
    assert per_member(db, OutboundMessage) == dict.fromkeys(members, 1)
    assert per_member(db, PointsEntry) == dict.fromkeys(members, 1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CareRun)) == 1
