"""Concurrent redeems on PostgreSQL: many cashiers at once can never overdraw one member."""
import pytest
import sqlalchemy as sa

from mcrm.core.errors import InsufficientPointsError
from mcrm.members.models import Member
from mcrm.points.models import PointsEntry
from mcrm.points.services import SYSTEM, redeem_points
from tests.concurrency import run_together

THREADS = 10         # below the pool's 15 connections: every thread holds one while it waits at the barrier
REDEEMS_EACH = 5
POINTS_EACH = 30     # 10 x 5 x 30 = 1500 asked for, 1000 held: 33 redeems fit, 17 must be refused


@pytest.mark.postgres
def test_concurrent_redeems_never_overdraw_and_balance_equals_ledger_sum(app, db, make_member, now):
    member_id = make_member(points=1000).id

    def cashier(_n):
        member = db.session.get(Member, member_id)
        outcomes = []
        for _ in range(REDEEMS_EACH):
            try:
                redeem_points(member, POINTS_EACH, reason="并发兑换", actor=SYSTEM, now=now)
                db.session.commit()
                outcomes.append("redeemed")
            except InsufficientPointsError:
                db.session.rollback()
                outcomes.append("refused")
        return outcomes

    outcomes = [o for each in run_together(app, cashier, THREADS) for o in each]
    assert outcomes.count("redeemed") == 1000 // POINTS_EACH
    assert outcomes.count("refused") == THREADS * REDEEMS_EACH - 1000 // POINTS_EACH
    balance = db.session.scalar(sa.select(Member.points_balance).where(Member.id == member_id))
    ledger = db.session.scalar(sa.select(sa.func.sum(PointsEntry.points))
                               .where(PointsEntry.member_id == member_id))
    assert balance == ledger == 1000 % POINTS_EACH
    lowest = db.session.scalar(sa.select(sa.func.min(PointsEntry.balance_after))
                               .where(PointsEntry.member_id == member_id))
    assert lowest >= 0
