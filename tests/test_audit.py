"""The audit trail: chains build and verify, the database refuses edits, scoping, JSON, the command.

Helpers at the top are shared with test_audit_tampering.py and test_audit_concurrency.py.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.cli import build_cli
from app.core import audit
from app.core.audit import GENESIS, AuditEvent, AuditHead, events_for, record, verify
from app.core.tenancy import Scope, ScopeViolation, set_scope
from tests.conftest import LICHENG, LIXIA, ROOT, TENANTS_DIR

EVENTS: Table = AuditEvent.__table__  # type: ignore[assignment]
HEADS = audit.HEADS
TOWN_A = "370102001000"  # 解放路街道, under 历下区
TOWN_B = "370112001000"  # a town of 历城区


# ----------------------------------------------------------------- helpers ---

def build_chain(session: Session, place: str = TOWN_A, count: int = 5, first_subject: int = 100) -> list[AuditEvent]:
    """`count` committed events on `place`'s chain, one per case, kinds case.1 … case.n."""
    events = [
        record(session, tenant_code=place, kind=f"case.{n}", actor="clerk_a", subject_type="case",
               subject_id=first_subject + n, subject_ref=f"SD-{first_subject + n:06d}", data={"n": n})
        for n in range(1, count + 1)
    ]
    session.commit()
    return events


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def drop_guards(session: Session) -> None:
    """Remove the append-only triggers, as someone holding the database owner's password could."""
    if is_postgres(session):
        statements = ["DROP TRIGGER audit_events_append_only ON audit_events",
                      "DROP TRIGGER audit_heads_forward_only ON audit_heads",
                      "DROP TRIGGER audit_heads_no_truncate ON audit_heads"]
    else:
        statements = [f"DROP TRIGGER {name}" for name in audit.GUARDS["sqlite"]]
    for statement in statements:
        session.execute(text(statement))
    session.commit()


def set_fields(session: Session, place: str, seq: int, /, **values: Any) -> None:
    session.execute(update(EVENTS).where(EVENTS.c.tenant_code == place, EVENTS.c.seq == seq).values(**values))
    session.commit()


def delete_event(session: Session, place: str, seq: int) -> None:
    session.execute(delete(EVENTS).where(EVENTS.c.tenant_code == place, EVENTS.c.seq == seq))
    session.commit()


def rehash(session: Session, place: str, seq: int) -> str:
    """Recompute a tampered event's hash, as an attacker who knows the encoding would."""
    row = session.execute(EVENTS.select().where(EVENTS.c.tenant_code == place, EVENTS.c.seq == seq)).one()
    value = audit.event_hash(row)
    set_fields(session, place, seq, hash=value)
    return value


def scoped_session(app: Any, scope: Scope) -> Session:
    return set_scope(app.extensions["govhall.sessions"](), scope)


# ------------------------------------------------------------ the chain ---

def test_chain_builds_and_verifies(system_session):
    """Does each place get its own chain 1, 2, 3 … linked by hashes, and does it verify?"""
    a = build_chain(system_session, TOWN_A, 4)
    b = build_chain(system_session, TOWN_B, 2)
    assert [e.seq for e in a] == [1, 2, 3, 4] and [e.seq for e in b] == [1, 2]
    assert a[0].prev_hash == GENESIS == b[0].prev_hash
    assert [e.prev_hash for e in a[1:]] == [e.hash for e in a[:-1]]
    assert all(e.hash == audit.event_hash(e) for e in a + b)
    head = system_session.get(AuditHead, TOWN_A)
    assert head is not None and (head.last_seq, head.last_hash) == (4, a[-1].hash)
    report = verify(system_session)
    assert report.ok, report
    assert (report.chains, report.events) == (2, 6)
    assert verify(system_session, tenant_code=TOWN_B).events == 2


def test_record_only_flushes(system_session):
    """Does `record` leave the commit to the caller, so a rollback takes the event and head away?"""
    event = record(system_session, tenant_code=TOWN_A, kind="case.accepted", actor="clerk_a",
                   subject_type="case", subject_id=1)
    assert event.id is not None
    system_session.rollback()
    assert system_session.scalar(select(func.count()).select_from(AuditEvent)) == 0
    assert system_session.get(AuditHead, TOWN_A) is None
    assert build_chain(system_session, TOWN_A, 1)[0].seq == 1


