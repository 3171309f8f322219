"""surveys: answers carry their survey; covering indexes for the results' counts and tallies

Revision ID: b7c3e9a1f2d6
Revises: a8c41f6e2d07
Create Date: 2026-12-06 13:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c3e9a1f2d6'
down_revision = 'a8c41f6e2d07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('survey_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_survey_sessions_results', ['survey_id', 'completed_at'], unique=False)
        batch_op.drop_index('ix_survey_sessions_survey_id')
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('survey_id', sa.Integer(), nullable=True))
    op.execute("UPDATE survey_answers SET survey_id = (SELECT survey_sessions.survey_id FROM survey_sessions "
               "WHERE survey_sessions.id = survey_answers.session_id)")
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.alter_column('survey_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_survey_answers_survey_id_surveys'), 'surveys', ['survey_id'],
                                    ['id'])
        batch_op.create_index('ix_survey_answers_tally', ['survey_id', 'position', 'value', 'session_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_answers_tally')
        batch_op.drop_constraint(batch_op.f('fk_survey_answers_survey_id_surveys'), type_='foreignkey')
        batch_op.drop_column('survey_id')
    with op.batch_alter_table('survey_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_survey_sessions_survey_id', ['survey_id'], unique=False)
        batch_op.drop_index('ix_survey_sessions_results')
