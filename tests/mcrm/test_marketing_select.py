"""The set-based marketing enqueue (``enqueue_marketing_select``, one INSERT ... SELECT) writes the
very rows the Python one (``enqueue_marketing_batch``) writes, rule by rule."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mcrm.members.models import Member
from mcrm.messaging.models import OutboundMessage
from mcrm.messaging.services import (counts_in_sql, enqueue_marketing_batch, enqueue_marketing_select,
                                     enqueue_sms)

#: signature 【小王烧烤】 and hint 回T退订 take 10 of a text's characters
AROUND_THE_LIMITS = {"13800000060": "名" * 60,    # 70: one part
                     "13800000061": "名" * 61,    # 71: two
                     "13800000124": "名" * 124,   # 134: two
                     "13800000125": "名" * 125,   # 135: three
                     "13800000999": "名" * (255 * 67)}   # 256 parts: too long


def _body():
    """Each member's text: the name, or for the numbers of AROUND_THE_LIMITS their long text."""
    return sa.case({f"+86{msisdn}": text for msisdn, text in AROUND_THE_LIMITS.items()}, value=Member.msisdn,
                   else_=Member.name)


def _outbox(db) -> list[tuple]:
    columns = [c for c in OutboundMessage.__table__.c if c.name not in ("id", "idempotency_key")]
    return sorted(tuple(row) for row in db.session.execute(sa.select(*columns)))


@pytest.fixture
def members(db, merchant, make_member, now):
    """Members for every rule: plain, nameless, opted out, a malformed number, a number that had
    this occasion already, one texted today (the cap is 1), and texts around the parts limits."""
    make_member(msisdn="13800000001", name="张三")
    make_member(msisdn="13800000002", name="")
    make_member(msisdn="13800000003", name="王五", opted_out=True)
    bad = make_member(msisdn="13800000004", name="赵六")
    for msisdn in AROUND_THE_LIMITS:
        make_member(msisdn=msisdn, name="名")
    make_member(msisdn="13800000005", name="孙七")
    make_member(msisdn="13800000006", name="周八")
    # written around enrolment, as a broken import could: digits of another script, then a letter
    bad.msisdn = "+86138000000٤"
    make_member(msisdn="13800000007", name="吴九").msisdn = "+8613800000x7"
    enqueue_sms(merchant, msisdn="13800000005", body="上次", kind="marketing", now=now - timedelta(days=2),
                occasion="weekly")
    enqueue_sms(merchant, msisdn="13800000006", body="今天早些", kind="marketing", now=now - timedelta(hours=1))
    db.session.commit()


@pytest.mark.parametrize("hours", [0, 10], ids=["in the window", "at night: waits"])
def test_the_set_based_enqueue_writes_the_rows_the_python_one_does(db, merchant, members, now, hours):
    at = now + timedelta(hours=hours)
    assert counts_in_sql(merchant, "")
    recipients = db.session.execute(sa.select(Member.id, Member.msisdn, Member.opted_out, _body().label("body"))
                                    .where(Member.merchant_id == merchant.id).order_by(Member.id)).all()
    enqueue_marketing_batch(merchant, [(r.id, r.msisdn, r.opted_out) for r in recipients],
                            [f"k:{r.id}" for r in recipients], lambda _recipients, _kept: [r.body for r in recipients],
                            now=at, occasion="weekly")
    by_python = _outbox(db)
    db.session.rollback()
    enqueue_marketing_select(merchant, sa.select(
        Member.id.label("member_id"), Member.msisdn, Member.opted_out, _body().label("body"),
        (sa.literal("k:") + sa.cast(Member.id, sa.Text)).label("idempotency_key"))
        .where(Member.merchant_id == merchant.id), now=at, occasion="weekly")
    by_sql = _outbox(db)
    assert len(by_sql) == len(by_python) == len(recipients) + 2 == 14
    assert by_sql == by_python
    reasons = {row.msisdn: (row.status, row.suppressed_reason, row.parts) for row in db.session.execute(
        sa.select(OutboundMessage).where(OutboundMessage.occasion == "weekly",
                                         OutboundMessage.created_at == at)).scalars()}
    assert reasons["+8613800000001"] == ("queued", None, 1)
    assert [reasons[f"+86{n}"][2] for n in AROUND_THE_LIMITS] == [1, 2, 2, 3, 256]
    assert reasons["+8613800000999"][1] == "too long"
    assert [reasons[n][1] for n in ("+8613800000003", "+86138000000٤", "+8613800000x7", "+8613800000005",
                                    "+8613800000006")] == ["opted out", "invalid number", "invalid number",
                                                           "duplicate occasion", "frequency cap" if not hours else None]
    # at night the messages wait for the morning, a day whose cap nothing has used yet
    assert set(db.session.scalars(sa.select(OutboundMessage.not_before).where(
        OutboundMessage.status == "queued", OutboundMessage.created_at == at))) == {
        None if not hours else now + timedelta(hours=20)}


