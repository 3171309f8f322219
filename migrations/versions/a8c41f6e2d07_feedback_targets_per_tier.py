"""feedback targets per member tier

Revision ID: a8c41f6e2d07
Revises: a7c3e5f1b209
Create Date: 2026-12-06 13:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a8c41f6e2d07'
down_revision = 'a7c3e5f1b209'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('feedback_targets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=20), server_default='', nullable=False))
        batch_op.drop_constraint('uq_feedback_targets_merchant_kind', type_='unique')
        batch_op.create_unique_constraint('uq_feedback_targets_merchant_kind_tier',
                                          ['merchant_id', 'kind', 'tier'])


def downgrade():
    op.execute("DELETE FROM feedback_targets WHERE tier <> ''")
    with op.batch_alter_table('feedback_targets', schema=None) as batch_op:
        batch_op.drop_constraint('uq_feedback_targets_merchant_kind_tier', type_='unique')
        batch_op.create_unique_constraint('uq_feedback_targets_merchant_kind', ['merchant_id', 'kind'])
        batch_op.drop_column('tier')
