"""survey code as typed, code_key folded for matching

Revision ID: 466f8af33282
Revises: c3f5a8e1d294
Create Date: 2026-12-06 16:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '466f8af33282'
down_revision = 'c3f5a8e1d294'
branch_labels = None
depends_on = None


def upgrade():
    # codes were stored folded until now, so the stored code is its own key
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_key', sa.String(length=20), nullable=True))
    op.execute("UPDATE surveys SET code_key = code")
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.alter_column('code_key', existing_type=sa.String(length=20), nullable=False)
        batch_op.drop_constraint('uq_surveys_merchant_code', type_='unique')
        batch_op.create_unique_constraint('uq_surveys_merchant_code_key', ['merchant_id', 'code_key'])


def downgrade():
    # the code before this revision is the folded one, which texts are matched with
    op.execute("UPDATE surveys SET code = code_key")
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_constraint('uq_surveys_merchant_code_key', type_='unique')
        batch_op.create_unique_constraint('uq_surveys_merchant_code', ['merchant_id', 'code'])
        batch_op.drop_column('code_key')
