"""members: filter and sort indexes hold live members only (WHERE deleted_at IS NULL), some covering

Revision ID: 558843ac70af
Revises: 9577c2530793
Create Date: 2026-12-06 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '558843ac70af'
down_revision = '9577c2530793'
branch_labels = None
depends_on = None

#: (old name, new name, column, covering): the same keys, the new ones without deleted members
INDEXES = [("ix_members_merchant_points", "ix_members_live_points", "points_balance", True),
           ("ix_members_merchant_last_visit", "ix_members_live_last_visit", "last_visit_at", True),
           ("ix_members_merchant_spend", "ix_members_live_spend", "total_spend", True),
           ("ix_members_merchant_tier", "ix_members_live_tier", "tier", False),
           ("ix_members_merchant_birthday_month", "ix_members_live_birthday_month", "birthday_month", False),
           ("ix_members_merchant_opted_out", "ix_members_live_opted_out", "opted_out", False)]
#: mcrm.members.models.SEGMENT_COLUMNS as of this revision
SEGMENT_COLUMNS = ("points_balance", "total_spend", "last_visit_at", "tier", "opted_out", "gender",
                   "birthday_month", "birthday_is_lunar", "birthday", "birthday_lunar_month",
                   "birthday_lunar_day")
LIVE = sa.text("deleted_at IS NULL")


def upgrade():
    for old, new, column, covering in INDEXES:
        extra = [c for c in SEGMENT_COLUMNS if c != column] if covering else []
        op.drop_index(old, table_name="members")
        op.create_index(new, "members", ["merchant_id", column, "id", *extra], unique=False,
                        sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade():
    for old, new, column, _covering in INDEXES:
        op.drop_index(new, table_name="members")
        op.create_index(old, "members", ["merchant_id", column, "id"], unique=False)
