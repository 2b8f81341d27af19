"""sync: outbox, sender state, node registry, received events, read models

Revision ID: 20261127_0006
Revises: 20261127_0005
Create Date: 2026-11-27 04:25:07.886029
"""

import sqlalchemy as sa
from alembic import op

revision = '20261127_0006'
down_revision = '20261127_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sync_aggregate_heads',
    sa.Column('aggregate_type', sa.String(length=20), nullable=False),
    sa.Column('aggregate_id', sa.String(length=60), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('aggregate_type', 'aggregate_id', name=op.f('pk_sync_aggregate_heads'))
    )
    op.create_table('sync_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_attempts'))
    )
    with op.batch_alter_table('sync_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_attempts_started_at'), ['started_at'], unique=False)

    op.create_table('sync_case_index',
    sa.Column('number', sa.String(length=26), nullable=False),
    sa.Column('origin_node', sa.String(length=60), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('last_type', sa.String(length=40), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_sync_case_index'))
    )
    with op.batch_alter_table('sync_case_index', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_case_index_tenant_code'), ['tenant_code'], unique=False)

    op.create_table('sync_nodes',
    sa.Column('node_id', sa.String(length=60), nullable=False),
    sa.Column('subtree_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('events_received', sa.Integer(), nullable=False),
    sa.Column('reported_backlog', sa.Integer(), nullable=False),
    sa.Column('reported_oldest_unsent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('node_id', name=op.f('pk_sync_nodes'))
    )
    op.create_table('sync_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=80), nullable=True),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.Column('aggregate_type', sa.String(length=20), nullable=False),
    sa.Column('aggregate_id', sa.String(length=60), nullable=False),
    sa.Column('aggregate_seq', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('payload_version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('upstream_status', sa.String(length=10), nullable=False),
    sa.Column('upstream_reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_sync_outbox_event_id'))
    )
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_sync_outbox_place_time', ['tenant_code', 'occurred_at'], unique=False)
        batch_op.create_index('ix_sync_outbox_unsent', ['id'], unique=False, sqlite_where=sa.text('sent_at IS NULL'), postgresql_where=sa.text('sent_at IS NULL'))

    op.create_table('sync_place_day_counts',
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_code', 'day', 'type', name=op.f('pk_sync_place_day_counts'))
    )
    op.create_table('sync_received',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=80), nullable=False),
    sa.Column('from_node', sa.String(length=60), nullable=False),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.Column('aggregate_type', sa.String(length=20), nullable=False),
    sa.Column('aggregate_id', sa.String(length=60), nullable=False),
    sa.Column('aggregate_seq', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('payload_version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_received')),
    sa.UniqueConstraint('event_id', name=op.f('uq_sync_received_event_id'))
    )
    with op.batch_alter_table('sync_received', schema=None) as batch_op:
        batch_op.create_index('ix_sync_received_from_time', ['from_node', 'occurred_at'], unique=False)

    op.create_table('sync_rejected',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_node', sa.String(length=60), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('tenant_code', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_rejected'))
    )
    with op.batch_alter_table('sync_rejected', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_rejected_from_node'), ['from_node'], unique=False)

    op.create_table('sync_seen_batches',
    sa.Column('node_id', sa.String(length=60), nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('node_id', 'batch_id', name=op.f('pk_sync_seen_batches'))
    )
    with op.batch_alter_table('sync_seen_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_seen_batches_received_at'), ['received_at'], unique=False)

    op.create_table('sync_sender_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_sender_state'))
    )
    op.create_table('sync_node_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.String(length=60), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['sync_nodes.node_id'], name=op.f('fk_sync_node_keys_node_id_sync_nodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_node_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_sync_node_keys_key_id'))
    )
    with op.batch_alter_table('sync_node_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_node_keys_node_id'), ['node_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sync_node_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_node_keys_node_id'))

    op.drop_table('sync_node_keys')
    op.drop_table('sync_sender_state')
    with op.batch_alter_table('sync_seen_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_seen_batches_received_at'))

    op.drop_table('sync_seen_batches')
    with op.batch_alter_table('sync_rejected', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_rejected_from_node'))

    op.drop_table('sync_rejected')
    with op.batch_alter_table('sync_received', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_received_from_time')

    op.drop_table('sync_received')
    op.drop_table('sync_place_day_counts')
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_outbox_unsent', sqlite_where=sa.text('sent_at IS NULL'), postgresql_where=sa.text('sent_at IS NULL'))
        batch_op.drop_index('ix_sync_outbox_place_time')

    op.drop_table('sync_outbox')
    op.drop_table('sync_nodes')
    with op.batch_alter_table('sync_case_index', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_case_index_tenant_code'))

    op.drop_table('sync_case_index')
    with op.batch_alter_table('sync_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_attempts_started_at'))

    op.drop_table('sync_attempts')
    op.drop_table('sync_aggregate_heads')
