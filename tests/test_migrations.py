"""Migrations: one head, the schema they build equals the models, and up/down/up works."""

from __future__ import annotations

import datetime as dt
import json

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

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


def test_case_index_entries_are_pointed_at_their_events_and_back(blank_url):
    """0010: does an index entry that held a copy of its case come to name the received event of its last
    sequence (the latest delivery of it, not an older sequence), and does a downgrade bring the copy back?"""
    engine = make_engine(blank_url)
    number = "37010200100020261127000001"
    received = ("INSERT INTO sync_received (event_id, from_node, tenant_code, aggregate_type, aggregate_id, "
                "aggregate_seq, type, payload_version, payload, occurred_at, received_at) VALUES (:id, 'node-a', "
                "'370102001000', 'case', :number, :seq, 'case.x', 1, :payload, :at, :at)")
    at = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    try:
        upgrade(engine, "20261204_0009")
        with engine.begin() as connection:
            for event_id, seq in (("node-a:1", 1), ("node-a:2", 2)):
                connection.execute(text(received), {"id": event_id, "number": number, "seq": seq, "at": at,
                                                    "payload": json.dumps({"case": {"state": f"step {seq}"}})})
            connection.execute(text(
                "INSERT INTO sync_case_index (number, tenant_code, origin_node, last_seq, last_type, snapshot, "
                "updated_at) VALUES (:number, '370102001000', 'node-a', 2, 'case.x', :snapshot, :at)"),
                {"number": number, "snapshot": json.dumps({"state": "step 2"}), "at": at})
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT event_id FROM sync_case_index")) == "node-a:2"
        downgrade(engine, "20261204_0009")
        with engine.connect() as connection:
            snapshot = connection.scalar(text("SELECT CAST(snapshot AS TEXT) FROM sync_case_index"))
        assert json.loads(snapshot) == {"state": "step 2"}
    finally:
        engine.dispose()
