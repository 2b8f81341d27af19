"""`govhall demo cases`: generated history that looks like the workflow made it, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import create_app
from app.calendar.services import load_calendar
from app.cases import deadlines
from app.cases.demo import DemoError, generate_cases
from app.cases.models import Case, CaseCounter
from app.cases.numbers import parse_case_number
from app.cases.queries import OPEN_STATES, WorklistFilter, worklist
from app.cases.states import CaseState
from app.catalog.models import Item
from app.core.audit import AuditEvent, verify
from app.core.identity import normalise_credit_code, normalise_person_id
from app.core.tenancy import Scope, set_scope, subtree_range
from tests.cases_helpers import TOWN, file_case
from tests.conftest import LIXIA, login, make_settings
from tests.test_cli import run

COUNT = 2000
S = CaseState
CHINA = dt.timedelta(hours=8)  # UTC+8 all year: no daylight saving


@pytest.fixture(scope="module")
def generated(databases):
    """One demo database with 2,000 generated cases (through the real CLI, in chunks of ~500), read by
    the tests below; (app, CLI output, audit events before)."""
    url = databases.copy_of_template()
    app = create_app(make_settings(url, demo_mode=True))
    events_before = _count(app, AuditEvent)
    result = run(url, "demo", "cases", "--count", str(COUNT), "--seed", "7", "--chunk-size", "500",
                 env={"GOVHALL_DEMO_MODE": "true"})
    assert result.returncode == 0, result.stderr
    yield app, result.stdout, events_before
    app.extensions["govhall.engine"].dispose()
    databases.drop(url)


@pytest.fixture(scope="module")
def cases(generated):
    app = generated[0]
    with _system_session(app) as session:
        query = select(Case).options(selectinload(Case.materials), selectinload(Case.tasks),
                                     selectinload(Case.pauses)).order_by(Case.id)
        yield list(session.scalars(query)), {i.id: i for i in session.scalars(select(Item))}


def _system_session(app):
    return set_scope(app.extensions["govhall.sessions"](), Scope.system())


def _count(app, model) -> int:
    with _system_session(app) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_command_reports_what_it_wrote_and_that_it_wrote_no_audit_events(generated, cases):
    """Does `demo cases` say how many cases it wrote, how fast, and that it wrote no audit events?"""
    _app, output, _before = generated
    assert f"{COUNT:,} cases over " in output and "cases/s" in output
    assert "audit events written: 0" in output
    assert len(cases[0]) == COUNT


def test_numbers_are_unique_well_formed_and_continue_each_daily_sequence(generated, cases):
    """Is every number the place, the day it was issued (China time) and a sequence 1…n per place and day,
    with the counter at n?"""
    sequences = defaultdict(list)
    for case in cases[0]:
        place, day, sequence = parse_case_number(case.number)
        assert place == case.tenant_code
        assert day == (case.created_at + CHINA).date()
        assert case.accepted_on in (None, day)
        sequences[(place, day)].append(sequence)
    assert sum(len(s) for s in sequences.values()) == COUNT  # unique numbers
    assert all(sorted(s) == list(range(1, len(s) + 1)) for s in sequences.values())
    with _system_session(generated[0]) as session:
        counters = {(c.tenant_code, c.day): c.last for c in session.scalars(select(CaseCounter))}
    assert counters == {key: len(s) for key, s in sequences.items()}


def test_applicants_carry_valid_id_numbers(cases):
    """Do people carry resident IDs and organisations credit codes whose check characters are right?"""
    kinds = Counter(c.applicant_kind for c in cases[0])
    assert kinds["person"] > kinds["organisation"] > 0
    for case in cases[0]:
        if case.applicant_kind == "person":
            assert case.applicant_id_type == "111"
            assert normalise_person_id(case.applicant_id_number) == case.applicant_id_number
        else:
            assert case.applicant_id_type == "001" and case.agent_name
            assert normalise_credit_code(case.applicant_id_number) == case.applicant_id_number
        if case.agent_id_number:
            assert normalise_person_id(case.agent_id_number) == case.agent_id_number
        assert case.applicant_name and len(case.contact_phone) == 11


def test_states_fit_tasks_materials_pauses_and_dates(cases):
    """Is each case what the workflow would leave in its state: tasks, checklist, pauses, decision, hand-over?"""
    all_cases, items = cases
    states = Counter(c.state for c in all_cases)
    assert states[S.ISSUED] > COUNT * 0.8 and all(states[s] for s in (S.ACCEPTED, S.READY, S.REFUSED, S.WITHDRAWN))
    for case in all_cases:
        _check_case(case, items[case.item_id])


def _check_case(case, item) -> None:
    state, tasks = CaseState(case.state), {t.state for t in case.tasks}
    open_pauses = [p for p in case.pauses if p.ended_on is None]
    missing = [m for m in case.materials if m.necessity == "required" and m.status == "missing"]
    assert [m.position for m in case.materials] == [m.position for m in item.materials]
    assert all(m.due_on > case.accepted_on for m in case.materials if m.status == "deferred" and case.accepted_on)
    if case.accepted_on is None:  # never accepted: no clock, no tasks
        assert not case.tasks and not case.pauses and case.due_date is None
        assert state in (S.SUBMITTED, S.PRE_ACCEPTED, S.CORRECTION, S.REFUSED, S.WITHDRAWN)
        assert bool(missing) == (state is S.CORRECTION)
        assert (case.channel == "online") or state not in (S.SUBMITTED, S.PRE_ACCEPTED)
        return
    assert not missing and {t.department_code for t in case.tasks} == set(item.review_departments)
    assert case.accepted_at >= case.created_at and case.accepted_by
    assert case.channel == "online" or case.accepted_at == case.created_at
    assert case.due_date is None or case.due_date >= case.accepted_on
    assert all(p.started_on >= case.accepted_on and (p.ended_on is None or p.ended_on >= p.started_on)
               for p in case.pauses)
    if state in (S.ACCEPTED, S.SUSPENDED, S.CORRECTION):
        assert "pending" in tasks and case.decided_at is None
        expected_open = {S.ACCEPTED: [], S.SUSPENDED: ["special"], S.CORRECTION: ["correction"]}[state]
        assert [p.kind for p in open_pauses] == expected_open
    elif state in (S.READY, S.ISSUED):
        assert tasks <= {"approved", "refused"} and not open_pauses
        assert case.decided_at >= case.accepted_at and all(t.decided_at <= case.decided_at for t in case.tasks)
        assert case.result_code in (("6", "7") if state is S.READY else ("0", "7"))
        assert (case.result_code in ("0", "6")) == (tasks == {"approved"})
    elif state is S.WITHDRAWN:
        assert tasks == {"withdrawn"} and case.result_code == "1"
    if state is S.ISSUED:
        assert case.issued_at >= case.decided_at and case.issued_by
        assert (case.satisfaction in range(1, 6)) != case.evaluation_refused
        assert case.collected_by if case.delivery == "collect" else case.tracking_number


def test_due_dates_are_what_the_workflow_schedules(generated):
    """Does app.cases.deadlines.schedule, run again on every accepted case, find the same due dates?"""
    with _system_session(generated[0]) as session:
        accepted = list(session.scalars(select(Case).where(Case.accepted_on.is_not(None))
                                        .options(selectinload(Case.pauses))))
        stored = [(c.due_date, c.statutory_due_date, c.calendar_missing, c.paused_days,
                   [p.working_days for p in c.pauses]) for c in accepted]
        calendar = load_calendar(session, min(c.accepted_on for c in accepted))
        for case in accepted:
            deadlines.schedule(session, case, calendar)
        again = [(c.due_date, c.statutory_due_date, c.calendar_missing, c.paused_days,
                  [p.working_days for p in c.pauses]) for c in accepted]
        session.rollback()
    assert again == stored
    assert any(paused for _d, _s, _m, paused, _w in stored) and any(due for due, *_rest in stored)


def test_the_audit_chains_still_verify(generated):
    """Are the audit chains untouched (no event added) and still valid after generation?"""
    app, _output, events_before = generated
    assert _count(app, AuditEvent) == events_before
    with _system_session(app) as session:
        assert verify(session).ok
    assert run(app.config["GOVHALL_SETTINGS"].database_url, "audit", "verify").returncode == 0


def test_the_county_worklist_shows_generated_cases(generated):
    """Does the worklist page of 历下区's admin list the open generated cases of its towns, soonest due first?"""
    app = generated[0]
    with _system_session(app) as session:
        set_scope(session, Scope.of_places([(LIXIA, True)]))
        expected = [c.number for c in worklist(session, WorklistFilter(states=tuple(OPEN_STATES))).rows]
        in_range = session.scalar(select(func.count()).select_from(Case).where(
            Case.tenant_code.between(*subtree_range(LIXIA)), Case.state.in_(OPEN_STATES)))
    assert expected and len(expected) == min(in_range, 50)
    client = app.test_client()
    login(client, "lx_admin")
    page = client.get("/cases").get_data(as_text=True)
    positions = [page.find(number) for number in expected]
    assert -1 not in positions and positions == sorted(positions)


