"""sync_case_index: point at the received event that holds the case instead of keeping a copy of it

Revision ID: 20261204_0010
Revises: 20261204_0009
Create Date: 2026-12-04 18:00:00

Every case event a node receives carries the case's snapshot in its payload, stored in sync_received;
the index copied that snapshot again, which doubled what a batch writes. The index now names the
received event of its `last_seq` (`event_id`); the case page reads the snapshot from there. Existing
entries are matched to their event by case number and sequence, through a temporary index (without
it every entry would scan the received events). SQLite drops the column in place, as in 0009.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261204_0010'
down_revision = '20261204_0009'
branch_labels = None
depends_on = None

MATCH = ('FROM sync_received r WHERE r.aggregate_type = \'case\' AND r.aggregate_id = sync_case_index.number '
         'AND r.aggregate_seq = sync_case_index.last_seq ORDER BY r.id DESC LIMIT 1')


def upgrade() -> None:
    op.add_column('sync_case_index', sa.Column('event_id', sa.String(80), nullable=False, server_default=''))
    op.create_index('tmp_sync_received_aggregate', 'sync_received', ['aggregate_id', 'aggregate_seq'])
    op.execute(f'UPDATE sync_case_index SET event_id = COALESCE((SELECT r.event_id {MATCH}), \'\')')  # noqa: S608 - constant SQL
    op.drop_index('tmp_sync_received_aggregate', 'sync_received')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE sync_case_index DROP COLUMN snapshot')
    else:
        op.alter_column('sync_case_index', 'event_id', server_default=None)
        op.drop_column('sync_case_index', 'snapshot')


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.add_column('sync_case_index', sa.Column('snapshot', sa.JSON(), nullable=True))
    case = "json_extract(r.payload, '$.case')" if sqlite else "(r.payload -> 'case')"
    op.create_index('tmp_sync_received_aggregate', 'sync_received', ['aggregate_id', 'aggregate_seq'])
    op.execute(f"UPDATE sync_case_index SET snapshot = COALESCE((SELECT {case} {MATCH}), '{{}}')")  # noqa: S608
    op.drop_index('tmp_sync_received_aggregate', 'sync_received')
    if sqlite:  # SQLite cannot add NOT NULL in place; the model does not care
        op.execute('ALTER TABLE sync_case_index DROP COLUMN event_id')
    else:
        op.alter_column('sync_case_index', 'snapshot', nullable=False)
        op.drop_column('sync_case_index', 'event_id')
