"""Alembic environment. The engine comes from app.core.migrate (or the settings, for `alembic` CLI)."""

from alembic import context

import app.models  # noqa: F401  - registers every table on Base.metadata
from app.core.db import Base, make_engine
from app.core.settings import load_settings

config = context.config
engine = config.attributes.get("engine") or make_engine(load_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
