"""A merchant: one shop or chain using mcrm, with every rule it may configure."""
from enum import StrEnum
from datetime import time
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.clock import DEFAULT_TIMEZONE
from mcrm.core.models import IdMixin, TimestampMixin
from mcrm.extensions import db

#: docs/points.md: the operator's tiers for new merchants (existing ones keep theirs): name and starting score, lowest first
DEFAULT_TIERS = [["贵宾卡", 0], ["银卡", 1000], ["金卡", 2000], ["白金卡", 3000], ["钻石卡", 4000]]
#: years of membership and the tier-score bonus they give
DEFAULT_TENURE_BONUS = [[1, 100], [3, 200], [10, 300]]
#: the most marketing SMS a merchant may let one member get per day
MAX_FREQUENCY_CAP = 20


class ExpiryPolicy(StrEnum):
    MONTHS = "months"        # each earn expires N months after it was earned
    CYCLE_END = "cycle_end"  # everything earned in a cycle expires at the cycle end
    NEVER = "never"


class TierBasis(StrEnum):
    """The spend a tier score counts."""
    LAST_YEAR = "last_year"                   # the previous calendar year, January to December
    ROLLING_12_MONTHS = "rolling_12_months"   # the last 12 months, today included


class Merchant(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "merchants"

    name: Mapped[str] = mapped_column(sa.String(100))
    #: digits appended to the access number to form the merchant's service number
    sub_code: Mapped[str] = mapped_column(sa.String(10), unique=True)
    #: prefix of every MT, e.g. 【小王烧烤】
    signature: Mapped[str] = mapped_column(sa.String(30))
    timezone: Mapped[str] = mapped_column(sa.String(50), default=DEFAULT_TIMEZONE)
    locale: Mapped[str] = mapped_column(sa.String(5), default="zh")
    #: marketing SMS only go out between these local times
    send_window_start: Mapped[time] = mapped_column(sa.Time, default=time(8, 0))
    send_window_end: Mapped[time] = mapped_column(sa.Time, default=time(21, 0))
    #: most marketing SMS one member may get per local day
    frequency_cap_per_day: Mapped[int] = mapped_column(default=1)
    unsubscribe_hint: Mapped[str] = mapped_column(sa.String(30), default="回T退订")
    #: points awarded per yuan spent
    points_per_yuan: Mapped[float] = mapped_column(sa.Numeric(10, 2), default=1)
    #: points given when a consumer joins
    join_gift_points: Mapped[int] = mapped_column(default=100)
    #: whether members added in the console or by import get the join gift, and the welcome SMS
    #: (the ZC reply); off until the merchant says so: an import of old customers would otherwise
    #: text them all. The import page asks again, with these as its defaults
    added_members_get_gift: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    added_members_get_sms: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: days the bodies of sent and received SMS are kept; then a daily job blanks them (0: kept)
    message_retention_days: Mapped[int] = mapped_column(default=180, server_default="180")
    points_expiry_policy: Mapped[str] = mapped_column(sa.String(20), default=ExpiryPolicy.MONTHS)
    points_expiry_months: Mapped[int] = mapped_column(default=12)
    #: month (1-12) whose last day ends a points cycle, for the cycle_end policy (11: December to November)
    points_cycle_end_month: Mapped[int] = mapped_column(default=11)
    #: the spend a tier score counts (TierBasis), besides the tenure bonus
    tier_basis: Mapped[str] = mapped_column(sa.String(20), default=TierBasis.LAST_YEAR,
                                            server_default=TierBasis.LAST_YEAR)
    tier_thresholds: Mapped[list] = mapped_column(sa.JSON, default=lambda: [list(t) for t in DEFAULT_TIERS])
    tenure_bonus: Mapped[list] = mapped_column(sa.JSON, default=lambda: [list(t) for t in DEFAULT_TENURE_BONUS])
    #: text the member when staff record a purchase or redemption (console or XF/DH) or void one
    points_change_sms: Mapped[bool] = mapped_column(default=True, server_default="1")
    #: a purchase above this many yuan is refused (None: no limit of the merchant's own)
    max_purchase_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2), default=Decimal(50000),
                                                                 server_default="50000")
    #: the console asks staff to confirm a purchase above this; XF by SMS refuses it (None: never asks)
    confirm_purchase_above: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2), default=Decimal(5000),
                                                                    server_default="5000")
    #: per-merchant overrides of reply texts and keywords (keyed by text id)
    texts: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self):
        return f"<Merchant {self.id} {self.sub_code}>"
