"""case_request_keys: Idempotency-Key of POST /api/v1/cases and the case each one made

Revision ID: 20261127_0005
Revises: 20261127_0004
Create Date: 2026-11-27 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '20261127_0005'
down_revision = '20261127_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_request_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_request_keys_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_case_request_keys_staff_id_staff'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_request_keys')),
    sa.UniqueConstraint('staff_id', 'key', name=op.f('uq_case_request_keys_staff_id_key'))
    )
    with op.batch_alter_table('case_request_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_request_keys_tenant_code'), ['tenant_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_request_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_request_keys_tenant_code'))

    op.drop_table('case_request_keys')
