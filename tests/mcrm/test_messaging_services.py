"""Outbox rules (enqueue_sms), MO routing and the inbox claim used by the keyword engine."""
from datetime import datetime, timedelta, timezone, UTC

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ConflictError, ValidationError
from mcrm.merchants.models import Merchant
from mcrm.messaging.models import InboundMessage, InboundStatus, MessageStatus, OutboundMessage, SuppressReason
from mcrm.messaging.services import (claim_inbound, enqueue_sms, mark_inbound_batch_done, mark_inbound_done,
                                     mark_inbound_failed, marketing_suppressions, release_stale_claims, route_inbound,
                                     store_inbound)

ACCESS = "1065712345"
SHANGHAI = timezone(timedelta(hours=8))


def marketing(merchant, now, **kw):
    kw.setdefault("msisdn", "13800138000")
    kw.setdefault("body", "周末全场八折")
    return enqueue_sms(merchant, kind="marketing", now=now, **kw)


def test_transactional_gets_the_signature_only_and_goes_at_any_hour(db, merchant):
    night = datetime(2026, 11, 20, 23, 30, tzinfo=SHANGHAI)
    message = enqueue_sms(merchant, msisdn="+86 138-0013-8000", body="您的积分：120", kind="transactional", now=night)
    assert message.text == "【小王烧烤】您的积分：120"
    assert message.msisdn == "+8613800138000"
    assert message.status is MessageStatus.QUEUED and message.not_before is None
    assert message.parts == 1 and message.created_at == night


def test_transactional_reaches_an_opted_out_member(db, merchant, make_member, now):
    member = make_member(msisdn="13800138000", opted_out=True)
    message = enqueue_sms(merchant, msisdn=member.msisdn, member=member, body="已退订", kind="transactional", now=now)
    assert message.status is MessageStatus.QUEUED


def test_marketing_gets_signature_and_unsubscribe_hint(db, merchant, now):
    message = marketing(merchant, now)
    assert message.text == "【小王烧烤】周末全场八折回T退订"
    assert message.status is MessageStatus.QUEUED and message.not_before is None


def test_marketing_to_an_opted_out_member_is_suppressed_even_when_only_the_number_is_given(db, merchant, make_member, now):
    make_member(msisdn="13800138000", opted_out=True)
    message = marketing(merchant, now)
    assert message.status is MessageStatus.SUPPRESSED and message.suppressed_reason == "opted out"
    assert message.member_id is not None


def test_marketing_outside_the_window_waits_for_the_next_window_in_local_time(db, merchant):
    late = datetime(2026, 11, 20, 21, 0, tzinfo=SHANGHAI)           # the window ends at 21:00
    message = marketing(merchant, late)
    assert message.status is MessageStatus.QUEUED
    assert message.not_before == datetime(2026, 11, 21, 8, 0, tzinfo=SHANGHAI)
    early = datetime(2026, 11, 20, 6, 59, tzinfo=SHANGHAI)
    assert marketing(merchant, early, msisdn="13800138001").not_before == datetime(2026, 11, 20, 8, 0, tzinfo=SHANGHAI)


def test_sending_window_follows_the_merchants_time_zone(db, make_merchant):
    london = make_merchant(timezone="Europe/London")
    # 09:00 in Shanghai is 01:00 in London: outside London's window
    message = marketing(london, datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI))
    assert message.not_before == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_frequency_cap_suppresses_the_second_marketing_sms_of_the_day(db, merchant, now):
    assert marketing(merchant, now, occasion="campaign:1").status is MessageStatus.QUEUED
    second = marketing(merchant, now + timedelta(hours=1), occasion="campaign:2")
    assert second.status is MessageStatus.SUPPRESSED and second.suppressed_reason == "frequency cap"
    assert marketing(merchant, now, msisdn="13800138001").status is MessageStatus.QUEUED
    tomorrow = marketing(merchant, now + timedelta(days=1), occasion="campaign:3")
    assert tomorrow.status is MessageStatus.QUEUED


