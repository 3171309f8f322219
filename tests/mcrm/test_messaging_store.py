"""SqlMessageStore keeps the MessageStore contract on the real database, and the sandbox gateway
runs on it end to end."""
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa

from mcrm.messaging.models import InboundMessage, InboundStatus, MessageStatus, OutboundMessage, PendingReceipt
from mcrm.messaging.services import enqueue_sms
from mcrm.messaging.store import SqlMessageStore
from sms_gateway import (DeliveryReceipt, Gateway, GatewayConfig, InboundSms, MessageStore, PartResult,
                         SubmitError)
from tests.smsc_peer import wait_until


def queue(db, merchant, now, count=1, body="您好", **kw):
    ids = [enqueue_sms(merchant, msisdn=f"+861390000{n:04d}", body=body, kind=kw.pop("kind", "transactional"),
                       now=now, **kw).id for n in range(count)]
    db.session.commit()
    return ids


def status_of(db, message_id):
    """A detached snapshot of the row. The read's transaction is ended at once: on SQLite every
    transaction takes the write lock, and the store writes from its own connection."""
    db.session.expire_all()
    row = db.session.get(OutboundMessage, message_id)
    snapshot = SimpleNamespace(**{c.key: getattr(row, c.key) for c in sa.inspect(OutboundMessage).column_attrs})
    snapshot.part_rows = [SimpleNamespace(index=p.index, smsc_message_id=p.smsc_message_id,
                                          receipt_stat=p.receipt_stat) for p in row.part_rows]
    db.session.rollback()
    return snapshot


def count(db, *where, model=OutboundMessage):
    value = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
    db.session.rollback()
    return value


def submit(store, message_id, now, mids=("m1",)):
    store.record_parts([PartResult(message_id, i, len(mids), i, mid) for i, mid in enumerate(mids, start=1)])
    store.mark_submitted([message_id], now)


def receipt(mid, now, stat="DELIVRD", err="000"):
    return DeliveryReceipt(mid, stat, err, now)


def test_it_implements_the_port(app):
    assert isinstance(SqlMessageStore(app), MessageStore)


def test_claim_takes_due_queued_messages_oldest_first_and_never_twice(app, db, merchant, now):
    ids = queue(db, merchant, now, 3)
    store = SqlMessageStore(app)
    first = store.claim_outbound("w1", 2, now)
    assert [m.id for m in first] == ids[:2]
    assert first[0].source_addr == "106571234501" and first[0].destination_addr == "+8613900000000"
    assert first[0].text == "【小王烧烤】您好" and first[0].attempts == 0
    assert [m.id for m in store.claim_outbound("w2", 10, now)] == ids[2:]
    assert store.claim_outbound("w3", 10, now) == []
    row = status_of(db, ids[0])
    assert row.status is MessageStatus.SENDING and row.claim_id == "w1" and row.source_addr == "106571234501"


def test_claim_waits_for_not_before_and_retry_at_and_skips_suppressed(app, db, merchant, make_member, now):
    night = now.replace(hour=14)                                       # 22:00 in Shanghai
    [deferred] = queue(db, merchant, night, kind="marketing")
    make_member(msisdn="+8613900000000", opted_out=True)
    [suppressed] = queue(db, merchant, now, kind="marketing")
    store = SqlMessageStore(app)
    assert store.claim_outbound("w1", 10, night) == []
    [claimed] = store.claim_outbound("w1", 10, status_of(db, deferred).not_before)
    assert claimed.id == deferred and status_of(db, suppressed).status is MessageStatus.SUPPRESSED
    store.mark_retry([SubmitError(deferred, 0x58, "ESME_RTHROTTLED", 0, night + timedelta(days=1, minutes=1))])
    assert store.claim_outbound("w1", 10, night + timedelta(days=1)) == []
    # the retry falls outside the window again (22:02): a marketing message waits for it to open
    assert store.claim_outbound("w1", 10, night + timedelta(days=1, minutes=2)) == []
    row = status_of(db, deferred)
    assert row.status is MessageStatus.QUEUED and row.not_before == night + timedelta(days=1, hours=10)
    assert len(store.claim_outbound("w1", 10, row.not_before)) == 1


