"""case_materials, review_tasks: insert sentinels, so one INSERT writes all of a case's rows on SQLite

Revision ID: 20261127_0007
Revises: 20261127_0006
Create Date: 2026-11-27 05:00:00

See app/cases/models.py `batch_sentinel`: a nullable integer the ORM fills during a batched INSERT.
Existing rows keep NULL.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261127_0007'
down_revision = '20261127_0006'
branch_labels = None
depends_on = None

TABLES = ('case_materials', 'review_tasks')


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('insert_sentinel', sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('insert_sentinel')
