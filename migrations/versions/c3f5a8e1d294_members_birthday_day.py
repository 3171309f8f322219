"""members.birthday_day: the birthday's day in its own calendar, carried by the live indexes

Revision ID: c3f5a8e1d294
Revises: 2a84f8dbe06a
Create Date: 2026-12-06 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3f5a8e1d294'
down_revision = '2a84f8dbe06a'
branch_labels = None
depends_on = None

#: mcrm.members.models as of this revision: each live index's name and key column, and the
#: columns they carry (SELDOM_CHANGED gains birthday_day here)
LIVE_INDEXES = {"ix_members_live_points": "points_balance", "ix_members_live_last_visit": "last_visit_at",
                "ix_members_live_spend": "total_spend", "ix_members_live_tier": "tier",
                "ix_members_live_birthday_month": "birthday_month", "ix_members_live_opted_out": "opted_out",
                "ix_members_live_purchase_1": "purchase_1_at", "ix_members_live_purchase_2": "purchase_2_at",
                "ix_members_live_purchase_3": "purchase_3_at"}
PURCHASE_TIMES = ("purchase_1_at", "purchase_2_at", "purchase_3_at")
MOVED_BY_PURCHASES = ("points_balance", "total_spend", "last_visit_at")
SELDOM_CHANGED = ("tier", "opted_out", "gender", "birthday_month", "birthday_is_lunar", "birthday",
                  "birthday_lunar_month", "birthday_lunar_day")
LIVE = sa.text("deleted_at IS NULL")


def _create_live_indexes(seldom_changed: tuple[str, ...]) -> None:
    for name, column in LIVE_INDEXES.items():
        moved = column in MOVED_BY_PURCHASES + PURCHASE_TIMES
        carried = MOVED_BY_PURCHASES + seldom_changed if moved else seldom_changed
        op.create_index(name, "members", ["merchant_id", column, "id", *(c for c in carried if c != column)],
                        unique=False, sqlite_where=LIVE, postgresql_where=LIVE)


def _drop_live_indexes() -> None:
    for name in LIVE_INDEXES:
        op.drop_index(name, table_name="members")


def upgrade():
    # the indexes go first: filling the column then rewrites the rows only, not nine indexes too
    _drop_live_indexes()
    # plain ALTER TABLE, no batch copy, as in 164e1440dfba
    op.add_column("members", sa.Column("birthday_day", sa.SmallInteger(), nullable=True))
    members = sa.table("members", sa.column("birthday_day", sa.SmallInteger), sa.column("birthday", sa.Date),
                       sa.column("birthday_is_lunar", sa.Boolean),
                       sa.column("birthday_lunar_day", sa.SmallInteger),
                       sa.column("birthday_month", sa.SmallInteger))
    op.execute(sa.update(members).where(members.c.birthday_month.is_not(None)).values(birthday_day=sa.case(
        (members.c.birthday_is_lunar == sa.true(), members.c.birthday_lunar_day),
        else_=sa.cast(sa.extract("day", members.c.birthday), sa.SmallInteger))))
    _create_live_indexes(SELDOM_CHANGED + ("birthday_day",))


def downgrade():
    _drop_live_indexes()
    # plain ALTER TABLE (SQLite has DROP COLUMN since 3.35): a batch copy drops members, which
    # other rows point to
    op.drop_column("members", "birthday_day")
    _create_live_indexes(SELDOM_CHANGED)
