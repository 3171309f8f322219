"""points_entries: partial index of purchases (not voids) by member, for segment aggregates

Revision ID: e49384ace5a2
Revises: 558843ac70af
Create Date: 2026-12-06 10:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e49384ace5a2'
down_revision = '558843ac70af'
branch_labels = None
depends_on = None

PURCHASE = sa.text("kind = 'earn' AND voids_entry_id IS NULL")


def upgrade():
    op.create_index("ix_points_entries_purchases", "points_entries",
                    ["merchant_id", "member_id", "created_at", "amount", "id"], unique=False,
                    sqlite_where=PURCHASE, postgresql_where=PURCHASE)


def downgrade():
    op.drop_index("ix_points_entries_purchases", table_name="points_entries")