def test_record_refuses_what_is_not_a_place(system_session):
    """Is an event for something that is not a 12-digit code refused before anything is written?"""
    with pytest.raises(ValueError, match="12-digit"):
        record(system_session, tenant_code="3701", kind="x", actor="system", subject_type="case", subject_id=1)


def test_canonical_encoding_is_pinned():
    """Is the hashed encoding exactly sorted-key JSON in UTF-8 with a UTC ISO timestamp, so another
    implementation (the provincial hall) can recompute it?"""
    event = SimpleNamespace(
        tenant_code=TOWN_A, seq=7, at=datetime(2026, 11, 27, 8, 30, tzinfo=UTC), actor="张三",
        kind="case.accepted", subject_type="case", subject_id="42", subject_ref="SD-000042",
        data={"b": 1, "a": "营业执照"}, prev_hash=GENESIS, hash="ignored",
    )
    expected = ('{"actor":"张三","at":"2026-11-27T08:30:00.000000+00:00","data":{"a":"营业执照","b":1},'
                '"kind":"case.accepted","prev_hash":"' + GENESIS + '","seq":7,"subject_id":"42",'
                '"subject_ref":"SD-000042","subject_type":"case","tenant_code":"370102001000"}')
    assert audit.canonical_encoding(event) == expected.encode("utf-8")
    assert audit.event_hash(event) == hashlib.sha256(expected.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(("name", "value"), [
    ("tenant_code", TOWN_B), ("seq", 8), ("at", datetime(2026, 11, 27, 8, 30, 0, 1, tzinfo=UTC)),
    ("actor", "李四"), ("kind", "case.rejected"), ("subject_type", "window"), ("subject_id", "43"),
    ("subject_ref", "SD-000043"), ("data", {"a": "营业执照", "b": 2}), ("prev_hash", "1" * 64),
])
def test_every_field_is_hashed(name, value):
    """Does changing any one field (prev_hash and seq included) change the hash?"""
    fields = {"tenant_code": TOWN_A, "seq": 7, "at": datetime(2026, 11, 27, 8, 30, tzinfo=UTC), "actor": "张三",
              "kind": "case.accepted", "subject_type": "case", "subject_id": "42", "subject_ref": "SD-000042",
              "data": {"a": "营业执照", "b": 1}, "prev_hash": GENESIS}
    original = audit.event_hash(SimpleNamespace(**fields))
    assert audit.event_hash(SimpleNamespace(**(fields | {name: value}))) != original


# ------------------------------------------------------- append-only guards ---

def test_database_refuses_update_and_delete_of_events(system_session):
    """With the triggers in place, does the database itself refuse to edit or delete an event,
    through Core and through the ORM alike?"""
    event = build_chain(system_session, TOWN_A, 2)[0]
    attempts = [
        lambda: system_session.execute(update(EVENTS).where(EVENTS.c.id == event.id).values(actor="mallory")),
        lambda: system_session.execute(delete(EVENTS).where(EVENTS.c.id == event.id)),
        lambda: system_session.execute(delete(EVENTS)),
    ]
    if is_postgres(system_session):
        attempts.append(lambda: system_session.execute(text("TRUNCATE audit_events")))
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="append-only"):
            attempt()
        system_session.rollback()
    stored = system_session.get(AuditEvent, event.id)  # `record` writes with Core: load it as the ORM would
    assert stored is not None
    stored.data = {"n": 99}
    with pytest.raises(DBAPIError, match="append-only"):
        system_session.flush()
    system_session.rollback()
    system_session.delete(stored)
    with pytest.raises(DBAPIError, match="append-only"):
        system_session.flush()
    system_session.rollback()
    assert verify(system_session).ok


def test_database_refuses_to_move_a_head_back_or_drop_it(system_session):
    """Can a chain's head be reset, changed, or deleted? (Only one step forward is allowed.)"""
    build_chain(system_session, TOWN_A, 3)
    attempts = [
        update(HEADS).values(last_seq=0),
        update(HEADS).values(last_seq=HEADS.c.last_seq + 2),
        update(HEADS).values(tenant_code=TOWN_B, last_seq=HEADS.c.last_seq + 1),
        delete(HEADS),
    ]
    for statement in attempts:
        with pytest.raises(DBAPIError, match="only move forward"):
            system_session.execute(statement)
        system_session.rollback()
    if is_postgres(system_session):
        with pytest.raises(DBAPIError, match="append-only"):
            system_session.execute(text("TRUNCATE audit_heads"))
        system_session.rollback()
    assert verify(system_session).ok


