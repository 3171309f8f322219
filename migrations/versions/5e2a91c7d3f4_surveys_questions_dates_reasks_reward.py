"""surveys: questions, open and close dates, re-asks, reward, extension; session progress

Revision ID: 5e2a91c7d3f4
Revises: 7d3f0c2a91b4
Create Date: 2026-12-06 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models


# revision identifiers, used by Alembic.
revision = '5e2a91c7d3f4'
down_revision = '7d3f0c2a91b4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thanks', sa.String(length=500), server_default='', nullable=False))
        batch_op.add_column(sa.Column('opens_at', mcrm.core.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closes_at', mcrm.core.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('max_reasks', sa.Integer(), server_default='2', nullable=False))
        batch_op.add_column(sa.Column('reward_points', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('extension', sa.String(length=6), server_default='', nullable=False))
    op.create_table('survey_questions',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('single', 'multiple', 'rating5', 'rating10', 'number', 'text', name='questionkind',
                              native_enum=False, create_constraint=False, length=16), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('branches', sa.JSON(), nullable=False),
    sa.Column('reask_text', sa.String(length=500), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_questions_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_questions')),
    sa.UniqueConstraint('survey_id', 'position', name='uq_survey_questions_position')
    )
    with op.batch_alter_table('survey_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reasks', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('completed_at', mcrm.core.models.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_survey_sessions_survey_id'), ['survey_id'], unique=False)
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('value', sa.String(length=700), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.drop_column('value')
    with op.batch_alter_table('survey_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_sessions_survey_id'))
        batch_op.drop_column('completed_at')
        batch_op.drop_column('reasks')
        batch_op.drop_column('position')
    op.drop_table('survey_questions')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_column('extension')
        batch_op.drop_column('reward_points')
        batch_op.drop_column('max_reasks')
        batch_op.drop_column('closes_at')
        batch_op.drop_column('opens_at')
        batch_op.drop_column('thanks')

