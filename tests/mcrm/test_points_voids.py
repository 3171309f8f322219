"""Voiding a purchase or a redemption, and the purchase limits a merchant sets (services, real database)."""
from datetime import datetime, timedelta, UTC
from decimal import Decimal

import pytest
import sqlalchemy as sa

from mcrm.core.errors import ConfirmationRequiredError, ConflictError, InsufficientPointsError, ValidationError
from mcrm.members.models import Member
from mcrm.merchants.models import TierBasis
from mcrm.points import services
from mcrm.points.models import EntryKind, PointsEntry
from mcrm.points.services import Actor
from tests.concurrency import run_together

MANAGER = Actor("店长")
CLERK = Actor("收银员")


def ledger_sum(db, member):
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0))
                             .where(PointsEntry.member_id == member.id))


def test_voiding_a_purchase_takes_back_its_points_spend_and_tier_score_with_a_linked_entry(
        db, merchant, make_member, now):
    member = make_member(points=100)
    kept = services.record_purchase(member, merchant, 300, actor=CLERK, now=now)
    wrong = services.record_purchase(member, merchant, "880.50", actor=CLERK, now=now)
    db.session.commit()
    assert member.points_balance == 1280

    void = services.void_entry(wrong, merchant, reason="多按了一个0", actor=MANAGER, now=now + timedelta(minutes=5))
    db.session.commit()

    assert (void.kind, void.points, void.amount, void.voids_entry_id) == (EntryKind.EARN, -880, Decimal("-880.50"),
                                                                          wrong.id)
    assert void.reason == "多按了一个0" and void.actor == "店长" and void.expires_at == wrong.expires_at
    db.session.expire_all()
    member = db.session.get(Member, member.id)
    assert member.points_balance == 400 == ledger_sum(db, member)
    assert member.total_spend == Decimal("300.00")
    # what tier scoring sums, points or yuan of purchases, nets the void out; the tier is recomputed
    earned, spent = db.session.execute(sa.select(sa.func.sum(PointsEntry.points), sa.func.sum(PointsEntry.amount))
                                       .where(PointsEntry.member_id == member.id,
                                              PointsEntry.kind == EntryKind.EARN)).one()
    assert (earned, spent) == (300, Decimal("300.00"))
    assert member.tier_score == services.tier_score(member, merchant, now=now).total
    original = db.session.get(PointsEntry, wrong.id)
    assert original.voided_by.id == void.id and original.voided_by.voids.id == wrong.id
    assert not original.is_voidable and not original.voided_by.is_voidable
    assert db.session.get(PointsEntry, kept.id).is_voidable


def test_a_purchase_voided_in_the_next_year_leaves_the_year_it_was_made_in(db, merchant, make_member):
    merchant.tier_basis = TierBasis.LAST_YEAR
    member = make_member()
    kept = services.record_purchase(member, merchant, 1200, actor=CLERK,
                                    now=datetime(2025, 12, 1, 4, tzinfo=UTC))
    wrong = services.record_purchase(member, merchant, 3000, actor=CLERK,
                                     now=datetime(2025, 12, 20, 4, tzinfo=UTC))
    services.void_entry(wrong, merchant, reason="录错会员", actor=MANAGER,
                        now=datetime(2026, 1, 5, 4, tzinfo=UTC))
    db.session.commit()
    # the 2025 spend is the ¥1,200 kept; 2026 is not lowered by the void of a 2025 purchase
    assert services.tier_score(member, merchant, now=datetime(2026, 3, 1, 4, tzinfo=UTC)).spend == 1200
    assert services.tier_score(member, merchant, now=datetime(2027, 3, 1, 4, tzinfo=UTC)).spend == 0
    assert kept.voided_by is None


def test_voiding_a_redemption_gives_the_points_back(db, merchant, make_member, now):
    member = make_member(points=500)
    redeemed = services.redeem_points(member, 200, reason="甜品", actor=CLERK, now=now)
    void = services.void_entry(redeemed, merchant, reason="客人没要", actor=MANAGER, now=now)
    db.session.commit()
    assert (void.kind, void.points, void.amount, void.voids_entry_id) == (EntryKind.REDEEM, 200, None, redeemed.id)
    assert member.points_balance == 500 == ledger_sum(db, member)