def test_a_key_already_in_the_outbox_inserts_nothing_again(db, merchant, members, now):
    select = sa.select(Member.id.label("member_id"), Member.msisdn, Member.opted_out, _body().label("body"),
                       (sa.literal("k:") + sa.cast(Member.id, sa.Text)).label("idempotency_key")) \
        .where(Member.merchant_id == merchant.id)
    enqueue_marketing_select(merchant, select, now=now, occasion="weekly")
    first = _outbox(db)
    enqueue_marketing_select(merchant, select, now=now, occasion="weekly")
    assert _outbox(db) == first and len(first) == 14


@pytest.mark.parametrize("signature, fixed, hint, counts", [
    ("【小王烧烤】", "", "回T退订", True),
    ("[Wang]", "Hello {name}", " STOP to end", False),        # GSM-7 unless a name is not
    ("[Wang]", "你好", " STOP to end", True),
    ("【小王烧烤】", "🎉", "回T退订", False),                     # two UTF-16 units: length is not enough
])
def test_sql_counts_the_parts_of_texts_that_are_ucs2_whatever_the_member(db, merchant, signature, fixed, hint,
                                                                         counts):
    merchant.signature, merchant.unsubscribe_hint = signature, hint
    assert counts_in_sql(merchant, fixed) is counts



def _insert_statement(db, merchant, now) -> tuple[str, dict]:
    """The INSERT ... SELECT of a set-based enqueue of every member for the occasion "weekly" (run)."""
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO outbound_messages"):
            statements.append((statement, parameters))
    sa.event.listen(db.engine, "before_cursor_execute", keep)
    try:
        enqueue_marketing_select(merchant, sa.select(
            Member.id.label("member_id"), Member.msisdn, Member.opted_out, _body().label("body"),
            (sa.literal("k:") + sa.cast(Member.id, sa.Text)).label("idempotency_key")), now=now, occasion="weekly")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", keep)
    [found] = statements
    return found


def test_the_rules_read_each_number_from_the_outbox_index_by_number(db, merchant, members, now):
    """Without statistics of the outbox (as after ANALYZE of an empty one) SQLite read the cap from
    the day's index, every message queued that day for each member: 1.6 ms a member, 300 msg/s.
    Both rules now read the number's messages once."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner")
    statement, parameters = _insert_statement(db, merchant, now)
    plan = [row[3] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                       parameters)]
    reads = [step for step in plan if "outbound_messages_1" in step]
    assert len(reads) == 1 and all("USING INDEX ix_outbound_messages_merchant_msisdn (merchant_id=? AND msisdn=?)"
                                   in step for step in reads), plan


@pytest.mark.postgres
def test_on_postgresql_the_rules_never_read_the_index_of_the_occasion_being_queued(db, merchant, members, now):
    """A campaign's occasion is new: PostgreSQL, with no statistics of it, read the duplicate rule from
    the occasion's index, so each batch read every message the batches before it had queued (at a
    million members the batches took 200 ms, then 460 ms by the hundredth)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner")
    db.session.execute(sa.insert(OutboundMessage), [
        {"merchant_id": merchant.id, "msisdn": f"+861390000{n:04d}", "body": "早", "text": "早", "kind": "marketing",
         "parts": 1, "status": "queued", "attempts": 0, "occasion": "weekly", "created_at": now,
         "idempotency_key": f"earlier:{n}"} for n in range(3000)])
    statement, parameters = _insert_statement(db, merchant, now)
    connection = db.session.connection()
    plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert "ix_outbound_messages_occasion_status" not in plan, plan