def test_all_parts_delivered_makes_the_message_delivered(app, db, merchant, now):
    [message_id] = queue(db, merchant, now, body="好" * 100)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 10, now)
    submit(store, message_id, now, mids=("a1", "a2"))
    row = status_of(db, message_id)
    assert row.status is MessageStatus.SUBMITTED and row.attempts == 1 and row.claim_id is None
    store.save_receipts([receipt("a1", now)])
    assert status_of(db, message_id).status is MessageStatus.SUBMITTED
    store.save_receipts([receipt("a2", now + timedelta(seconds=3))])
    row = status_of(db, message_id)
    assert row.status is MessageStatus.DELIVERED and row.delivered_at == now + timedelta(seconds=3)
    assert [(p.index, p.smsc_message_id, p.receipt_stat) for p in row.part_rows] == [
        (1, "a1", "DELIVRD"), (2, "a2", "DELIVRD")]


def test_a_failed_part_fails_the_message_and_an_expired_one_expires_it(app, db, merchant, now):
    failed, expired = queue(db, merchant, now, 2)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 10, now)
    submit(store, failed, now, mids=("f1",))
    submit(store, expired, now, mids=("e1",))
    store.save_receipts([receipt("f1", now, "UNDELIV", "001"), receipt("e1", now, "EXPIRED", "000")])
    row = status_of(db, failed)
    assert row.status is MessageStatus.FAILED and row.last_error == "receipt UNDELIV err:001"
    assert status_of(db, expired).status is MessageStatus.EXPIRED


def test_intermediate_receipt_changes_nothing(app, db, merchant, now):
    [message_id] = queue(db, merchant, now)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 10, now)
    submit(store, message_id, now)
    store.save_receipts([receipt("m1", now, "ENROUTE")])
    assert status_of(db, message_id).status is MessageStatus.SUBMITTED


def test_a_receipt_before_its_part_is_kept_and_applied_later(app, db, merchant, now):
    [message_id] = queue(db, merchant, now)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 10, now)
    store.save_receipts([receipt("early", now)])
    assert count(db, model=PendingReceipt) == 1
    submit(store, message_id, now, mids=("early",))
    assert status_of(db, message_id).status is MessageStatus.DELIVERED
    assert count(db, model=PendingReceipt) == 0


def test_a_resent_message_replaces_its_parts(app, db, merchant, now):
    [message_id] = queue(db, merchant, now)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 10, now)
    store.record_parts([PartResult(message_id, 1, 1, 7, "old")])
    store.mark_retry([SubmitError(message_id, 0, "connection lost", 1, now)])
    store.claim_outbound("w1", 10, now)
    submit(store, message_id, now, mids=("new",))
    store.save_receipts([receipt("new", now)])
    row = status_of(db, message_id)
    assert row.status is MessageStatus.DELIVERED and [p.smsc_message_id for p in row.part_rows] == ["new"]


def test_a_retried_message_is_claimed_with_the_parts_the_smsc_accepted(app, db, merchant, now):
    long_id, short_id = queue(db, merchant, now, 2, body="积分" * 60)      # 3 UCS-2 parts each
    store = SqlMessageStore(app)
    first = store.claim_outbound("w1", 10, now)
    assert [sms.accepted_parts for sms in first] == [frozenset(), frozenset()]
    store.record_parts([PartResult(long_id, 1, 3, 7, "p1"), PartResult(long_id, 3, 3, 9, "p3")])
    store.mark_retry([SubmitError(long_id, 0x58, "ESME_RTHROTTLED", 0, now),
                      SubmitError(short_id, 0, "connection lost", 0, now)])
    again = {sms.id: sms.accepted_parts for sms in store.claim_outbound("w2", 10, now)}
    assert again == {long_id: frozenset({1, 3}), short_id: frozenset()}


