"""feedback desk: assignment, statuses, thread, response targets, satisfaction

Revision ID: 7d3f0c2a91b4
Revises: c4e1a7d09b21
Create Date: 2026-12-08 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import mcrm.core.models


# revision identifiers, used by Alembic.
revision = '7d3f0c2a91b4'
down_revision = 'c4e1a7d09b21'
branch_labels = None
depends_on = None

_TIMES = ('due_at', 'first_response_at', 'resolved_at', 'closed_at', 'last_activity_at', 'assignee_reminded_at',
          'owner_reminded_at', 'satisfaction_asked_at', 'satisfaction_at')


def upgrade():
    with op.batch_alter_table('feedback_tickets', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=10), type_=sa.String(length=12),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('created_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        for name in _TIMES:
            batch_op.add_column(sa.Column(name, mcrm.core.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('satisfaction', sa.SmallInteger(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_feedback_tickets_created_by_id_staff'), 'staff',
                                    ['created_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_feedback_tickets_assignee_id_staff'), 'staff',
                                    ['assignee_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_feedback_tickets_merchant_msisdn', ['merchant_id', 'msisdn', 'id'], unique=False)
    # the old statuses: open is new, answered is in progress
    op.execute("UPDATE feedback_tickets SET status = 'new' WHERE status = 'open'")
    op.execute("UPDATE feedback_tickets SET status = 'in_progress' WHERE status = 'answered'")
    op.execute("UPDATE feedback_tickets SET last_activity_at = received_at")
    op.create_table('feedback_entries',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('inbound_message_id', sa.Integer(), nullable=True),
    sa.Column('outbound_message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', mcrm.core.models.UTCDateTime(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_feedback_entries_staff_id_staff'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['feedback_tickets.id'], name=op.f('fk_feedback_entries_ticket_id_feedback_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_entries'))
    )
    with op.batch_alter_table('feedback_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_entries_ticket_id'), ['ticket_id'], unique=False)
    op.create_table('feedback_targets',
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_feedback_targets_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_targets')),
    sa.UniqueConstraint('merchant_id', 'kind', name='uq_feedback_targets_merchant_kind')
    )


def downgrade():
    op.drop_table('feedback_targets')
    with op.batch_alter_table('feedback_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_entries_ticket_id'))
    op.drop_table('feedback_entries')
    op.execute("UPDATE feedback_tickets SET status = 'open' WHERE status = 'new'")
    op.execute("UPDATE feedback_tickets SET status = 'answered' WHERE status IN ('in_progress', 'resolved')")
    with op.batch_alter_table('feedback_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_tickets_merchant_msisdn')
        batch_op.drop_constraint(batch_op.f('fk_feedback_tickets_assignee_id_staff'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_feedback_tickets_created_by_id_staff'), type_='foreignkey')
        batch_op.drop_column('satisfaction')
        for name in reversed(_TIMES):
            batch_op.drop_column(name)
        batch_op.drop_column('assignee_id')
        batch_op.drop_column('created_by_id')
        batch_op.alter_column('status', existing_type=sa.String(length=12), type_=sa.String(length=10),
                              existing_nullable=False)
