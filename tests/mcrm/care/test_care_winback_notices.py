"""Win-back and churn (per tier, marketing, one per absence or period, the staff's call list) and
the notices of points about to lapse and of tier changes (transactional, one per occasion)."""
import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from mcrm.care import services
from mcrm.care.models import CareMemberTier
from mcrm.core.errors import ValidationError
from mcrm.members.models import Member
from mcrm.messaging.models import MessageKind, MessageStatus
from mcrm.core.recurrence import add_months
from mcrm.points.services import SYSTEM, grant_points, record_purchase
from tests.mcrm.care.conftest import greetings_out


def visited(db, member, when):
    db.session.execute(sa.update(Member).where(Member.id == member.id).values(last_visit_at=when))
    db.session.commit()


def test_win_back_greets_members_absent_for_n_days_once_per_absence(db, merchant, make_member, greet, now):
    away = make_member(msisdn="13800000001", joined_at=now - timedelta(days=400))
    just_under = make_member(msisdn="13800000002", joined_at=now - timedelta(days=400))
    never_came = make_member(msisdn="13800000003", joined_at=now - timedelta(days=100))
    make_member(msisdn="13800000004")                                   # joined today
    visited(db, away, now - timedelta(days=90))
    visited(db, just_under, now - timedelta(days=89))
    greeting = greet(kind="win_back", body="{name}，好久不见", days=90)
    assert services.run_due_greetings(now=now) == 2
    assert services.run_due_greetings(now=now + timedelta(hours=1)) == 0       # the job twice: once
    services.run_due_greetings(now=now + timedelta(days=1))                     # the next day: still once
    out = greetings_out(db)
    assert sorted((row.msisdn, row.status) for row in out) == [
        ("+8613800000001", MessageStatus.QUEUED), ("+8613800000002", MessageStatus.QUEUED),
        ("+8613800000003", MessageStatus.QUEUED)]
    assert {row.occasion for row in out if row.msisdn == "+8613800000001"} == {f"care:{greeting.id}:20260822"}
    visited(db, away, now + timedelta(days=2))                                  # came back, then away again
    services.run_due_greetings(now=now + timedelta(days=93))
    assert sum(row.msisdn == "+8613800000001" for row in greetings_out(db)) == 2
    assert never_came.id


def test_win_back_per_tier_a_tiers_own_greeting_takes_its_members(db, merchant, make_member, greet, now):
    gold = make_member(msisdn="13800000001", joined_at=now - timedelta(days=400))
    plain = make_member(msisdn="13800000002", joined_at=now - timedelta(days=400))
    db.session.execute(sa.update(Member).where(Member.id == gold.id).values(tier="金卡"))
    db.session.commit()
    every = greet(kind="win_back", body="回来看看", days=30)
    own = greet(kind="win_back", code="金卡", body="金卡会员专享", days=30)
    services.run_due_greetings(now=now)
    assert sorted((row.msisdn, row.occasion.split(":")[1]) for row in greetings_out(db)) == [
        ("+8613800000001", str(own.id)), ("+8613800000002", str(every.id))]
    with pytest.raises(ValidationError, match="No tier"):
        services.save_greeting(merchant, kind="win_back", code="黑卡", enabled=True, body="x", now=now)
    assert plain.id


def test_churn_warns_members_whose_spend_fell_by_the_percentage_once_per_period(db, merchant, make_member,
                                                                                  greet, now):
    greeting = greet(kind="churn", body="{name}，期待您再次光临", days=30, drop_percent=50)
    _current, (start, middle, _end) = services.churn_periods(merchant, greeting, now.date())
    spends = {"13800000001": (400, 100), "13800000002": (400, 250), "13800000003": (0, 0),
              "13800000004": (400, 0), "13800000005": (400, 200)}
    for msisdn, (before, last) in spends.items():
        member = make_member(msisdn=msisdn, joined_at=start - timedelta(days=1))
        for amount, when in ((before, start + timedelta(days=1)), (last, middle + timedelta(days=1))):
            if amount:
                record_purchase(member, merchant, Decimal(amount), actor=SYSTEM, now=when)
    db.session.commit()
    services.run_due_greetings(now=now)
    services.run_due_greetings(now=now + timedelta(days=1))                     # same period: once
    assert sorted(row.msisdn for row in greetings_out(db)) == [
        "+8613800000001", "+8613800000004", "+8613800000005"]                  # fell 75 %, 100 %, 50 %


def test_the_call_list_shows_todays_win_back_and_churn_members_and_streams_a_csv(
        client, login, db, merchant, make_member, greet, now):
    make_member(msisdn="13800000001", name="王芳", joined_at=now - timedelta(days=400))
    make_member(msisdn="13800000002", name="=cmd", joined_at=now - timedelta(days=400))
    greet(kind="win_back", body="回来看看", days=90)
    login("clerk")
    page = client.get("/care/calls")
    assert page.status_code == 200
    assert "+8613800000001" in page.text and "王芳" in page.text
    assert client.get("/care/calls.csv").status_code == 403                     # the download: owners


