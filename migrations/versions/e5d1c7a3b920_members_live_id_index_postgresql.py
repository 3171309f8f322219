"""members: ix_members_live_id, live members by id with the segment columns (PostgreSQL only)

Revision ID: e5d1c7a3b920
Revises: 466f8af33282
Create Date: 2026-12-06 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5d1c7a3b920'
down_revision = '466f8af33282'
branch_labels = None
depends_on = None

#: mcrm.members.models as of this revision: MOVED_BY_PURCHASES, then SELDOM_CHANGED
CARRIED = ("points_balance", "total_spend", "last_visit_at", "tier", "opted_out", "gender", "birthday_month",
           "birthday_is_lunar", "birthday", "birthday_lunar_month", "birthday_lunar_day", "birthday_day")


def upgrade():
    # SQLite finds a member by rowid in the table itself (mcrm.members.models._live_id_index)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_members_live_id", "members", ["merchant_id", "id", *CARRIED], unique=False,
                        postgresql_where=sa.text("deleted_at IS NULL"))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_members_live_id", table_name="members")