def test_frequency_cap_counts_the_day_a_deferred_message_goes_out(db, merchant):
    evening = datetime(2026, 11, 20, 22, 0, tzinfo=SHANGHAI)
    assert marketing(merchant, evening).not_before.date().isoformat() == "2026-11-21"
    next_morning = datetime(2026, 11, 21, 9, 0, tzinfo=SHANGHAI)
    assert marketing(merchant, next_morning).suppressed_reason == "frequency cap"


def test_frequency_cap_is_the_merchants_setting(db, merchant, now):
    merchant.frequency_cap_per_day = 2
    assert marketing(merchant, now).status is MessageStatus.QUEUED
    assert marketing(merchant, now).status is MessageStatus.QUEUED
    assert marketing(merchant, now).suppressed_reason == "frequency cap"


def test_one_message_per_number_per_occasion_even_on_another_day(db, merchant, now):
    assert marketing(merchant, now, occasion="birthday:2026").status is MessageStatus.QUEUED
    again = marketing(merchant, now + timedelta(days=3), occasion="birthday:2026")
    assert again.status is MessageStatus.SUPPRESSED and again.suppressed_reason == "duplicate occasion"


def test_transactional_messages_do_not_count_against_the_cap(db, merchant, now):
    enqueue_sms(merchant, msisdn="13800138000", body="积分变动", kind="transactional", now=now)
    assert marketing(merchant, now).status is MessageStatus.QUEUED


@pytest.mark.parametrize("kind", ["transactional", "marketing"])
def test_the_returned_message_is_its_row_as_stored_and_unmodified_in_the_session(db, merchant, make_member, now,
                                                                                kind):
    member = make_member(msisdn="13800138000", opted_out=True)
    message = enqueue_sms(merchant, msisdn=member.msisdn, member=member, body="周末八折", kind=kind, now=now,
                          idempotency_key=f"test:{kind}")
    assert message in db.session and message not in db.session.dirty
    stored = db.session.execute(sa.select(OutboundMessage.__table__)
                                .where(OutboundMessage.id == message.id)).one()._asdict()
    assert {column: getattr(message, column) for column in stored} == stored


def test_a_repeated_idempotency_key_returns_the_first_message_even_if_the_repeat_is_refused(db, merchant, now):
    first = enqueue_sms(merchant, msisdn="13800138000", body="验证码 1234", kind="transactional", now=now,
                        idempotency_key="login:42")
    assert enqueue_sms(merchant, msisdn="13800138000", body="  ", kind="transactional", now=now,
                       idempotency_key="login:42") is first


def test_idempotency_key_returns_the_first_message(db, merchant, now):
    first = enqueue_sms(merchant, msisdn="13800138000", body="验证码 1234", kind="transactional", now=now,
                        idempotency_key="login:42")
    db.session.commit()
    again = enqueue_sms(merchant, msisdn="13800138000", body="验证码 1234", kind="transactional", now=now,
                        idempotency_key="login:42")
    assert again.id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 1


def test_idempotency_key_of_another_merchant_is_a_conflict(db, merchant, make_merchant, now):
    enqueue_sms(merchant, msisdn="13800138000", body="a", kind="transactional", now=now, idempotency_key="k")
    with pytest.raises(ConflictError):
        enqueue_sms(make_merchant(), msisdn="13800138000", body="a", kind="transactional", now=now,
                    idempotency_key="k")


def test_long_chinese_text_counts_its_parts(db, merchant, now):
    message = enqueue_sms(merchant, msisdn="13800138000", body="好" * 100, kind="transactional", now=now)
    assert message.parts == 2      # 6 + 100 UCS-2 characters: 67 a part


@pytest.mark.parametrize("field, value, error", [
    ("msisdn", "12345", "Not a valid phone number"),
    ("body", "   ", "empty"),
    ("kind", "spam", "Unknown message kind"),
    ("body", "好" * 20000, "too long"),
])
def test_bad_input_is_refused_and_nothing_is_queued(db, merchant, now, field, value, error):
    args = {"msisdn": "13800138000", "body": "hello", "kind": "transactional"}
    args[field] = value
    with pytest.raises(ValidationError, match=error):
        enqueue_sms(merchant, now=now, **args)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == 0