def test_verify_names_a_missing_trigger(system_session):
    """If a trigger has been dropped, does verify say so even when the chains are intact?"""
    build_chain(system_session, TOWN_A, 2)
    drop_guards(system_session)
    report = verify(system_session)
    assert report.problems == [] and not report.ok
    assert set(report.missing_guards) == set(audit.GUARDS[system_session.get_bind().dialect.name])


# ------------------------------------------------------------------ scoping ---

def test_another_place_cannot_read_this_places_events(app, system_session):
    """Can a session scoped to county B (历城区) read or verify the events of a town of county A?"""
    build_chain(system_session, TOWN_A, 3, first_subject=0)
    other = scoped_session(app, Scope.of_places([(LICHENG, True)]))
    try:
        assert events_for(other, "case", 1) == []
        assert other.scalars(select(AuditEvent)).all() == []
        assert other.get(AuditEvent, 1) is None
        assert other.scalars(select(AuditHead)).all() == []
        report = verify(other, tenant_code=TOWN_A)
        assert (report.chains, report.events, report.problems) == (0, 0, [])
    finally:
        other.close()
    own = scoped_session(app, Scope.of_places([(LIXIA, True)]))
    try:
        assert [e.kind for e in events_for(own, "case", 1)] == ["case.1"]
        assert verify(own).events == 3
    finally:
        own.close()


def test_another_place_cannot_write_into_this_places_chain(app):
    """Can a clerk scoped to county B record an event on town A's chain, or a read-only visitor on any?"""
    other = scoped_session(app, Scope.of_places([(LICHENG, True)]))
    visitor = scoped_session(app, Scope.public(TOWN_A))
    try:
        for session in (other, visitor):
            with pytest.raises(ScopeViolation):
                record(session, tenant_code=TOWN_A, kind="case.accepted", actor="mallory",
                       subject_type="case", subject_id=1)
            session.rollback()
        assert record(other, tenant_code=TOWN_B, kind="case.accepted", actor="clerk_b",
                      subject_type="case", subject_id=1).seq == 1
        other.commit()
    finally:
        other.close()
        visitor.close()


# ---------------------------------------------------------- data and reads ---

def test_chinese_json_round_trips_and_verifies(app, system_session):
    """Does JSON data with Chinese text (nested, mixed types) read back equal and still verify?"""
    data = {"申请人": "张三", "事项": "食品经营许可证核发", "材料": ["身份证", "营业执照"],
            "地址": {"区": "历下区", "街道": "解放路街道"}, "件数": 2, "收费": 0.5, "加急": False, "备注": None}
    event = record(system_session, tenant_code=TOWN_A, kind="case.accepted", actor="王芳",
                   subject_type="case", subject_id=7, subject_ref="鲁济历下-000007", data=data)
    system_session.commit()
    fresh = scoped_session(app, Scope.system())
    try:
        stored = fresh.get(AuditEvent, event.id)
        assert stored is not None
        assert stored.data == data and stored.actor == "王芳" and stored.subject_ref == "鲁济历下-000007"
        assert audit.event_hash(stored) == stored.hash == event.hash
        assert verify(fresh).ok
    finally:
        fresh.close()


def test_data_is_stored_as_hashed(app, system_session):
    """Is data that JSON would change on the way back (int keys, tuples, dates) stored in its JSON
    form, so the chain still verifies, and is what JSON cannot hold refused?"""
    event = record(system_session, tenant_code=TOWN_A, kind="case.dated", actor="system", subject_type="case",
                   subject_id=8, data={"days": {1: "一"}, "pair": (1, 2), "due": date(2026, 12, 1)})
    assert event.data == {"days": {"1": "一"}, "pair": [1, 2], "due": "2026-12-01"}
    with pytest.raises(TypeError, match="cannot hold"):
        record(system_session, tenant_code=TOWN_A, kind="case.odd", actor="system", subject_type="case",
               subject_id=8, data={"odd": {1, 2}})
    system_session.rollback()
    event = record(system_session, tenant_code=TOWN_A, kind="case.dated", actor="system", subject_type="case",
                   subject_id=8, data={"days": {1: "一"}, "pair": (1, 2), "due": date(2026, 12, 1)})
    system_session.commit()
    assert verify(system_session).ok


