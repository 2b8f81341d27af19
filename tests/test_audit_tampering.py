"""Tampering behind the service's back: is each kind found, named, and pinned to its event?

Each test first drops the append-only triggers (test_audit.py shows they refuse all of this), then
edits the tables directly, as someone holding the database owner's password could.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from app.core import audit
from app.core.audit import AuditEvent, Problem, Tampering, verify
from tests.test_audit import EVENTS, HEADS, TOWN_A, TOWN_B, build_chain, delete_event, drop_guards, rehash, set_fields


@pytest.fixture
def chain(system_session) -> list[AuditEvent]:
    """Town A's chain of five events (kinds case.1 … case.5), a clean chain on town B, no triggers."""
    events = build_chain(system_session, TOWN_A, 5)
    build_chain(system_session, TOWN_B, 3)
    drop_guards(system_session)
    return events


def only_problem(session) -> Problem:
    """Town A's problem, after checking that town B's untouched chain still verifies."""
    report = verify(session)
    assert report.chains == 2
    problem, = report.problems
    assert problem.tenant_code == TOWN_A
    return problem


def names(problem: Problem, event: AuditEvent, tampering: Tampering) -> bool:
    return (problem.tampering, problem.event_id, problem.seq, problem.event_kind) == (
        tampering, event.id, event.seq, event.kind)


def test_edited_content(system_session, chain):
    """Is an event whose data was changed reported as edited, naming that event?"""
    set_fields(system_session, TOWN_A, 2, data={"n": 2, "fee": 0})
    problem = only_problem(system_session)
    assert names(problem, chain[1], Tampering.EDITED)
    assert str(problem) == (f"place {TOWN_A}, event id {chain[1].id} seq 2 (case.2): "
                            "edited: its content does not match its hash")


@pytest.mark.parametrize("values", [
    {"actor": "mallory"}, {"kind": "case.rejected"}, {"subject_id": "999"}, {"subject_ref": "SD-999999"},
    {"hash": "f" * 64},
], ids=lambda v: next(iter(v)))
def test_edited_field(system_session, chain, values):
    """Is a change to any single column of an event (or to its stored hash) an edit of that event?"""
    set_fields(system_session, TOWN_A, 3, **values)
    problem = only_problem(system_session)
    assert (problem.tampering, problem.event_id, problem.seq) == (Tampering.EDITED, chain[2].id, 3)


def test_edited_timestamp(system_session, chain):
    """Is a back-dated event (its time moved by a second) reported as edited?"""
    set_fields(system_session, TOWN_A, 4, at=chain[3].at - timedelta(seconds=1))
    assert names(only_problem(system_session), chain[3], Tampering.EDITED)


def test_edited_link(system_session, chain):
    """Is an event whose prev_hash was overwritten reported as edited (its own hash breaks too)?"""
    set_fields(system_session, TOWN_A, 2, prev_hash="0" * 63 + "1")
    assert names(only_problem(system_session), chain[1], Tampering.EDITED)


def test_deleted_in_the_middle(system_session, chain):
    """Is a deleted event found as a gap, named at the event after it?"""
    delete_event(system_session, TOWN_A, 3)
    problem = only_problem(system_session)
    assert names(problem, chain[3], Tampering.DELETED)
    assert problem.detail == "seq 3 missing before this event"


def test_deleted_several(system_session, chain):
    """Is a run of deleted events reported with the whole missing range?"""
    delete_event(system_session, TOWN_A, 2)
    delete_event(system_session, TOWN_A, 3)
    problem = only_problem(system_session)
    assert names(problem, chain[3], Tampering.DELETED) and problem.detail == "seq 2–3 missing before this event"


def test_deleted_first(system_session, chain):
    """Is the chain's first event, once deleted, missed at seq 1?"""
    delete_event(system_session, TOWN_A, 1)
    problem = only_problem(system_session)
    assert names(problem, chain[1], Tampering.DELETED) and "seq 1 missing" in problem.detail


def test_deleted_last(system_session, chain):
    """Is the deleted last event (no gap left behind) found by the head, which still says seq 5?"""
    delete_event(system_session, TOWN_A, 5)
    problem = only_problem(system_session)
    assert names(problem, chain[3], Tampering.HEAD_MISMATCH)
    assert "head says seq 5 but the last event is seq 4" in problem.detail


