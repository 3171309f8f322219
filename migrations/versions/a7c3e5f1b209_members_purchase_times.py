"""members.purchase_1_at .. purchase_3_at: each member's three latest purchase times, for "at least k visits"

Revision ID: a7c3e5f1b209
Revises: b8d4f6a20c31
Create Date: 2026-12-06 13:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models


# revision identifiers, used by Alembic.
revision = 'a7c3e5f1b209'
down_revision = 'b8d4f6a20c31'
branch_labels = None
depends_on = None

#: mcrm.members.models.PURCHASE_TIMES, MOVED_BY_PURCHASES and SELDOM_CHANGED as of this revision
PURCHASE_TIMES = ("purchase_1_at", "purchase_2_at", "purchase_3_at")
MOVED_BY_PURCHASES = ("points_balance", "total_spend", "last_visit_at")
SELDOM_CHANGED = ("tier", "opted_out", "gender", "birthday_month", "birthday_is_lunar", "birthday",
                  "birthday_lunar_month", "birthday_lunar_day")
LIVE = sa.text("deleted_at IS NULL")


def _nth_purchase(offset: int) -> str:
    """SQL: when the member's purchase (an earn entry, neither a void nor voided) ``offset`` places
    before the latest was recorded."""
    return ("(SELECT p.created_at FROM points_entries p WHERE p.member_id = members.id AND p.kind = 'earn'"
            " AND p.voids_entry_id IS NULL AND NOT EXISTS (SELECT 1 FROM points_entries v"
            " WHERE v.voids_entry_id = p.id) ORDER BY p.created_at DESC, p.id DESC"
            f" LIMIT 1 OFFSET {offset})")


def upgrade():
    # plain ALTER TABLE, no batch copy, as in 164e1440dfba
    for column in PURCHASE_TIMES:
        op.add_column("members", sa.Column(column, mcrm.core.models.UTCDateTime(), nullable=True))
    op.execute("UPDATE members SET " + ", ".join(f"{column} = {_nth_purchase(n)}"
                                                 for n, column in enumerate(PURCHASE_TIMES))
               + " WHERE EXISTS (SELECT 1 FROM points_entries e WHERE e.member_id = members.id"
                 " AND e.kind = 'earn')")
    for column in PURCHASE_TIMES:
        op.create_index(f"ix_members_live_{column.removesuffix('_at')}", "members",
                        ["merchant_id", column, "id", *MOVED_BY_PURCHASES, *SELDOM_CHANGED],
                        unique=False, sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade():
    for column in reversed(PURCHASE_TIMES):
        op.drop_index(f"ix_members_live_{column.removesuffix('_at')}", table_name="members")
    # plain ALTER TABLE (SQLite has DROP COLUMN since 3.35): a batch copy drops members, which
    # other rows point to
    for column in reversed(PURCHASE_TIMES):
        op.drop_column("members", column)
