"""care: win-back, churn and notice settings; the tiers the tier notices last saw

Revision ID: c4e1a7d09b21
Revises: 6b7678a001ef
Create Date: 2026-12-06 11:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e1a7d09b21'
down_revision = '6b7678a001ef'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('care_greetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('days', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('drop_percent', sa.SmallInteger(), server_default='0', nullable=False))
    op.create_table('care_member_tiers',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_care_member_tiers_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_care_member_tiers_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_care_member_tiers'))
    )
    with op.batch_alter_table('care_member_tiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_member_tiers_merchant_id'), ['merchant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('care_member_tiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_member_tiers_merchant_id'))
    op.drop_table('care_member_tiers')
    with op.batch_alter_table('care_greetings', schema=None) as batch_op:
        batch_op.drop_column('drop_percent')
        batch_op.drop_column('days')
