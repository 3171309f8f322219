from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from mcrm.core.errors import InsufficientPointsError, ValidationError
from mcrm.merchants.models import TierBasis
from mcrm.points import rules, services
from mcrm.points.models import EntryKind, PointsEntry
from mcrm.points.services import SYSTEM, Actor

CLERK = Actor("收银员")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def ledger_sum(db, member):
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0))
                             .where(PointsEntry.member_id == member.id))


def test_purchase_earns_amount_times_rate_and_updates_spend_and_visit(db, merchant, make_member, now):
    merchant.points_per_yuan = 2
    member = make_member()
    entry = services.record_purchase(member, merchant, "88.50", actor=CLERK, now=now)
    db.session.commit()
    assert entry.kind == EntryKind.EARN and entry.points == 177 and entry.balance_after == 177
    assert member.points_balance == 177 == ledger_sum(db, member)
    assert float(member.total_spend) == 88.5 and member.last_visit_at == now
    assert entry.expires_at == now.replace(year=now.year + 1)
    assert entry.actor == "收银员"


def test_redeem_refused_when_balance_is_short_and_nothing_changes(db, merchant, make_member, now):
    member = make_member(points=100)
    with pytest.raises(InsufficientPointsError) as error:
        services.redeem_points(member, 101, reason="菜品", actor=CLERK, now=now)
    db.session.rollback()
    assert error.value.details == {"balance": 100, "needed": 101}
    db.session.refresh(member)
    assert member.points_balance == 100 == ledger_sum(db, member)
    services.redeem_points(member, 100, reason="菜品", actor=CLERK, now=now)
    db.session.commit()
    assert member.points_balance == 0 == ledger_sum(db, member)


def test_manual_adjustment_needs_a_reason(db, merchant, make_member, now):
    member = make_member(points=10)
    with pytest.raises(ValidationError):
        services.adjust_points(member, merchant, 5, reason="  ", actor=CLERK, now=now)
    with pytest.raises(InsufficientPointsError):
        services.adjust_points(member, merchant, -11, reason="纠错", actor=CLERK, now=now)
    services.adjust_points(member, merchant, -10, reason="纠错", actor=CLERK, now=now)
    db.session.commit()
    assert member.points_balance == 0 == ledger_sum(db, member)


def test_repeated_request_with_the_same_key_changes_points_once(db, merchant, make_member, now):
    member = make_member()
    first = services.record_purchase(member, merchant, 50, actor=CLERK, now=now, idempotency_key="sms:42")
    again = services.record_purchase(member, merchant, 50, actor=CLERK, now=now, idempotency_key="sms:42")
    db.session.commit()
    assert first.id == again.id
    assert member.points_balance == 50 and float(member.total_spend) == 50


def test_expiry_run_is_idempotent_and_first_in_first_out(db, merchant, make_member, now):
    member = make_member()
    services.record_purchase(member, merchant, 100, actor=CLERK, now=now - timedelta(days=400))
    services.record_purchase(member, merchant, 70, actor=CLERK, now=now - timedelta(days=10))
    services.redeem_points(member, 30, reason="兑换", actor=CLERK, now=now - timedelta(days=5))
    db.session.commit()
    assert services.expire_due_points(merchant, now=now) == 1
    db.session.commit()
    assert member.points_balance == 70 == ledger_sum(db, member)  # 100 old - 30 redeemed = 70 lapsed
    assert services.expire_due_points(merchant, now=now) == 0
    assert services.expire_due_points(merchant, now=now + timedelta(hours=1)) == 0
    db.session.commit()
    expired = db.session.scalars(sa.select(PointsEntry).where(PointsEntry.kind == EntryKind.EXPIRE)).all()
    assert [e.points for e in expired] == [-70]
    assert expired[0].actor == SYSTEM.label


def test_expiring_soon_counts_points_lapsing_within_30_days(db, merchant, make_member, now):
    member = make_member()
    services.record_purchase(member, merchant, 40, actor=CLERK, now=now - timedelta(days=350))
    services.record_purchase(member, merchant, 60, actor=CLERK, now=now - timedelta(days=100))
    db.session.commit()
    assert services.expiring_points(member, now=now) == 40


