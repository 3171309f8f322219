"""consent records and the message retention setting

Revision ID: b8d4f6a20c31
Revises: a7c3e5f19b20
Create Date: 2026-12-06 14:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models


# revision identifiers, used by Alembic.
revision = 'b8d4f6a20c31'
down_revision = 'a7c3e5f19b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('consent_records',
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.Column('at', mcrm.core.models.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_consent_records_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_consent_records_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_records'))
    )
    op.create_index('ix_consent_records_member', 'consent_records', ['member_id', 'id'], unique=False)
    # added and dropped in place: recreating merchants, batch mode's way, fails on SQLite with foreign
    # keys on once rows point at it
    op.add_column('merchants', sa.Column('message_retention_days', sa.Integer(), server_default='180',
                                         nullable=False))


def downgrade():
    with op.batch_alter_table('merchants', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('message_retention_days')
    op.drop_index('ix_consent_records_member', table_name='consent_records')
    op.drop_table('consent_records')
