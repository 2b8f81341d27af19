"""The outbox: every reportable change is queued in the transaction that makes it, numbered per aggregate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from app.cases import workflow
from app.cases.services import case_or_404
from app.core.audit import events_for
from app.core.tenancy import Scope, ScopeViolation, set_scope
from app.sync.models import AggregateHead, OutboxEvent
from app.sync.outbox import NewEvent, emit, emit_many
from app.tenants.services import apply_directory
from tests.cases_helpers import HOUSING, PERSON, TOWN, acting_as, file_case
from tests.conftest import LIXIA_JIEFANGLU, ROOT, TENANTS_DIR


def case_events(session, number: str) -> list[OutboxEvent]:
    query = (select(OutboxEvent).where(OutboxEvent.aggregate_type == "case", OutboxEvent.aggregate_id == number)
             .order_by(OutboxEvent.aggregate_seq))
    return list(session.scalars(query))


def outbox_size(session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxEvent)) or 0


def review_all(app, number: str) -> None:
    for username, department in (("lx_reviewer_zj", "ZJ"), ("lx_reviewer_mz", "MZ")):
        with acting_as(app, username) as (session, reviewer):
            task = next(t for t in case_or_404(session, number).tasks if t.department_code == department)
            workflow.review(session, task, reviewer, True, "符合条件")


def test_a_case_from_acceptance_to_hand_over_is_queued_step_by_step(app, system_session):
    """Does each step of a case queue one event, numbered 1, 2, 3 … with the case as it then stood?"""
    number = file_case(app)
    review_all(app, number)
    with acting_as(app, "lx_jfl_clerk") as (session, issuer):
        case = case_or_404(session, number)
        workflow.evaluate(session, case, issuer, 5)
        workflow.issue(session, case, issuer, "collect", collected_by="张三")
        audit_kinds = [e.kind for e in events_for(session, "case", case.id)]
    events = case_events(system_session, number)
    assert [e.type for e in events] == audit_kinds  # one reported stage per audited step
    assert [e.aggregate_seq for e in events] == list(range(1, len(events) + 1))
    assert {e.tenant_code for e in events} == {TOWN}
    accepted = next(e for e in events if e.type == "case.accepted")
    assert accepted.payload["case"]["state"] == "accepted"
    assert accepted.payload["case"]["applicant"]["id_number"] == PERSON.id_number  # the provincial spec needs it
    assert accepted.payload["step"]["handler"] == "lx_jfl_clerk"
    reviewed = [e for e in events if e.type == "case.reviewed"]
    assert {e.payload["step"]["data"]["department"] for e in reviewed} == {"ZJ", "MZ"}
    assert events[-1].type == "case.issued" and events[-1].payload["case"]["result_code"] == "0"
    assert events[-1].payload["case"]["satisfaction"] == 5
    assert all(e.sent_at is None and e.event_id is None for e in events)


def test_a_refused_transition_queues_nothing(app, system_session):
    """Does a transition that is not allowed leave the outbox as it was?"""
    number = file_case(app)
    before = outbox_size(system_session)
    with acting_as(app, "lx_jfl_clerk") as (session, issuer), pytest.raises(workflow.TransitionRefused):
        workflow.issue(session, case_or_404(session, number), issuer, "collect", collected_by="张三")
    system_session.expire_all()
    assert outbox_size(system_session) == before


def test_a_rolled_back_change_takes_its_event_and_number_with_it(app, system_session):
    """Is an event of a rolled-back transaction gone, and is its sequence number given again?"""
    number = file_case(app)
    with acting_as(app, "lx_jfl_clerk") as (session, clerk):
        workflow.withdraw(session, case_or_404(session, number), clerk, "申请人撤回")
        session.rollback()
    system_session.expire_all()
    assert [e.aggregate_seq for e in case_events(system_session, number)] == [1]
    with acting_as(app, "lx_jfl_clerk") as (session, clerk):
        workflow.withdraw(session, case_or_404(session, number), clerk, "申请人撤回")
    system_session.expire_all()
    assert [(e.aggregate_seq, e.type) for e in case_events(system_session, number)] == [
        (1, "case.accepted"), (2, "case.withdrawn")]


def test_a_clerk_cannot_queue_events_for_another_place(app):
    """Is an event for a place outside the session's scope refused?"""
    with acting_as(app, "lx_jfl_clerk") as (session, _clerk):
        with pytest.raises(ScopeViolation):
            emit(session, tenant_code="370112001000", aggregate_type="case", aggregate_id="x", type="case.accepted",
                 payload={}, payload_version=1)
        with pytest.raises(ScopeViolation, match="system scope"):
            emit_many(session, [NewEvent(TOWN, "tenant", TOWN, "tenant.changed", {}, 1)])
        session.rollback()


def test_read_only_scopes_cannot_queue_events(app):
    with acting_as(app, "jn_auditor") as (session, _auditor):
        set_scope(session, Scope.of_places([(ROOT, True)], writable=False))
        with pytest.raises(ScopeViolation):
            emit(session, tenant_code=TOWN, aggregate_type="case", aggregate_id="x", type="case.accepted",
                 payload={}, payload_version=1)
        session.rollback()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return Path(shutil.copytree(TENANTS_DIR, tmp_path / "tenants"))


def place_events(session, aggregate_type: str, code: str) -> list[OutboxEvent]:
    query = (select(OutboxEvent).where(OutboxEvent.aggregate_type == aggregate_type,
                                       OutboxEvent.aggregate_id == code).order_by(OutboxEvent.aggregate_seq))
    return list(session.scalars(query))


def test_the_demo_reports_every_place_and_its_implementation_list(system_session):
    """Did applying the shipped tenant files queue one event per place and one list per place?"""
    tenants = {e.aggregate_id for e in system_session.scalars(select(OutboxEvent).where(
        OutboxEvent.type == "tenant.changed"))}
    assert ROOT in tenants and LIXIA_JIEFANGLU in tenants and len(tenants) > 170
    listed = place_events(system_session, "implementation_list", LIXIA_JIEFANGLU)
    assert len(listed) == 1
    items = {i["basic_code"]: i for i in listed[0].payload["items"]}
    assert items[HOUSING]["active"] is True and items[HOUSING]["implementation_code"] == HOUSING + LIXIA_JIEFANGLU


def test_a_changed_place_file_reports_only_what_changed(system_session, files):
    """Does dropping an item at one town queue that town's whole new list (and nothing else); does a no-op
    re-apply queue nothing?"""
    last_id = system_session.scalar(select(func.max(OutboxEvent.id)))
    apply_directory(system_session, files, ROOT)
    assert system_session.scalar(select(func.max(OutboxEvent.id))) == last_id  # nothing changed, nothing reported
    path = files / "places" / "370102000000.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    place = next(p for p in data["places"] if p["code"] == LIXIA_JIEFANGLU)
    place["items"] = {**place.get("items", {}), "drop": [*place.get("items", {}).get("drop", []), HOUSING]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    apply_directory(system_session, files, ROOT)
    new = list(system_session.scalars(select(OutboxEvent).where(OutboxEvent.id > last_id)))
    assert [(e.type, e.aggregate_id, e.aggregate_seq) for e in new] == [
        ("implementation_list.changed", LIXIA_JIEFANGLU, 2)]
    items = {i["basic_code"]: i for i in new[0].payload["items"]}
    assert items[HOUSING]["active"] is False  # retired, still listed: cases point at it
    head = system_session.get(AggregateHead, ("implementation_list", LIXIA_JIEFANGLU))
    assert head.last_seq == 2

