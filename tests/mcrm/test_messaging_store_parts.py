"""Parts of a concatenated MO are stored before the SMSC gets their ack (MessageStore.save_inbound_part
and expire_inbound_parts), on the SQL store and, as the same contract, on the in-memory one."""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.messaging.models import InboundMessage, InboundPart as InboundPartRow
from mcrm.messaging.store import SqlMessageStore
from sms_gateway import InMemoryMessageStore
from sms_gateway.store import InboundPart

SENDER = "+8613800138000"
SERVICE = "106571234501"
TEXT = "尊敬的会员您好，本店本周末全场八折"


def part(now, index, total=3, text=None, reference=7, seconds=0):
    chunk = text if text is not None else TEXT[(index - 1) * 6:index * 6]
    return InboundPart(SENDER, SERVICE, reference, total, index, 8, chunk.encode("utf-16-be"),
                       now + timedelta(seconds=seconds))


@pytest.fixture(params=["sql", "memory"])
def store(request, app, db):
    return SqlMessageStore(app) if request.param == "sql" else InMemoryMessageStore()


def inbox(store, db):
    """(text, parts, complete, payload) of every stored MO, oldest first."""
    if isinstance(store, InMemoryMessageStore):
        return [(m.text, m.parts, m.complete, m.payload) for m in store.inbound()]
    rows = db.session.execute(sa.select(InboundMessage).order_by(InboundMessage.id)).scalars().all()
    out = [(m.text, m.parts, m.complete, m.payload) for m in rows]
    db.session.rollback()
    return out


def waiting_parts(store, db):
    if isinstance(store, InMemoryMessageStore):
        return len(store.inbound_parts())
    value = db.session.scalar(sa.select(sa.func.count()).select_from(InboundPartRow))
    db.session.rollback()
    return value


def test_the_last_part_stores_the_whole_message_once(store, db, now):
    for index in (2, 3):
        store.save_inbound_part(part(now, index))
    assert inbox(store, db) == []
    store.save_inbound_part(part(now, 1))
    assert inbox(store, db) == [(TEXT, 3, True, TEXT.encode("utf-16-be"))]


def test_a_part_delivered_twice_is_stored_once(store, db, now):
    store.save_inbound_part(part(now, 1))
    store.save_inbound_part(part(now, 1, seconds=1))           # the SMSC's retry after a lost ack
    assert waiting_parts(store, db) == 1
    store.save_inbound_part(part(now, 2))
    store.save_inbound_part(part(now, 3))
    store.save_inbound_part(part(now, 3, seconds=1))           # the last part's ack was lost
    assert inbox(store, db) == [(TEXT, 3, True, TEXT.encode("utf-16-be"))]


def test_a_new_message_reusing_a_finished_reference_is_a_new_message(store, db, now):
    for index in (1, 2):
        store.save_inbound_part(part(now, index, total=2, text="甲" * 3))
    for index in (1, 2):
        store.save_inbound_part(part(now, index, total=2, text="乙" * 3, seconds=60))
    assert [m[0] for m in inbox(store, db)] == ["甲" * 6, "乙" * 6]


def test_an_incomplete_group_past_the_deadline_is_stored_with_its_parts_in_order(store, db, now):
    store.save_inbound_part(part(now, 3))
    store.save_inbound_part(part(now, 1, seconds=1))
    store.save_inbound_part(part(now, 2, reference=8, seconds=100))      # another group, still young
    assert store.expire_inbound_parts(now) == 0
    assert store.expire_inbound_parts(now + timedelta(seconds=50)) == 1
    expected = TEXT[:6] + TEXT[12:]
    assert inbox(store, db) == [(expected, 2, False, expected.encode("utf-16-be"))]
    assert waiting_parts(store, db) == 1
    assert store.expire_inbound_parts(now + timedelta(seconds=50)) == 0      # stored once


def test_a_finished_group_is_forgotten_after_the_deadline(store, db, now):
    for index in (1, 2, 3):
        store.save_inbound_part(part(now, index))
    assert store.expire_inbound_parts(now) == 0
    assert waiting_parts(store, db) == 3             # kept: a resent part is recognised
    assert store.expire_inbound_parts(now + timedelta(seconds=1)) == 0
    assert waiting_parts(store, db) == 0
    assert len(inbox(store, db)) == 1


def test_a_part_is_stored_on_a_fresh_store_over_the_same_database(app, db, now):
    """A gateway restarted between parts (a new process, a new store object) completes the message."""
    SqlMessageStore(app).save_inbound_part(part(now, 1))
    SqlMessageStore(app).save_inbound_part(part(now, 2))
    SqlMessageStore(app).save_inbound_part(part(now, 3))
    assert inbox(SqlMessageStore(app), db) == [(TEXT, 3, True, TEXT.encode("utf-16-be"))]


@pytest.mark.postgres
def test_different_parts_stored_at_once_by_several_workers_complete_the_message(app, db, now):
    total = 8
    text = "".join(chr(0x4E00 + i) for i in range(total * 3))
    barrier = threading.Barrier(total)
    errors = []

    def save(index):
        try:
            store = SqlMessageStore(app)
            barrier.wait()
            store.save_inbound_part(part(now, index, total=total, text=text[(index - 1) * 3:index * 3]))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(1, total + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [(m[0], m[2]) for m in inbox(SqlMessageStore(app), db)] == [(text, True)]