def test_never_policy_keeps_points(db, merchant, make_member, now):
    merchant.points_expiry_policy = "never"
    member = make_member()
    services.record_purchase(member, merchant, 100, actor=CLERK, now=now - timedelta(days=4000))
    db.session.commit()
    assert services.expire_due_points(merchant, now=now) == 0


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


#: the monthly job's run of 1 March 2026 (03:00 in Shanghai)
MARCH_RUN = shanghai(2026, 3, 1, 3, 0)


def test_a_three_year_member_who_spent_3900_in_february_2025_is_diamond_at_the_1_march_2026_run(
        db, merchant, make_member):
    member = make_member(joined_at=shanghai(2023, 3, 1, 11, 0))
    services.record_purchase(member, merchant, 3900, actor=CLERK, now=shanghai(2025, 2, 14, 19, 0))
    db.session.commit()
    services.refresh_all_tiers(merchant, now=MARCH_RUN)
    db.session.commit()
    assert (member.tier, member.tier_score, member.tier_bonus) == ("钻石卡", 4100, 200)


def test_at_2_points_a_yuan_2000_yuan_scores_2000_not_the_points(db, merchant, make_member):
    merchant.points_per_yuan = 2
    member = make_member(joined_at=shanghai(2025, 3, 1, 11, 0))
    services.record_purchase(member, merchant, 2000, actor=CLERK, now=shanghai(2025, 6, 1, 12, 0))
    db.session.commit()
    assert member.points_balance == 4000
    assert services.tier_score(member, merchant, now=shanghai(2026, 1, 1, 3, 0)) == rules.TierScore(2000, 0)


def test_a_member_who_joined_on_1_march_2025_has_the_1_year_bonus_at_the_1_march_2026_run(
        db, merchant, make_member):
    member = make_member(joined_at=shanghai(2025, 3, 1, 11, 0))
    services.refresh_all_tiers(merchant, now=MARCH_RUN)
    db.session.commit()
    assert (member.tier_score, member.tier_bonus) == (100, 100)


def test_this_years_purchases_count_from_next_january(db, merchant, make_member, now):
    member = make_member(joined_at=now - timedelta(days=30))
    services.record_purchase(member, merchant, 1500, actor=CLERK, now=now)
    db.session.commit()
    assert (member.tier, member.tier_score) == ("贵宾卡", 0)
    assert services.refresh_all_tiers(merchant, now=shanghai(now.year + 1, 1, 1, 3, 0)) == 1
    db.session.commit()
    assert (member.tier, member.tier_score) == ("银卡", 1500)
    assert services.refresh_all_tiers(merchant, now=shanghai(now.year + 2, 1, 1, 3, 0)) == 1
    db.session.commit()
    assert (member.tier, member.tier_score, member.tier_bonus) == ("贵宾卡", 100, 100)


def test_with_the_rolling_12_months_a_purchase_counts_at_once_and_for_a_year(db, merchant, make_member, now):
    merchant.tier_basis = TierBasis.ROLLING_12_MONTHS
    member = make_member()
    services.record_purchase(member, merchant, 999, actor=CLERK, now=now - timedelta(days=400))
    services.record_purchase(member, merchant, 999, actor=CLERK, now=now)
    db.session.commit()
    assert member.tier == "贵宾卡" and member.tier_score == 999  # the purchase 400 days ago no longer counts
    services.record_purchase(member, merchant, 1, actor=CLERK, now=now)
    db.session.commit()
    assert member.tier == "银卡"


@pytest.mark.parametrize("basis", tuple(TierBasis))
def test_the_batch_re_evaluation_gives_every_member_what_refresh_tier_gives_one(
        db, merchant, make_member, now, basis):
    import random
    merchant.tier_basis = basis
    rng = random.Random(7)
    members = []
    for index in range(40):
        member = make_member(msisdn=f"+86138000{index:05d}", joined_at=now - timedelta(days=rng.randint(0, 4000)))
        for _ in range(rng.randint(0, 3)):
            services.record_purchase(member, merchant, rng.choice((300, 900, 1800)), actor=CLERK,
                                     now=now - timedelta(days=rng.randint(0, 500)))
        members.append(member)
    db.session.commit()
    later = now + timedelta(days=200)                   # the spend counted moves on, tenure grows
    expected = {}
    for member in members:                              # the one-member rule
        score = services.tier_score(member, merchant, now=later)
        expected[member.id] = (services.tier_rule(merchant).tier_for(score), score.total, score.bonus)
    changes = sum(expected[m.id][0] != m.tier for m in members)
    assert changes > 0
    assert services.refresh_all_tiers(merchant, now=later) == changes
    loaded = members[0]                                  # objects the session holds see the new values
    assert (loaded.tier, loaded.tier_score, loaded.tier_bonus) == expected[loaded.id]
    db.session.commit()
    db.session.expire_all()
    assert {m.id: (m.tier, m.tier_score, m.tier_bonus) for m in members} == expected