def test_stale_outbound_claims_are_released_and_live_ones_kept(db, merchant, now):
    old = enqueue_sms(merchant, msisdn="13800138000", body="a", kind="transactional", now=now)
    live = enqueue_sms(merchant, msisdn="13800138001", body="b", kind="transactional", now=now)
    old.status, old.claim_id, old.claimed_at = MessageStatus.SENDING, "dead", now - timedelta(minutes=11)
    live.status, live.claim_id, live.claimed_at = MessageStatus.SENDING, "alive", now - timedelta(seconds=5)
    db.session.flush()
    assert release_stale_claims(now) == 1
    db.session.refresh(old)
    db.session.refresh(live)
    assert old.status is MessageStatus.QUEUED and old.claim_id is None
    assert live.status is MessageStatus.SENDING and live.claim_id == "alive"


# ------------------------------------------------------------------------------------------ inbox


def test_routing_takes_the_longest_service_number_prefix_and_keeps_the_extension(db, make_merchant):
    short = make_merchant(sub_code="7")
    # sub-codes that begin with one another are refused now; older data may still hold them
    long = Merchant(name="长号商户", sub_code="701", signature="【长号店】")
    db.session.add(long)
    db.session.flush()
    assert route_inbound(ACCESS + "7019", ACCESS) == (long, "9")
    assert route_inbound(ACCESS + "702", ACCESS) == (short, "02")
    assert route_inbound("86" + ACCESS + "701", ACCESS) == (long, "")
    assert route_inbound(ACCESS + "8", ACCESS) == (None, "")
    assert route_inbound("10086", ACCESS) == (None, "")
    long.is_active = False
    assert route_inbound(ACCESS + "7019", ACCESS) == (short, "019")


def test_unroutable_mo_is_stored_unrouted_and_a_bad_sender_kept_as_given(db, merchant, now):
    row = store_inbound(source_addr="abc", destination_addr="10086", text="hi", data_coding=0, received_at=now,
                        access_number=ACCESS)
    assert row.status is InboundStatus.UNROUTED and row.merchant_id is None and row.msisdn == "abc"
    routed = store_inbound(source_addr="8613800138000", destination_addr=ACCESS + "019", text="JF",
                           data_coding=0, received_at=now, access_number=ACCESS)
    assert routed.status is InboundStatus.NEW and routed.merchant_id == merchant.id
    assert routed.msisdn == "+8613800138000" and routed.extension == "9"


@pytest.mark.parametrize("destination", [ACCESS + "019", "10086"])
def test_the_stored_mo_is_its_row_as_stored_and_unmodified_in_the_session(db, merchant, now, destination):
    row = store_inbound(source_addr="8613800138000", destination_addr=destination, text="JF", data_coding=8,
                        received_at=now, payload="JF".encode("utf-16-be"), access_number=ACCESS)
    assert row in db.session and row not in db.session.dirty
    stored = db.session.execute(sa.select(InboundMessage.__table__)
                                .where(InboundMessage.id == row.id)).one()._asdict()
    assert {column: getattr(row, column) for column in stored} == stored


def _inbox(db, merchant, now, count):
    rows = [store_inbound(source_addr=f"+861380013{n:04d}", destination_addr=ACCESS + merchant.sub_code,
                          text="JF", data_coding=0, received_at=now, access_number=ACCESS) for n in range(count)]
    db.session.commit()
    return rows


def test_claim_inbound_gives_each_mo_to_one_worker_only(db, merchant, now):
    _inbox(db, merchant, now, 5)
    first = claim_inbound("w1", 3, now)
    db.session.commit()
    second = claim_inbound("w2", 10, now)
    db.session.commit()
    assert len(first) == 3 and len(second) == 2
    assert not {m.id for m in first} & {m.id for m in second}
    assert all(m.status is InboundStatus.PROCESSING for m in first + second)
    assert claim_inbound("w3", 10, now) == []


