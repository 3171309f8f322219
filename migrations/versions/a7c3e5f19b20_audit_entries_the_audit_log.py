"""audit entries: the audit log

Revision ID: a7c3e5f19b20
Revises: b7c41e9d2a60
Create Date: 2026-12-06 13:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models


# revision identifiers, used by Alembic.
revision = 'a7c3e5f19b20'
down_revision = 'b7c41e9d2a60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_entries',
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('created_at', mcrm.core.models.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_audit_entries_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_audit_entries_staff_id_staff'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    op.create_index('ix_audit_entries_merchant_id', 'audit_entries', ['merchant_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_entries_merchant_id', table_name='audit_entries')
    op.drop_table('audit_entries')