def test_an_entry_is_voided_once_and_only_purchases_and_redemptions_with_a_reason(db, merchant, make_member, now):
    member = make_member(points=500)
    purchase = services.record_purchase(member, merchant, 50, actor=CLERK, now=now)
    adjustment = services.adjust_points(member, merchant, 5, reason="补录", actor=MANAGER, now=now)
    gift = db.session.scalar(sa.select(PointsEntry).where(PointsEntry.kind == EntryKind.GIFT))
    with pytest.raises(ValidationError, match="reason"):
        services.void_entry(purchase, merchant, reason="  ", actor=MANAGER, now=now)
    for entry in (adjustment, gift):
        with pytest.raises(ValidationError, match="Only a purchase or a redemption"):
            services.void_entry(entry, merchant, reason="错", actor=MANAGER, now=now)
    void = services.void_entry(purchase, merchant, reason="错", actor=MANAGER, now=now)
    db.session.commit()
    with pytest.raises(ConflictError, match="already been voided"):
        services.void_entry(purchase, merchant, reason="再撤一次", actor=MANAGER, now=now)
    with pytest.raises(ValidationError, match="Only a purchase or a redemption"):
        services.void_entry(void, merchant, reason="撤销撤销", actor=MANAGER, now=now)
    db.session.rollback()
    assert member.points_balance == 505 == ledger_sum(db, member)


def test_a_purchase_whose_points_were_spent_cannot_be_voided_and_nothing_changes(db, merchant, make_member, now):
    member = make_member()
    purchase = services.record_purchase(member, merchant, 300, actor=CLERK, now=now)
    services.redeem_points(member, 250, reason="兑换", actor=CLERK, now=now)
    db.session.commit()
    with pytest.raises(InsufficientPointsError) as refused:
        services.void_entry(purchase, merchant, reason="退货", actor=MANAGER, now=now)
    db.session.rollback()
    assert refused.value.details == {"balance": 50, "needed": 300}
    assert "spent" in str(refused.value)
    db.session.refresh(member)
    assert member.points_balance == 50 == ledger_sum(db, member) and member.total_spend == 300


def test_a_purchase_whose_points_have_lapsed_cannot_be_voided(db, merchant, make_member, now):
    member = make_member()
    purchase = services.record_purchase(member, merchant, 80, actor=CLERK, now=now - timedelta(days=400))
    db.session.commit()
    with pytest.raises(ValidationError, match="expired"):
        services.void_entry(purchase, merchant, reason="退货", actor=MANAGER, now=now)


def test_a_voided_purchase_takes_its_own_points_out_of_expiry_not_the_oldest(db, merchant, make_member, now):
    """First in, first out: a void is no spending. Counted as a debit, it would use up the older
    points and keep the voided purchase's points alive until their own expiry."""
    member = make_member()
    services.record_purchase(member, merchant, 100, actor=CLERK, now=now - timedelta(days=300))
    wrong = services.record_purchase(member, merchant, 50, actor=CLERK, now=now)
    services.void_entry(wrong, merchant, reason="记错会员", actor=MANAGER, now=now)
    db.session.commit()
    assert member.points_balance == 100
    assert services.expiring_points(member, now=now, days=90) == 100
    services.expire_due_points(merchant, now=now + timedelta(days=70))
    db.session.commit()
    assert member.points_balance == 0 == ledger_sum(db, member)


def test_voided_redemption_points_lapse_as_they_would_have(db, merchant, make_member, now):
    """The points come back with their old expiry: a void is no new grant that never lapses."""
    member = make_member()
    services.record_purchase(member, merchant, 100, actor=CLERK, now=now - timedelta(days=300))
    redeemed = services.redeem_points(member, 100, reason="兑换", actor=CLERK, now=now)
    services.void_entry(redeemed, merchant, reason="兑换取消", actor=MANAGER, now=now)
    db.session.commit()
    assert member.points_balance == 100
    services.expire_due_points(merchant, now=now + timedelta(days=70))
    db.session.commit()
    assert member.points_balance == 0 == ledger_sum(db, member)


