"""One copy per member per run when the enqueue is killed mid-batch (SIGKILL: no cleanup) and a
restart finishes it, and when two dispatchers race (threads; on PostgreSQL too when
MCRM_TEST_DATABASE_URL is set). The gentler repeats (dispatch twice) are in test_campaign_services."""
import signal
import subprocess
import sys
import textwrap

import sqlalchemy as sa

from mcrm.campaigns import services
from mcrm.campaigns.models import Campaign, CampaignRun, RunStatus
from mcrm.messaging.models import OutboundMessage
from tests.concurrency import run_together
from tests.mcrm.test_settings import mcrm_environ

#: a process that queues two batches, then dies by SIGKILL in the middle of the third: its rows are
#: written in the transaction, the run's last member moved on, nothing committed
KILLED_MID_BATCH = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from mcrm import create_app
    from mcrm.campaigns import services
    from mcrm.extensions import db
    app = create_app()
    with app.app_context():
        now = datetime.fromisoformat(sys.argv[2])
        run = services._start_run(int(sys.argv[1]), now)
        db.session.commit()
        for _ in range(2):
            services.enqueue_batch(run.id, now=now, batch_size=10)
            db.session.commit()
        services.enqueue_batch(run.id, now=now, batch_size=10)
        db.session.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def rows_per_member(db) -> dict:
    db.session.rollback()
    counts = dict(db.session.execute(sa.select(OutboundMessage.member_id, sa.func.count())
                                     .group_by(OutboundMessage.member_id)).all())
    db.session.rollback()
    return counts


def test_an_enqueue_killed_mid_batch_resumes_after_its_last_commit(settings, db, merchant, make_member,
                                                                    launch, now, tmp_path):
    members = [make_member(msisdn=f"138000000{n:02d}").id for n in range(35)]
    campaign_id = launch().id
    env = mcrm_environ(tmp_path, DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
                       MCRM_ENV="test")
    db.session.rollback()               # SQLite: this test's session must not hold the write lock
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_BATCH, str(campaign_id), now.isoformat()],
                            env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sorted(rows_per_member(db)) == members[:20]                # two batches committed, the third lost
    run = db.session.scalar(sa.select(CampaignRun))
    assert (run.status, run.last_member_id) == (RunStatus.ENQUEUING, members[19])
    db.session.rollback()
    services.dispatch_due(now=now, batch_size=10)                      # the restart: the next job run
    assert rows_per_member(db) == dict.fromkeys(members, 1)
    db.session.refresh(run)
    assert run.status is RunStatus.SENDING


def test_two_dispatchers_racing_in_small_batches_queue_each_member_once(app, db, merchant, make_member,
                                                                        launch, now):
    """Both threads find the campaign due and the run to queue; each batch goes to one of them."""
    members = [make_member(msisdn=f"138000000{n:02d}").id for n in range(60)]
    campaign_id = launch().id
    queued = run_together(app, lambda n: services.dispatch_due(now=now, batch_size=3), threads=2)
    assert sum(queued) == 60
    assert rows_per_member(db) == dict.fromkeys(members, 1)
    assert len(db.session.get(Campaign, campaign_id).runs) == 1