def test_deleted_everything(system_session, chain):
    """Is a chain emptied of every event still reported, from its head?"""
    for seq in range(1, 6):
        delete_event(system_session, TOWN_A, seq)
    problem = only_problem(system_session)
    assert (problem.tampering, problem.event_id) == (Tampering.HEAD_MISMATCH, None)
    assert problem.detail == "the head says seq 5 but no event is left: all were deleted"


def test_deleted_and_renumbered(system_session, chain):
    """If an event is deleted and the rest renumbered and re-hashed to hide the gap, is the broken
    link still found and called a deletion?"""
    delete_event(system_session, TOWN_A, 3)
    for seq in (4, 5):
        set_fields(system_session, TOWN_A, seq, seq=seq - 1)
        last_hash = rehash(system_session, TOWN_A, seq - 1)
    system_session.execute(update(HEADS).where(HEADS.c.tenant_code == TOWN_A).values(last_seq=4, last_hash=last_hash))
    system_session.commit()
    problem = only_problem(system_session)
    assert (problem.tampering, problem.event_id, problem.seq) == (Tampering.DELETED, chain[3].id, 3)
    assert "predecessor is not in the chain" in problem.detail


def test_reordered(system_session, chain):
    """Are two events that swapped places reported as reordered, naming where the moved one belongs?"""
    set_fields(system_session, TOWN_A, 3, seq=-3)
    set_fields(system_session, TOWN_A, 4, seq=3)
    set_fields(system_session, TOWN_A, -3, seq=4)
    problem = only_problem(system_session)
    assert (problem.tampering, problem.event_id, problem.seq, problem.event_kind) == (
        Tampering.REORDERED, chain[3].id, 3, "case.4")
    assert problem.detail == f"it was written after seq 4 (event id {chain[2].id}), not after seq 2"


def test_reordered_at_the_start(system_session, chain):
    """If the first two events swap places, is the new first one reported as reordered?"""
    set_fields(system_session, TOWN_A, 1, seq=-1)
    set_fields(system_session, TOWN_A, 2, seq=1)
    set_fields(system_session, TOWN_A, -1, seq=2)
    problem = only_problem(system_session)
    assert (problem.tampering, problem.event_id, problem.seq) == (Tampering.REORDERED, chain[1].id, 1)
    assert problem.detail == f"it was written after seq 2 (event id {chain[0].id}), not first"


def test_rewritten_last_event(system_session, chain):
    """If the last event is edited and re-hashed, does the head's hash give it away?"""
    set_fields(system_session, TOWN_A, 5, data={"n": 50})
    rehash(system_session, TOWN_A, 5)
    problem = only_problem(system_session)
    assert names(problem, chain[4], Tampering.HEAD_MISMATCH) and "head's hash differs" in problem.detail


def test_appended_behind_the_service(system_session, chain):
    """Is a well-formed event appended without moving the head (not through `record`) found?"""
    forged = {"tenant_code": TOWN_A, "seq": 6, "at": chain[4].at, "actor": "mallory", "kind": "case.6",
              "subject_type": "case", "subject_id": "1", "subject_ref": "", "data": {}, "prev_hash": chain[4].hash}
    system_session.execute(insert(EVENTS).values(**forged, hash=audit.event_hash(type("Row", (), forged))))
    system_session.commit()
    problem = only_problem(system_session)
    assert problem.tampering == Tampering.HEAD_MISMATCH and "up to seq 6 lie beyond the head" in problem.detail


def test_head_deleted(system_session, chain):
    """Is a chain whose head row was deleted still walked, and the missing head reported?"""
    system_session.execute(HEADS.delete().where(HEADS.c.tenant_code == TOWN_A))
    system_session.commit()
    problem = only_problem(system_session)
    assert names(problem, chain[4], Tampering.HEAD_MISMATCH) and problem.detail == "the chain has no head row"


def test_first_problem_per_chain(system_session, chain):
    """With several tamperings in two chains, is exactly the first problem of each chain reported?"""
    set_fields(system_session, TOWN_A, 2, actor="mallory")
    delete_event(system_session, TOWN_A, 4)
    delete_event(system_session, TOWN_B, 1)
    report = verify(system_session)
    assert [(p.tenant_code, p.tampering, p.seq) for p in report.problems] == [
        (TOWN_A, Tampering.EDITED, 2), (TOWN_B, Tampering.DELETED, 2)]
    assert [(p.tenant_code, p.seq) for p in verify(system_session, tenant_code=TOWN_B).problems] == [(TOWN_B, 2)]