def test_points_given_back_after_they_lapsed_lapse_at_once(db, merchant, make_member, now):
    member = make_member()
    services.record_purchase(member, merchant, 100, actor=CLERK, now=now - timedelta(days=370))
    redeemed = services.redeem_points(member, 100, reason="兑换", actor=CLERK, now=now - timedelta(days=10))
    db.session.commit()
    services.void_entry(redeemed, merchant, reason="兑换取消", actor=MANAGER, now=now)
    db.session.commit()
    kinds = db.session.scalars(sa.select(PointsEntry.kind).where(PointsEntry.member_id == member.id)
                               .order_by(PointsEntry.id)).all()
    assert kinds == [EntryKind.EARN, EntryKind.REDEEM, EntryKind.REDEEM, EntryKind.EXPIRE]
    assert member.points_balance == 0 == ledger_sum(db, member)


def test_two_managers_voiding_the_same_purchase_at_once_void_it_once(app, db, merchant, make_member, now):
    member = make_member(points=1000)
    purchase_id = services.record_purchase(member, merchant, 300, actor=CLERK, now=now).id
    member_id, merchant_id = member.id, merchant.id
    db.session.commit()

    def manager(_n):
        # both start together; on SQLite the second then waits for the first's write lock,
        # on PostgreSQL both pass the first check and the unique link settles it
        from mcrm.merchants.models import Merchant
        entry = db.session.get(PointsEntry, purchase_id)
        try:
            services.void_entry(entry, db.session.get(Merchant, merchant_id), reason="并发撤销", actor=MANAGER,
                                now=now)
            db.session.commit()
            return "voided"
        except ConflictError:
            db.session.rollback()
            return "refused"

    outcomes = run_together(app, manager, 2)
    assert sorted(outcomes) == ["refused", "voided"]
    balance = db.session.scalar(sa.select(Member.points_balance).where(Member.id == member_id))
    assert balance == 1000 == ledger_sum(db, db.session.get(Member, member_id))


# -- the merchant's purchase limits ----------------------------------------------------------------

def test_a_purchase_above_the_maximum_is_refused_and_above_the_threshold_needs_a_confirmation(
        db, merchant, make_member, now):
    merchant.max_purchase_amount, merchant.confirm_purchase_above = Decimal(20000), Decimal(2000)
    member = make_member()
    with pytest.raises(ValidationError, match="¥20,000.01 is more than the largest purchase this shop records, "
                                              "¥20,000.00"):
        services.record_purchase(member, merchant, "20000.01", actor=CLERK, now=now, confirmed=True)
    with pytest.raises(ConfirmationRequiredError, match="¥8,800.00 is above ¥2,000.00"):
        services.record_purchase(member, merchant, 8800, actor=CLERK, now=now)
    assert member.points_balance == 0 and ledger_sum(db, member) == 0
    services.record_purchase(member, merchant, 2000, actor=CLERK, now=now)
    services.record_purchase(member, merchant, 8800, actor=CLERK, now=now, confirmed=True)
    db.session.commit()
    assert member.points_balance == 10800


def test_a_merchant_without_limits_records_any_plausible_amount(db, merchant, make_member, now):
    merchant.max_purchase_amount = merchant.confirm_purchase_above = None
    member = make_member()
    services.record_purchase(member, merchant, 1_000_000, actor=CLERK, now=now)
    db.session.commit()
    assert member.points_balance == 1_000_000


def test_new_merchants_refuse_above_50000_and_confirm_above_5000(merchant):
    assert (merchant.max_purchase_amount, merchant.confirm_purchase_above) == (50000, 5000)
    assert merchant.points_change_sms is True



def test_the_dashboard_counts_neither_a_voided_purchase_as_issued_nor_a_voided_redemption(db, merchant,
                                                                                        make_member, now):
    from mcrm.dashboard.services import dashboard_figures
    member = make_member(points=500)
    services.void_entry(services.record_purchase(member, merchant, 300, actor=CLERK, now=now), merchant,
                        reason="记错", actor=MANAGER, now=now)
    services.void_entry(services.redeem_points(member, 200, reason="甜品", actor=CLERK, now=now), merchant,
                        reason="客人没要", actor=MANAGER, now=now)
    db.session.commit()
    figures = dashboard_figures(merchant, now=now)
    assert (figures.points_issued_this_month, figures.points_redeemed_this_month) == (500, 0)
