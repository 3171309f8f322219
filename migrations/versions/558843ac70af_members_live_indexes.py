"""members: filter and sort indexes hold live members only (WHERE deleted_at IS NULL) and cover segments

Revision ID: 558843ac70af
Revises: 6feb7679a04c
Create Date: 2026-12-06 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '558843ac70af'
down_revision = '6feb7679a04c'
branch_labels = None
depends_on = None

#: (old name, new name, column): the same keys, the new ones without deleted members
INDEXES = [("ix_members_merchant_points", "ix_members_live_points", "points_balance"),
           ("ix_members_merchant_last_visit", "ix_members_live_last_visit", "last_visit_at"),
           ("ix_members_merchant_spend", "ix_members_live_spend", "total_spend"),
           ("ix_members_merchant_tier", "ix_members_live_tier", "tier"),
           ("ix_members_merchant_birthday_month", "ix_members_live_birthday_month", "birthday_month"),
           ("ix_members_merchant_opted_out", "ix_members_live_opted_out", "opted_out")]
#: mcrm.members.models.MOVED_BY_PURCHASES and SELDOM_CHANGED as of this revision
MOVED_BY_PURCHASES = ("points_balance", "total_spend", "last_visit_at")
SELDOM_CHANGED = ("tier", "opted_out", "gender", "birthday_month", "birthday_is_lunar", "birthday",
                  "birthday_lunar_month", "birthday_lunar_day")
LIVE = sa.text("deleted_at IS NULL")


def upgrade():
    for old, new, column in INDEXES:
        carried = MOVED_BY_PURCHASES + SELDOM_CHANGED if column in MOVED_BY_PURCHASES else SELDOM_CHANGED
        op.drop_index(old, table_name="members")
        op.create_index(new, "members", ["merchant_id", column, "id", *(c for c in carried if c != column)],
                        unique=False, sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade():
    for old, new, column in INDEXES:
        op.drop_index(new, table_name="members")
        op.create_index(old, "members", ["merchant_id", column, "id"], unique=False)
