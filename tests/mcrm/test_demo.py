"""The demo data obeys the rules it demonstrates."""
import sqlalchemy as sa

from mcrm.demo import load_demo
from mcrm.members.models import Member
from mcrm.points import services
from mcrm.points.models import EntryKind, PointsEntry


def test_demo_balances_hold_no_points_past_the_merchants_expiry(db, now):
    merchant = load_demo(member_count=60, now=now).merchant
    db.session.commit()
    assert services.expire_due_points(merchant, now=now) == 0   # nothing lapsed is still on a balance
    expired = db.session.scalars(sa.select(PointsEntry).where(PointsEntry.kind == EntryKind.EXPIRE)).all()
    assert expired and all(entry.created_at <= now for entry in expired)
    # each lapse is recorded when it happened, before anything later in the member's history
    history = db.session.execute(sa.select(PointsEntry.member_id, PointsEntry.created_at)
                                 .order_by(PointsEntry.member_id, PointsEntry.id)).all()
    for earlier, later in zip(history, history[1:], strict=False):
        assert earlier.member_id != later.member_id or earlier.created_at <= later.created_at


def test_demo_tiers_are_what_the_tier_rule_gives_today(db, now):
    merchant = load_demo(member_count=30, now=now).merchant
    db.session.commit()
    for member in db.session.scalars(sa.select(Member).where(Member.merchant_id == merchant.id)):
        score = services.tier_score(member, merchant, now=now)
        assert (member.tier_score, member.tier_bonus) == (score.total, score.bonus)
