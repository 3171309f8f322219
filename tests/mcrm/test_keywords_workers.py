"""Several keyword workers on one inbox: every MO is answered exactly once."""
import threading

import pytest

import sqlalchemy as sa

from mcrm.extensions import db as _db
from mcrm.jobs.tasks import process_inbound_sms
from mcrm.messaging.models import InboundMessage, InboundStatus, OutboundMessage
from tests.mcrm.keywords_support import phone  # noqa: F401


def test_three_workers_answer_every_mo_exactly_once(app, db, phone, make_member):
    numbers = [f"+86139001{n:05d}" for n in range(60)]
    for number in numbers[:30]:
        make_member(msisdn=number, points=5)
    for number in numbers:
        phone.store("JF", msisdn=number)
        phone.store("ZC 张三", msisdn=number)
    db.session.remove()  # SQLite: the workers need the write lock this session could hold
    errors = []

    def work(worker_id):
        with app.app_context():
            try:
                while process_inbound_sms(worker_id, limit=7, now=phone.now):
                    pass
            except Exception as error:  # noqa: BLE001  reported below
                errors.append(error)
            finally:
                _db.session.remove()

    workers = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not errors
    statuses = db.session.scalars(sa.select(InboundMessage.status)).all()
    assert len(statuses) == 120 and set(statuses) == {InboundStatus.DONE}
    keys = db.session.scalars(sa.select(OutboundMessage.idempotency_key)).all()
    assert len(keys) == len(set(keys)) == 120  # one reply per MO, none twice
    claimed_by = set(db.session.scalars(sa.select(InboundMessage.claim_id)).all())
    assert claimed_by == {None}


@pytest.mark.postgres
def test_the_same_join_texted_twice_at_once_is_answered_twice_and_enrols_once(app, db, phone, merchant):
    from mcrm.members.models import Member
    numbers = [f"+86139002{n:05d}" for n in range(20)]
    for number in numbers:
        phone.store("ZC 张三", msisdn=number)
        phone.store("ZC 张三", msisdn=number)
    db.session.remove()
    barrier = threading.Barrier(2)

    def work(worker_id):
        with app.app_context():
            barrier.wait()
            while process_inbound_sms(worker_id, limit=1, now=phone.now):
                pass
            _db.session.remove()

    workers = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert set(db.session.scalars(sa.select(InboundMessage.status)).all()) == {InboundStatus.DONE}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 20
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 40


@pytest.mark.postgres
def test_a_join_blocked_by_a_concurrent_insert_of_the_same_number_is_answered_again(app, db, phone, merchant,
                                                                                   caplog):
    """Worker B reads "no member" while another transaction is inserting one; B's own insert waits on
    the unique index, fails when that transaction commits, and B answers the text again."""
    from mcrm.members.models import Member
    from mcrm.members.services import enrol_member
    from tests.smsc_peer import wait_until
    number = "+8613900300000"
    inbound_id, merchant_id, now = phone.store("ZC 张三", msisdn=number).id, merchant.id, phone.now
    db.session.remove()
    inserted, release, errors = threading.Event(), threading.Event(), []

    def other_transaction():
        with app.app_context():
            from mcrm.merchants.models import Merchant
            enrol_member(_db.session.get(Merchant, merchant_id), msisdn=number, now=now)  # flushed, not committed
            inserted.set()
            release.wait(30)
            _db.session.commit()
            _db.session.remove()

    def worker_b():
        with app.app_context():
            try:
                process_inbound_sms("b", limit=1, now=now)
            except Exception as error:  # noqa: BLE001  reported below
                errors.append(error)
            _db.session.remove()

    caplog.set_level("INFO", logger="mcrm.jobs.tasks")
    first = threading.Thread(target=other_transaction)
    first.start()
    inserted.wait(30)
    second = threading.Thread(target=worker_b)
    second.start()
    waiting = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    wait_until(lambda: db.session.scalar(waiting) and not db.session.rollback(), timeout=10,
               message="worker B waits on the unique index")
    release.set()
    first.join(30)
    second.join(30)
    assert not errors
    db.session.expire_all()
    assert db.session.get(InboundMessage, inbound_id).status == InboundStatus.DONE
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 1
    [reply] = db.session.scalars(sa.select(OutboundMessage.body)).all()
    assert "已是会员" in reply
    assert "met a concurrent insert" in caplog.text
