"""Figures for the dashboard, all scoped to one merchant."""
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.points.models import IS_CREDIT, PointsEntry


@dataclass(frozen=True)
class DashboardFigures:
    members: int
    new_this_month: int
    opted_out: int
    points_issued_this_month: int
    points_redeemed_this_month: int
    points_outstanding: int
    tiers: list[tuple[str, int]]


def month_start(merchant: Merchant, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(merchant.timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def dashboard_figures(merchant: Merchant, *, now: datetime) -> DashboardFigures:
    since = month_start(merchant, now)
    live = sa.and_(Member.merchant_id == merchant.id, Member.deleted_at.is_(None))
    members, opted_out, outstanding = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((Member.opted_out, 1), else_=0)), 0),
                  sa.func.coalesce(sa.func.sum(Member.points_balance), 0)).where(live)).one()
    new = db.session.scalar(sa.select(sa.func.count()).where(live, Member.joined_at >= since))
    issued, redeemed = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(sa.case((IS_CREDIT, PointsEntry.points), else_=0)), 0),
                  sa.func.coalesce(sa.func.sum(sa.case((PointsEntry.kind == "redeem", -PointsEntry.points),
                                                       else_=0)), 0))
        .where(PointsEntry.merchant_id == merchant.id, PointsEntry.created_at >= since)).one()
    counts = dict(db.session.execute(sa.select(Member.tier, sa.func.count()).where(live).group_by(Member.tier)).all())
    tiers = [(name, counts.get(name, 0)) for name, _threshold in merchant.tier_thresholds]
    return DashboardFigures(members=members, new_this_month=new, opted_out=int(opted_out),
                            points_issued_this_month=int(issued), points_redeemed_this_month=int(redeemed),
                            points_outstanding=int(outstanding), tiers=tiers)
