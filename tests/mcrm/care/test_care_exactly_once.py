"""One greeting per member when the day's run is killed mid-batch (SIGKILL: no cleanup) and the next
job run finishes it, and when two schedulers race on the same day."""
import signal
import subprocess
import sys
import textwrap

import sqlalchemy as sa

from mcrm.care import services
from mcrm.care.models import CareRun, RunStatus
from mcrm.messaging.models import OutboundMessage
from mcrm.points.models import PointsEntry
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


def test_a_run_killed_mid_batch_goes_on_after_its_last_commit(settings, db, merchant, make_member, greet, now,
                                                              tmp_path):
    members = [make_member(msisdn=f"138000000{n:02d}", birthday="1990-11-20").id for n in range(35)]
    greeting_id = greet(gift_points=10).id
    env = mcrm_environ(tmp_path, DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
                       MCRM_ENV="test")
    db.session.rollback()               # SQLite: this test's session must not hold the write lock
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_BATCH, str(greeting_id), now.isoformat(),
                             "2026-11-20"], env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
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


def test_two_schedulers_racing_on_the_same_day_greet_each_member_once(app, db, merchant, make_member, greet, now):
    members = [make_member(msisdn=f"138000000{n:02d}", birthday="1990-11-20").id for n in range(40)]
    greet(gift_points=10)
    queued = run_together(app, lambda n: services.run_due_greetings(now=now, batch_size=3), threads=2)
    assert sum(queued) == 40
    assert per_member(db, OutboundMessage) == dict.fromkeys(members, 1)
    assert per_member(db, PointsEntry) == dict.fromkeys(members, 1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CareRun)) == 1