def test_events_for_gives_a_subjects_timeline(system_session):
    """Does `events_for` give one subject's events, oldest first, across places, and nothing else's?"""
    for place, kind, case_id in [(TOWN_A, "case.accepted", 5), (TOWN_A, "case.accepted", 6),
                                 (TOWN_A, "case.dispatched", 5), (TOWN_B, "case.reviewed", 5),
                                 (TOWN_A, "window.opened", 5)]:
        subject_type = kind.split(".")[0]
        record(system_session, tenant_code=place, kind=kind, actor="clerk_a", subject_type=subject_type,
               subject_id=case_id)
    system_session.commit()
    assert [(e.kind, e.tenant_code) for e in events_for(system_session, "case", 5)] == [
        ("case.accepted", TOWN_A), ("case.dispatched", TOWN_A), ("case.reviewed", TOWN_B)]
    assert [e.kind for e in events_for(system_session, "case", "6")] == ["case.accepted"]
    assert events_for(system_session, "case", 404) == []


def test_verify_streams_long_chains_in_batches(app, system_session):
    """Does verify read a long chain in bounded batches (not all at once) and find a gap that falls
    exactly on a batch boundary?"""
    build_chain(system_session, TOWN_A, 23)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM audit_events" in statement and "ORDER BY audit_events.seq" in statement:
            statements.append(statement)

    from sqlalchemy import event as sa_event

    engine = app.extensions["govhall.engine"]
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        report = verify(system_session, batch_size=5)
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert report.ok and report.events == 23
    assert len(statements) == 5  # 5 + 5 + 5 + 5 + 3
    drop_guards(system_session)
    delete_event(system_session, TOWN_A, 11)
    problem, = verify(system_session, batch_size=5).problems
    assert (problem.tampering, problem.seq) == (audit.Tampering.DELETED, 12)


# -------------------------------------------------------------- the command ---

def test_verify_command_prints_ok_with_counts(app, system_session):
    """Does `govhall audit verify` say OK with the numbers of chains and events, and exit 0?"""
    build_chain(system_session, TOWN_A, 3)
    build_chain(system_session, TOWN_B, 2)
    result = app.test_cli_runner().invoke(build_cli(), ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "OK: 2 chain(s), 5 event(s) verified"
    one = app.test_cli_runner().invoke(build_cli(), ["audit", "verify", "--place", TOWN_B])
    assert one.output.strip() == "OK: 1 chain(s), 2 event(s) verified"


def test_verify_command_names_each_problem_and_exits_1(app, system_session):
    """After tampering, does the command print each broken chain's first problem and exit 1?"""
    events = build_chain(system_session, TOWN_A, 3)
    build_chain(system_session, TOWN_B, 3)
    drop_guards(system_session)
    set_fields(system_session, TOWN_A, 2, actor="mallory")
    delete_event(system_session, TOWN_B, 3)
    result = app.test_cli_runner().invoke(build_cli(), ["audit", "verify"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"place {TOWN_A}, event id {events[1].id} seq 2 (case.2): edited: its content does not match its hash" \
        in lines
    assert any(line.startswith(f"place {TOWN_B}, event id ") and "head mismatch" in line for line in lines)
    assert sum("append-only trigger missing" in line for line in lines) >= 2
    assert lines[-1].startswith("FAILED: 2 broken chain(s)")


def test_verify_command_refuses_a_bad_place_code(app):
    """Is `--place` with something that is not a division code refused with a usage error?"""
    result = app.test_cli_runner().invoke(build_cli(), ["audit", "verify", "--place", "3701"])
    assert result.exit_code == 2 and "12-digit" in result.output


def test_verify_command_in_a_real_process(app, system_session):
    """Does the installed `govhall audit verify` exit 0 on a good trail and 1 on a tampered one?"""
    build_chain(system_session, TOWN_A, 2)
    url = app.config["GOVHALL_SETTINGS"].database_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVHALL_")} | {
        "GOVHALL_DATABASE_URL": url, "GOVHALL_SECRET_KEY": "cli-test-secret-0123456789",
        "GOVHALL_ROOT_TENANT": ROOT, "GOVHALL_TENANTS_DIR": str(TENANTS_DIR)}
    govhall = str(Path(sys.executable).with_name("govhall"))

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([govhall, "audit", "verify"], capture_output=True, text=True, env=env, timeout=120,
                              check=False)

    ok = run()
    assert ok.returncode == 0 and ok.stdout.startswith("OK: 1 chain(s), 2 event(s)"), ok.stderr
    drop_guards(system_session)
    delete_event(system_session, TOWN_A, 1)
    broken = run()
    assert broken.returncode == 1 and "deleted: seq 1 missing" in broken.stdout

