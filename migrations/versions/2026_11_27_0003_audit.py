"""audit: the append-only audit trail, one hash chain per place

Revision ID: 20261127_0003
Revises: 20261127_0002
Create Date: 2026-11-27 14:00:00

Triggers make `audit_events` append-only and let `audit_heads` only move forward one event at a
time. On SQLite a later `batch_alter_table` on either table rebuilds it and drops its triggers:
such a migration must recreate them (`govhall audit verify` reports missing ones).
"""

import sqlalchemy as sa
from alembic import op

revision = '20261127_0003'
down_revision = '20261127_0002'
branch_labels = None
depends_on = None

POSTGRESQL_UP = [
    """
    CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$
    """,
    """
    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()
    """,
    """
    CREATE FUNCTION audit_head_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.tenant_code = OLD.tenant_code AND NEW.last_seq = OLD.last_seq + 1 THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_heads only move forward one event at a time: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$
    """,
    """
    CREATE TRIGGER audit_heads_forward_only BEFORE UPDATE OR DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_head_moves_forward()
    """,
    """
    CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()
    """,
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS audit_heads_no_truncate ON audit_heads",
    "DROP TRIGGER IF EXISTS audit_heads_forward_only ON audit_heads",
    "DROP FUNCTION IF EXISTS audit_head_moves_forward()",
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_refuse_change()",
]

# SQLite has no TRUNCATE; DELETE without WHERE fires the DELETE trigger like any other.
SQLITE_UP = [
    """
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER audit_heads_forward_only BEFORE UPDATE ON audit_heads
    WHEN NEW.tenant_code IS NOT OLD.tenant_code OR NEW.last_seq IS NOT OLD.last_seq + 1
    BEGIN SELECT RAISE(ABORT, 'audit_heads only move forward one event at a time: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
    BEGIN SELECT RAISE(ABORT, 'audit_heads only move forward one event at a time: DELETE refused'); END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_heads_no_delete",
    "DROP TRIGGER IF EXISTS audit_heads_forward_only",
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    "DROP TRIGGER IF EXISTS audit_events_no_update",
]


def _run(statements: dict[str, list[str]]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in statements:
        raise NotImplementedError(f"no append-only triggers for {dialect}")
    for statement in statements[dialect]:
        op.execute(statement)


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('subject_type', sa.String(length=30), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('subject_ref', sa.String(length=60), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('tenant_code', 'seq', name=op.f('uq_audit_events_tenant_code_seq'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_subject', ['subject_type', 'subject_id'], unique=False)

    op.create_table('audit_heads',
    sa.Column('tenant_code', sa.String(length=12), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tenant_code', name=op.f('pk_audit_heads'))
    )
    _run({"postgresql": POSTGRESQL_UP, "sqlite": SQLITE_UP})


def downgrade() -> None:
    _run({"postgresql": POSTGRESQL_DOWN, "sqlite": SQLITE_DOWN})
    op.drop_table('audit_heads')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_subject')

    op.drop_table('audit_events')