def test_retry_and_failure_keep_the_smscs_code(app, db, merchant, now):
    retried, failed = queue(db, merchant, now, 2)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 10, now)
    store.mark_retry([SubmitError(retried, 0x08, "ESME_RSYSERR", 1, now + timedelta(seconds=5))])
    store.mark_failed([SubmitError(failed, 0x0B, "ESME_RINVDSTADR", 1)])
    row = status_of(db, retried)
    assert (row.status, row.attempts, row.error_code, row.last_error, row.claim_id) == (
        MessageStatus.QUEUED, 1, 0x08, "ESME_RSYSERR", None)
    assert row.retry_at == now + timedelta(seconds=5)
    row = status_of(db, failed)
    assert (row.status, row.error_code, row.last_error) == (MessageStatus.FAILED, 0x0B, "ESME_RINVDSTADR")


def test_release_claims_returns_only_that_workers_messages(app, db, merchant, now):
    mine, theirs = queue(db, merchant, now, 2)
    store = SqlMessageStore(app)
    store.claim_outbound("w1", 1, now)
    store.claim_outbound("w2", 1, now)
    assert store.release_claims("w1") == 1
    assert status_of(db, mine).status is MessageStatus.QUEUED
    assert status_of(db, theirs).status is MessageStatus.SENDING


def test_save_inbound_routes_the_mo_into_the_inbox(app, db, merchant, now):
    store = SqlMessageStore(app)
    store.save_inbound(InboundSms("+8613800138000", "1065712345019", "积分" * 50, 8, now, parts=2,
                                  payload=("积分" * 50).encode("utf-16-be")))
    store.save_inbound(InboundSms("8613800138000", "1065799", "hi", 0, now))
    rows = db.session.scalars(sa.select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [(r.merchant_id, r.status, r.extension, r.parts) for r in rows] == [
        (merchant.id, InboundStatus.NEW, "9", 2), (None, InboundStatus.UNROUTED, "", 1)]
    assert rows[0].text == "积分" * 50 and rows[0].msisdn == "+8613800138000"


def test_sandbox_gateway_delivers_the_outbox_and_stores_mos(app, db, merchant, now):
    ids = queue(db, merchant, now, 120)
    store = SqlMessageStore(app)
    gateway = Gateway(GatewayConfig(transport="sandbox", poll_secs=0.02, batch_size=50), store)
    gateway.start()
    try:
        gateway.inject_mo("+8613800138000", "106571234501", "JF")

        wait_until(lambda: count(db, OutboundMessage.status == MessageStatus.DELIVERED) == len(ids),
                   timeout=10, message="120 messages delivered")
        wait_until(lambda: count(db, model=InboundMessage) == 1)
    finally:
        assert gateway.stop(10)
    row = status_of(db, ids[-1])
    assert row.submitted_at is not None and row.delivered_at is not None and len(row.part_rows) == 1


def test_claim_suppresses_marketing_to_a_number_that_opted_out_after_it_was_queued(app, db, merchant, make_member,
                                                                                  now):
    from mcrm.members.services import opt_out
    member = make_member(msisdn="+8613900000000")
    [marketing, transactional] = queue(db, merchant, now, kind="marketing") + queue(db, merchant, now)
    opt_out(db.session.get(type(member), member.id), now=now)
    db.session.commit()
    claimed = SqlMessageStore(app).claim_outbound("w1", 10, now)
    assert [m.id for m in claimed] == [transactional]          # an answer of their own still goes
    row = status_of(db, marketing)
    assert (row.status, row.suppressed_reason, row.claim_id) == (MessageStatus.SUPPRESSED, "opted out", None)


def test_claim_suppresses_marketing_to_a_non_member_on_the_opt_out_list(app, db, merchant, now):
    from mcrm.members.models import OptOut
    [marketing] = queue(db, merchant, now, kind="marketing")
    db.session.add(OptOut(merchant_id=merchant.id, msisdn="+8613900000000", opted_out_at=now, channel="sms"))
    db.session.commit()
    assert SqlMessageStore(app).claim_outbound("w1", 10, now) == []
    assert status_of(db, marketing).status is MessageStatus.SUPPRESSED