def test_an_owner_downloads_the_call_list_as_csv(client, login, db, merchant, make_member, greet, now):
    make_member(msisdn="13800000001", name="王芳", joined_at=now - timedelta(days=400))
    make_member(msisdn="13800000002", name="=cmd", joined_at=now - timedelta(days=400))
    greet(kind="win_back", body="回来看看", days=90)
    login("owner")
    download = client.get("/care/calls.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert [row[1:3] for row in rows[1:]] == [["+8613800000001", "王芳"], ["+8613800000002", "'=cmd"]]


def test_points_expiring_notice_is_transactional_and_goes_once_per_lapse(db, merchant, make_member, greet, now):
    lapsing = make_member(msisdn="13800000001", opted_out=True)
    spent = make_member(msisdn="13800000002")
    later = make_member(msisdn="13800000003")
    earned = add_months(now, -12) + timedelta(days=3)
    for member in (lapsing, spent, later):
        grant_points(member, merchant, 100, reason="test", actor=SYSTEM, now=earned)
    grant_points(later, merchant, 100, reason="test", actor=SYSTEM, now=earned + timedelta(days=30))
    db.session.commit()
    from mcrm.points.services import redeem_points
    redeem_points(spent, 100, reason="test", actor=SYSTEM, now=now)
    db.session.commit()
    greet(kind="points_expiring", body="您有{expiring_points}积分即将到期", days=7, hour=22)
    services.run_due_greetings(now=now + timedelta(hours=10))                 # 22:00 local: any hour
    services.run_due_greetings(now=now + timedelta(hours=11))
    out = greetings_out(db)
    assert [(row.msisdn, row.status, row.text) for row in out] == [
        ("+8613800000001", MessageStatus.QUEUED, "【小王烧烤】您有100积分即将到期"),     # opted out, no hint
        ("+8613800000003", MessageStatus.QUEUED, "【小王烧烤】您有100积分即将到期")]
    kinds = db.session.scalars(sa.text("select kind from outbound_messages")).all()
    assert set(kinds) == {MessageKind.TRANSACTIONAL.value}


def test_tier_notices_go_after_a_change_once_and_not_for_the_first_look(db, merchant, make_member, greet, now):
    up, down, same = (make_member(msisdn=f"1380000000{n}") for n in (1, 2, 3))
    for member, tier in ((up, "银卡"), (down, "金卡"), (same, "银卡")):
        db.session.execute(sa.update(Member).where(Member.id == member.id).values(tier=tier))
    db.session.commit()
    greet(kind="tier_change", code="up", body="恭喜升级为{tier}")
    greet(kind="tier_change", code="down", body="您的等级调整为{tier}")
    services.run_due_greetings(now=now)
    assert greetings_out(db) == []                                              # the first look: no change
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CareMemberTier)) == 3
    for member, tier in ((up, "金卡"), (down, "银卡")):                          # the monthly evaluation moved them
        db.session.execute(sa.update(Member).where(Member.id == member.id).values(tier=tier))
    db.session.commit()
    services.run_due_greetings(now=now + timedelta(days=1))
    services.run_due_greetings(now=now + timedelta(days=1, hours=1))
    services.run_due_greetings(now=now + timedelta(days=2))
    assert sorted((row.msisdn, row.text) for row in greetings_out(db)) == [
        ("+8613800000001", "【小王烧烤】恭喜升级为金卡"), ("+8613800000002", "【小王烧烤】您的等级调整为银卡")]


def test_a_win_back_batch_of_many_absences_asks_the_outbox_once_and_keeps_each_absence(
        db, merchant, make_member, greet, now):
    """Each member's occasion is the last visit, so a batch holds as many occasions as members: the
    batch asked the outbox once per occasion (at a million members, minutes), now once."""
    members = [make_member(msisdn=f"138000001{i:02d}", joined_at=now - timedelta(days=400)) for i in range(30)]
    for i, member in enumerate(members):
        visited(db, member, now - timedelta(days=100 + i))
    greet(kind="win_back", body="{name}，好久不见", days=90)
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert services.run_due_greetings(now=now) == 30
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert sum("FROM outbound_messages" in sql and "GROUP BY" in sql for sql in statements) == 1
    visited(db, members[0], now + timedelta(days=1))                            # back, then away again
    services.run_due_greetings(now=now + timedelta(days=92))
    out = greetings_out(db)
    assert len(out) == 31 and {row.status for row in out} == {MessageStatus.QUEUED}
    assert sum(row.msisdn == members[0].msisdn for row in out) == 2


def test_the_weeks_plan_leaves_out_members_already_greeted_for_this_absence_or_period(db, merchant, make_member,
                                                                                    greet, now):
    """The job skips a member whose win-back (or churn period) has gone; the plan counted them again
    on every day of the week, as if each day would send to every lapsed member."""
    away = make_member(msisdn="13800000001", joined_at=now - timedelta(days=400))
    win_back = greet(kind="win_back", body="{name}，好久不见", days=90)
    churn = greet(kind="churn", body="{name}，期待您再次光临", days=30, drop_percent=50)
    _current, (start, _middle, _end) = services.churn_periods(merchant, churn, now.date())
    record_purchase(away, merchant, Decimal(400), actor=SYSTEM, now=start + timedelta(days=1))
    visited(db, away, now - timedelta(days=200))
    before = {p.greeting.id for p in services.outlook(merchant, now=now - timedelta(hours=3)).planned}
    assert before == {win_back.id, churn.id}                                    # 09:00: both still to go
    services.run_due_greetings(now=now)
    assert sorted(row.occasion.split(":")[1] for row in greetings_out(db)) == sorted([str(win_back.id),
                                                                                      str(churn.id)])
    assert services.outlook(merchant, now=now).planned == []
    visited(db, away, now + timedelta(hours=1))                                 # back: its next absence
    later = services.outlook(merchant, now=now + timedelta(days=85)).planned    # starts 90 days on
    assert [(p.greeting.id, p.day) for p in later] == [(win_back.id, now.date() + timedelta(days=90))]