def test_cases_stats_and_counter_check(generated):
    """Do `cases stats` count the generated cases and `cases check-counters` find every counter ahead?"""
    url = generated[0].config["GOVHALL_SETTINGS"].database_url
    stats = run(url, "cases", "stats")
    assert stats.returncode == 0 and stats.stdout.startswith(f"{COUNT:,} case(s)")
    checked = run(url, "cases", "check-counters")
    assert checked.returncode == 0 and "every counter is ahead of its cases" in checked.stdout


def test_a_second_run_and_a_real_acceptance_continue_the_numbers(app):
    """After two generations (towns, then every place), does a clerk's acceptance get the next number
    of the day, and the id after the generated ones?"""
    engine = app.extensions["govhall.engine"]
    first = generate_cases(engine, 600, seed=1, chunk_size=200)
    second = generate_cases(engine, 600, seed=2, places="all")
    assert first.cases == second.cases == 600 and second.places > first.places
    with _system_session(app) as session:
        day, last = session.execute(select(CaseCounter.day, CaseCounter.last).where(CaseCounter.tenant_code == TOWN)
                                    .order_by(CaseCounter.day.desc()).limit(1)).one()
        highest_id = session.scalar(select(func.max(Case.id)))
        levels = {c[6:] == "000000" for c in session.scalars(select(Case.tenant_code).distinct())}
    assert levels == {True, False}  # county and city halls got cases in the second run
    number = file_case(app, today=day)
    assert number == f"{TOWN}{day:%Y%m%d}{last + 1:06d}"
    with _system_session(app) as session:
        assert session.scalar(select(Case.id).where(Case.number == number)) > highest_id
        assert session.scalar(select(func.count()).select_from(Case)) == 1201


def test_without_a_calendar_for_the_years_nothing_is_written(generated):
    """Does generation for a year without calendar data refuse, naming the year, before writing anything?"""
    app = generated[0]
    with pytest.raises(DemoError, match="2030"):
        generate_cases(app.extensions["govhall.engine"], 10, today=dt.date(2030, 6, 1))
    assert _count(app, Case) == COUNT


def test_only_a_demo_node_takes_invented_cases(demo_url):
    """Does `demo cases` refuse on a node that is not in demo mode?"""
    refused = run(demo_url, "demo", "cases", "--count", "10")
    assert refused.returncode == 1 and "demo node" in refused.stderr
