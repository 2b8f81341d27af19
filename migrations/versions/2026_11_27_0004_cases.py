"""cases: the case (办件), its materials, review tasks, pauses and number counters

Revision ID: 20261127_0004
Revises: 20261127_0003
Create Date: 2026-11-27 02:35:04.060748
"""

import sqlalchemy as sa
from alembic import op

revision = '20261127_0004'
down_revision = '20261127_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_counters',
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_code', 'day', name=op.f('pk_case_counters'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=26), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('tenant_item_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('implementation_code', sa.String(length=36), nullable=False),
    sa.Column('item_name', sa.String(length=200), nullable=False),
    sa.Column('applicant_kind', sa.String(length=12), nullable=False),
    sa.Column('applicant_name', sa.String(length=100), nullable=False),
    sa.Column('applicant_id_type', sa.String(length=3), nullable=False),
    sa.Column('applicant_id_number', sa.String(length=18), nullable=False),
    sa.Column('contact_name', sa.String(length=60), nullable=False),
    sa.Column('contact_phone', sa.String(length=30), nullable=False),
    sa.Column('agent_name', sa.String(length=60), nullable=False),
    sa.Column('agent_id_number', sa.String(length=18), nullable=False),
    sa.Column('window_number', sa.String(length=10), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_on', sa.Date(), nullable=True),
    sa.Column('accepted_by', sa.String(length=60), nullable=False),
    sa.Column('promised_days', sa.Integer(), nullable=False),
    sa.Column('promised_unit', sa.String(length=10), nullable=False),
    sa.Column('statutory_days', sa.Integer(), nullable=False),
    sa.Column('statutory_unit', sa.String(length=10), nullable=False),
    sa.Column('paused_days', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('statutory_due_date', sa.Date(), nullable=True),
    sa.Column('calendar_missing', sa.String(length=40), nullable=False),
    sa.Column('refusal_reason', sa.Text(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result_code', sa.String(length=2), nullable=False),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('evaluation_refused', sa.Boolean(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_by', sa.String(length=60), nullable=False),
    sa.Column('delivery', sa.String(length=10), nullable=False),
    sa.Column('collected_by', sa.String(length=60), nullable=False),
    sa.Column('tracking_number', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_cases_item_id_items')),
    sa.ForeignKeyConstraint(['tenant_item_id'], ['tenant_items.id'], name=op.f('fk_cases_tenant_item_id_tenant_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('number', name=op.f('uq_cases_number'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_item_id'), ['item_id'], unique=False)
        batch_op.create_index('ix_cases_state_place_due', ['state', 'tenant_code', 'due_date', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_tenant_code'), ['tenant_code'], unique=False)

    op.create_table('case_materials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('necessity', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_materials_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_materials')),
    sa.UniqueConstraint('case_id', 'position', name=op.f('uq_case_materials_case_id_position'))
    )
    with op.batch_alter_table('case_materials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_materials_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_materials_tenant_code'), ['tenant_code'], unique=False)

    op.create_table('case_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('procedure', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('working_days', sa.Integer(), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_pauses_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_pauses'))
    )
    with op.batch_alter_table('case_pauses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_pauses_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_pauses_tenant_code'), ['tenant_code'], unique=False)

    op.create_table('review_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('opinion', sa.Text(), nullable=False),
    sa.Column('reviewer', sa.String(length=60), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_review_tasks_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_tasks')),
    sa.UniqueConstraint('case_id', 'department_code', name=op.f('uq_review_tasks_case_id_department_code'))
    )
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_tasks_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_review_tasks_inbox', ['department_code', 'state', 'tenant_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_tasks_tenant_code'), ['tenant_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_tasks_tenant_code'))
        batch_op.drop_index('ix_review_tasks_inbox')
        batch_op.drop_index(batch_op.f('ix_review_tasks_case_id'))

    op.drop_table('review_tasks')
    with op.batch_alter_table('case_pauses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_pauses_tenant_code'))
        batch_op.drop_index(batch_op.f('ix_case_pauses_case_id'))

    op.drop_table('case_pauses')
    with op.batch_alter_table('case_materials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_materials_tenant_code'))
        batch_op.drop_index(batch_op.f('ix_case_materials_case_id'))

    op.drop_table('case_materials')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_tenant_code'))
        batch_op.drop_index('ix_cases_state_place_due')
        batch_op.drop_index(batch_op.f('ix_cases_item_id'))

    op.drop_table('cases')
    op.drop_table('case_counters')
