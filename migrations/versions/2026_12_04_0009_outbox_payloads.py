"""sync_outbox_payloads: outbox payloads in their own table, so marking events sent rewrites short rows

Revision ID: 20261204_0009
Revises: 20261127_0007
Create Date: 2026-12-04 14:30:00

The sender marks every event it delivers (sent_at, upstream_status); with the payload in the same row
each mark rewrote about a kilobyte per event. Payloads move, with their ids, to sync_outbox_payloads.
SQLite drops the column in place (ALTER TABLE … DROP COLUMN, SQLite ≥ 3.35): a batch-mode copy would
drop and recreate sync_outbox, and dropping a table referenced by a foreign key deletes through it.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261204_0009'
down_revision = '20261127_0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sync_outbox_payloads',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['id'], ['sync_outbox.id'], name=op.f('fk_sync_outbox_payloads_id_sync_outbox'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_outbox_payloads'))
    )
    op.execute('INSERT INTO sync_outbox_payloads (id, payload) SELECT id, payload FROM sync_outbox')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE sync_outbox DROP COLUMN payload')
    else:
        op.drop_column('sync_outbox', 'payload')


def downgrade() -> None:
    op.add_column('sync_outbox', sa.Column('payload', sa.JSON(), nullable=True))
    op.execute('UPDATE sync_outbox SET payload = (SELECT p.payload FROM sync_outbox_payloads p '
               'WHERE p.id = sync_outbox.id)')
    if op.get_bind().dialect.name != 'sqlite':  # SQLite cannot add NOT NULL in place; the model does not care
        op.alter_column('sync_outbox', 'payload', nullable=False)
    op.drop_table('sync_outbox_payloads')