def test_unrouted_mo_is_never_claimed(db, merchant, now):
    store_inbound(source_addr="+8613800138000", destination_addr="10086", text="x", data_coding=0,
                  received_at=now, access_number=ACCESS)
    assert claim_inbound("w1", 10, now) == []


def test_a_crashed_workers_claim_is_taken_over_after_the_lease(db, merchant, now):
    _inbox(db, merchant, now, 1)
    [mine] = claim_inbound("w1", 10, now)
    db.session.commit()
    assert claim_inbound("w2", 10, now + timedelta(minutes=1)) == []
    [taken] = claim_inbound("w2", 10, now + timedelta(minutes=11))
    db.session.commit()
    assert taken.id == mine.id and taken.claim_id.startswith("w2")
    mark_inbound_done(taken, now=now + timedelta(minutes=12))
    db.session.commit()
    assert taken.status is InboundStatus.DONE and taken.processed_at is not None


def test_marking_done_after_losing_the_claim_is_a_conflict(db, merchant, now):
    _inbox(db, merchant, now, 1)
    [mine] = claim_inbound("w1", 10, now)
    db.session.commit()
    with db.engine.begin() as other_worker:     # its lease ran out and another process took it
        other_worker.execute(sa.update(InboundMessage).values(claim_id="w2:1"))
    with pytest.raises(ConflictError):
        mark_inbound_done(mine, now=now + timedelta(hours=1))


def test_a_batch_is_marked_done_at_once(db, merchant, now):
    _inbox(db, merchant, now, 3)
    batch = claim_inbound("w1", 10, now)
    mark_inbound_batch_done(batch, now=now)
    assert {(m.status, m.processed_at, m.claim_id) for m in batch} == {(InboundStatus.DONE, now, None)}
    db.session.commit()
    stored = db.session.execute(sa.select(InboundMessage.status, InboundMessage.processed_at,
                                          InboundMessage.claim_id)).all()
    assert set(stored) == {(InboundStatus.DONE, now, None)} and len(stored) == 3


def test_marking_a_batch_done_after_losing_the_claim_of_one_is_a_conflict(db, merchant, now):
    _inbox(db, merchant, now, 3)
    batch = claim_inbound("w1", 10, now)
    db.session.commit()
    with db.engine.begin() as other_worker:     # its lease ran out and another process took one
        other_worker.execute(sa.update(InboundMessage).where(InboundMessage.id == batch[1].id)
                             .values(claim_id="w2:1"))
    with pytest.raises(ConflictError):
        mark_inbound_batch_done(batch, now=now + timedelta(hours=1))
    db.session.rollback()
    stored = db.session.scalars(sa.select(InboundMessage.status)).all()
    assert stored == [InboundStatus.PROCESSING] * 3


def test_failed_mo_keeps_the_reason(db, merchant, now):
    _inbox(db, merchant, now, 1)
    [row] = claim_inbound("w1", 10, now)
    mark_inbound_failed(row, now=now, error="template error")
    db.session.commit()
    stored = db.session.get(InboundMessage, row.id)
    assert stored.status is InboundStatus.FAILED and stored.error == "template error"


def test_batches_of_five_to_eight_numbers_and_occasions_ask_the_outbox_with_one_statement(db, merchant, now):
    """The driver keeps each statement text prepared: IN lists of every length each made another
    (a win-back at a million members grew by 127 MB); padded lists give one text per power of two."""
    enqueue_sms(merchant, msisdn="13800000001", body="早", kind="marketing", now=now, occasion="o:1")
    statements = set()

    def record(_conn, _cursor, statement, *_args):
        statements.add(statement)
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        for size in range(5, 9):
            recipients = [(None, f"+86138000000{i:02d}", False) for i in range(1, size + 1)]
            reasons = marketing_suppressions(merchant, recipients, send_at=now,
                                             occasion=[f"o:{i}" for i in range(1, size + 1)])
            assert reasons == [SuppressReason.DUPLICATE_OCCASION] + [None] * (size - 1)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert len(statements) == 1