def test_points_earned_on_30_november_are_still_on_the_balance_on_1_december(db, merchant, make_member):
    merchant.points_expiry_policy, merchant.points_cycle_end_month = "cycle_end", 11  # December to November
    member = make_member(joined_at=shanghai(2025, 1, 5, 12, 0))
    services.record_purchase(member, merchant, 300, actor=CLERK, now=shanghai(2025, 11, 30, 20, 0))
    db.session.commit()
    assert services.expire_due_points(merchant, now=shanghai(2025, 12, 1, 2, 10)) == 0
    assert member.points_balance == 300
    assert services.expire_due_points(merchant, now=shanghai(2026, 11, 30, 2, 10)) == 0
    assert services.expire_due_points(merchant, now=shanghai(2026, 12, 1, 2, 10)) == 1  # the next cycle's end
    db.session.commit()
    assert member.points_balance == 0 == ledger_sum(db, member)


def test_a_new_merchants_points_cycle_runs_december_to_november(merchant):
    assert merchant.points_cycle_end_month == 11


def test_join_gift_entry_is_a_gift(db, merchant, make_member, now):
    member = make_member(points=100)
    entries = services.list_entries(member)
    assert [(e.kind, e.points, e.balance_after) for e in entries] == [(EntryKind.GIFT, 100, 100)]


def test_tenure_bonus_lifts_the_tier_score(db, merchant, make_member, now):
    member = make_member(joined_at=now - timedelta(days=3 * 366))
    services.record_purchase(member, merchant, 900, actor=CLERK, now=now - timedelta(days=365))  # last year
    services.refresh_tier(member, merchant, now=now)
    db.session.commit()
    assert (member.tier_score, member.tier_bonus, member.tier) == (900 + 200, 200, "银卡")


@pytest.mark.parametrize("change", ["purchase", "gift", "redeem"])
def test_the_returned_entry_is_its_row_as_stored_and_unmodified_in_the_session(db, merchant, make_member,
                                                                              now, change):
    member = make_member(points=50)
    if change == "purchase":
        entry = services.record_purchase(member, merchant, "88.50", actor=CLERK, now=now, idempotency_key="k")
    elif change == "gift":
        entry = services.grant_points(member, merchant, 100, reason="入会礼", actor=SYSTEM, now=now)
    else:
        entry = services.redeem_points(member, 30, reason="菜品", actor=CLERK, now=now, idempotency_key="k")
    assert entry in db.session and entry not in db.session.dirty and entry not in db.session.new
    stored = db.session.execute(sa.select(PointsEntry.__table__).where(PointsEntry.id == entry.id)).one()
    stored = stored._asdict()
    assert {column: getattr(entry, column) for column in stored} == stored
    assert entry.balance_after == member.points_balance == ledger_sum(db, member)
    assert db.session.get(PointsEntry, entry.id) is entry
    if change == "purchase":  # a repeat finds this very object
        repeat = services.record_purchase(member, merchant, 88.5, actor=CLERK, now=now, idempotency_key="k")
        assert repeat is entry


def test_an_entry_rolled_back_while_still_held_does_not_clash_with_the_next_one(db, merchant, make_member, now):
    member = make_member()
    db.session.commit()
    savepoint = db.session.begin_nested()
    gone = services.grant_points(member, merchant, 10, reason="活动", actor=CLERK, now=now)
    savepoint.rollback()
    # on SQLite the next entry gets the rolled-back one's id: the object still held must not clash
    services.grant_points(member, merchant, 20, reason="活动", actor=CLERK, now=now)
    db.session.commit()
    assert gone not in db.session
    assert [(e.points, e.balance_after) for e in services.list_entries(member)] == [(20, 20)]
    assert member.points_balance == 20 == ledger_sum(db, member)
