"""surveys: a coupon app whose code rewards completing the survey

Revision ID: b7d2e09c4a13
Revises: a4c81e5f2d07
Create Date: 2026-12-06 13:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d2e09c4a13'
down_revision = 'a4c81e5f2d07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reward_coupon_app_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_surveys_reward_coupon_app_id_keyword_apps'), 'keyword_apps',
                                    ['reward_coupon_app_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_surveys_reward_coupon_app_id_keyword_apps'), type_='foreignkey')
        batch_op.drop_column('reward_coupon_app_id')
