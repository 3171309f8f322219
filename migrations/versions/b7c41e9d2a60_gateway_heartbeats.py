"""gateway heartbeats: each gateway worker's last sign of life, for /readyz and /metrics

Revision ID: b7c41e9d2a60
Revises: b7d2e09c4a13
Create Date: 2026-12-06 13:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models


# revision identifiers, used by Alembic.
revision = 'b7c41e9d2a60'
down_revision = 'b7d2e09c4a13'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('gateway_heartbeats',
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('transport', sa.String(length=16), nullable=False),
    sa.Column('bound', sa.Boolean(), nullable=False),
    sa.Column('seen_at', mcrm.core.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_gateway_heartbeats'))
    )


def downgrade():
    op.drop_table('gateway_heartbeats')
