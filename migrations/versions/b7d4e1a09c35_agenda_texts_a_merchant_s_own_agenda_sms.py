"""agenda texts: a merchant's own wording of the agenda SMS

Revision ID: b7d4e1a09c35
Revises: 5e2a91c7d3f4
Create Date: 2026-12-06 13:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models


# revision identifiers, used by Alembic.
revision = 'b7d4e1a09c35'
down_revision = '5e2a91c7d3f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agenda_texts',
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', mcrm.core.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', mcrm.core.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_agenda_texts_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agenda_texts')),
    sa.UniqueConstraint('merchant_id', 'name', name=op.f('uq_agenda_texts_merchant_id'))
    )


def downgrade():
    op.drop_table('agenda_texts')
