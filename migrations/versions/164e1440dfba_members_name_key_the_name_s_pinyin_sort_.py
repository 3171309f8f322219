"""members.name_key: the name's pinyin sort key; merchant choices for members added in the console or by import

Imports also record whether the file has a header line and what the staff chose for the members
it adds (join gift, welcome SMS).

The list sorted by name and the name search walk ``ix_members_merchant_name_key`` instead of
``ix_members_merchant_name``; existing members get their key here, a thousand at a time.

Revision ID: 164e1440dfba
Revises: 4fac73fa8eb4
Create Date: 2026-12-06 04:24:07.470061

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models
from mcrm.members.name_keys import name_sort_key


# revision identifiers, used by Alembic.
revision = '164e1440dfba'
down_revision = '4fac73fa8eb4'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade():
    # plain ALTER TABLE, no batch copy: SQLite adds columns and indexes in place, and copying
    # members or merchants would drop a table that other rows point to
    op.add_column('members', sa.Column('name_key', sa.String(length=255).with_variant(sa.String(length=255, collation='C'), 'postgresql'), server_default='', nullable=False))
    _backfill_name_keys(op.get_bind())
    op.drop_index(op.f('ix_members_merchant_name'), table_name='members')
    op.create_index('ix_members_merchant_name_key', 'members', ['merchant_id', 'name_key', 'id'], unique=False)
    op.add_column('merchants', sa.Column('added_members_get_gift', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('merchants', sa.Column('added_members_get_sms', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('member_imports', sa.Column('has_header', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('member_imports', sa.Column('welcome_gift', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('member_imports', sa.Column('welcome_sms', sa.Boolean(), server_default=sa.false(), nullable=False))


def _backfill_name_keys(connection):
    """Every named member's key, in batches by id (before the index exists: cheaper to build after)."""
    members = sa.table('members', sa.column('id', sa.Integer), sa.column('name', sa.String),
                       sa.column('name_key', sa.String))
    update = members.update().where(members.c.id == sa.bindparam('m_id')).values(name_key=sa.bindparam('m_key'))
    last = 0
    while True:
        rows = connection.execute(sa.select(members.c.id, members.c.name)
                                  .where(members.c.id > last, members.c.name != '')
                                  .order_by(members.c.id).limit(BATCH)).all()
        if not rows:
            return
        connection.execute(update, [{'m_id': id_, 'm_key': name_sort_key(name)} for id_, name in rows])
        last = rows[-1].id


def downgrade():
    # plain ALTER TABLE as in upgrade (SQLite has DROP COLUMN since 3.35)
    op.drop_column('member_imports', 'welcome_sms')
    op.drop_column('member_imports', 'welcome_gift')
    op.drop_column('member_imports', 'has_header')
    op.drop_column('merchants', 'added_members_get_sms')
    op.drop_column('merchants', 'added_members_get_gift')
    op.drop_index('ix_members_merchant_name_key', table_name='members')
    op.create_index(op.f('ix_members_merchant_name'), 'members', ['merchant_id', 'name', 'id'], unique=False)
    op.drop_column('members', 'name_key')
