"""survey invitations: a campaign's survey, and the invitation that opened a session

Revision ID: a4c81e5f2d07
Revises: b7d4e1a09c35
Create Date: 2026-12-06 13:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4c81e5f2d07'
down_revision = 'b7d4e1a09c35'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('survey_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_campaigns_survey_id_surveys'), 'surveys', ['survey_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('survey_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('occasion', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_survey_sessions_occasion'), ['occasion'], unique=False)


def downgrade():
    with op.batch_alter_table('survey_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_sessions_occasion'))
        batch_op.drop_column('occasion')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_campaigns_survey_id_surveys'), type_='foreignkey')
        batch_op.drop_column('survey_id')
