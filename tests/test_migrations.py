"""Migrations: one head, the schema they build equals the models, and up/down/up works."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from app.core.db import Base, make_engine
from app.core.migrate import alembic_config, current_revision, downgrade, upgrade


def test_single_head():
    """Is there exactly one newest migration (no forgotten merge)?"""
    engine = make_engine("sqlite://")
    assert len(ScriptDirectory.from_config(alembic_config(engine)).get_heads()) == 1


def test_migrations_build_the_models_schema(blank_url):
    """Does the schema built by migrations equal what the models declare?"""
    engine = make_engine(blank_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(blank_url):
    """Does every migration go down cleanly and come back up?"""
    engine = make_engine(blank_url)
    try:
        upgrade(engine)
        head = current_revision(engine)
        assert head is not None
        assert "tenants" in inspect(engine).get_table_names()
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == head
    finally:
        engine.dispose()
