"""/api/v1/cases: create, list, get, events, every transition, conflicts, roles and other tenants."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from app.cases import deadlines, idempotency, queries, services, store, workflow
from app.cases.idempotency import CaseRequestKey
from app.cases.models import Case, CaseCounter
from app.core.audit import AuditEvent
from app.core.tenancy import Scope, set_scope
from tests.cases_helpers import ELDERLY_CARD, HOUSING, PERSON, TOWN, acting_as, file_case
from tests.conftest import LICHENG_SHANDALU, LIXIA, QueryCounter, bearer

FRIDAY = dt.date(2026, 11, 27)
ID_NUMBER = "11010519491231002X"
GOOD: dict[str, Any] = {
    "place": TOWN, "basic_code": HOUSING,
    "applicant": {"kind": "person", "name": "张三", "id_number": ID_NUMBER, "contact_name": "张三",
                  "contact_phone": "13800000000"},
    "materials": {"1": "paper", "2": "electronic", "3": "paper", "4": "paper"},
    "window_number": "1",
}


@pytest.fixture(autouse=True)
def friday(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request happens on Friday 2026-11-27 (China time), whatever the machine's clock says."""
    monkeypatch.setattr(deadlines, "china_today", lambda: FRIDAY)


class Api:
    """A department system: one staff member's bearer token and a test client."""

    def __init__(self, app: Flask, username: str) -> None:
        self.client, self.headers = app.test_client(), bearer(app, username)

    def get(self, url: str) -> Any:
        return self.client.get(url, headers=self.headers)

    def post(self, url: str, body: object = None, **headers: str) -> Any:
        return self.client.post(url, json=body, headers=self.headers | headers)

    def act(self, number: str, action: str, **fields: object) -> Any:
        return self.post(f"/api/v1/cases/{number}/transitions", {"action": action, **fields})

    def review(self, number: str, department: str, approve: bool = True, **fields: object) -> Any:
        opinion = "材料齐全，符合条件" if approve else "收入超标"
        return self.post(f"/api/v1/cases/{number}/tasks/{department}/review",
                         {"approve": approve, "opinion": opinion, **fields})


def written(app: Flask) -> tuple[int, ...]:
    """Cases, number counters, audit events and idempotency keys in the whole database."""
    session = set_scope(app.extensions["govhall.sessions"](), Scope.system())
    try:
        return tuple(session.scalar(select(func.count()).select_from(model)) or 0
                     for model in (Case, CaseCounter, AuditEvent, CaseRequestKey))
    finally:
        session.close()


def case_state(app: Flask, number: str) -> tuple[str, int, int]:
    """(state, version, audit events) of a case, read with the system scope."""
    session = set_scope(app.extensions["govhall.sessions"](), Scope.system())
    try:
        case = session.scalars(select(Case).where(Case.number == number)).one()
        events = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.subject_ref == number))
        return case.state, case.version, events or 0
    finally:
        session.close()


def submit_online(app: Flask, materials: dict[int, str] | None = None) -> str:
    """A housing application submitted online (申办) at the town, waiting for a clerk."""
    with acting_as(app, "lx_jfl_clerk") as (session, _clerk):
        offered = services.offer(session, TOWN, HOUSING)
        statuses = {m.position: "paper" for m in offered.materials} | (materials or {})
        checked = services.checked_materials(offered.materials, services.WindowApplication(HOUSING, PERSON, statuses),
                                             FRIDAY)
        case = services._new_case(session, TOWN, offered, PERSON, checked, "", FRIDAY)
        case.channel = "online"
        store.write_new_case(session, case)  # a new case is written by its first step's event: none here
        return case.number


# --- creating -----------------------------------------------------------------------------------------

def test_a_complete_application_is_accepted(app):
    """Does POST /api/v1/cases accept a complete application: 201, the number, state, due date and one task
    per reviewing department, with the full ID number for the clerk who took it?"""
    before = written(app)
    response = Api(app, "lx_jfl_clerk").post("/api/v1/cases", GOOD)
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["number"].startswith(TOWN + "20261127") and len(case["number"]) == 26
    assert (case["state"], case["state_title"], case["place"]) == ("accepted", "审查中", TOWN)
    assert (case["due_date"], case["calendar_missing"], case["missing"]) == ("2026-12-25", "", [])
    assert [(t["department"], t["state"]) for t in case["tasks"]] == [("ZJ", "pending"), ("MZ", "pending")]
    assert case["item"]["basic_code"] == HOUSING and case["window_number"] == "1"
    assert case["applicant"]["id_number"] == ID_NUMBER and not case["applicant"]["id_number_masked"]
    assert "withdraw" in case["actions"] and "issue" not in case["actions"]
    assert written(app)[:3] == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_missing_required_material_gives_the_one_time_notice(app):
    """Is an application without a required material answered 201 in 补正告知, listing what is missing?"""
    body = GOOD | {"materials": {"1": "paper", "3": "paper"}}
    case = Api(app, "lx_jfl_clerk").post("/api/v1/cases", body).get_json()
    assert case["state"] == "correction" and case["due_date"] is None
    assert case["missing"] == ["家庭成员居民身份证及户口簿"]  # the optional and the deferrable ones are not listed
    assert case["tasks"] == [] and "correct" not in case["actions"]  # the material is still missing


def test_deferred_material_with_a_date_is_accepted(app):
    """Can a 容缺 material be sent as deferred with a date, and is the date kept on the material?"""
    body = GOOD | {"materials": {"1": "paper", "2": "paper", "4": "deferred"}, "deferred_until": {"4": "2026-12-07"}}
    case = Api(app, "lx_jfl_clerk").post("/api/v1/cases", body).get_json()
    assert case["state"] == "accepted"
    assert [(m["position"], m["status"], m["due_on"]) for m in case["materials"]][2:] == [
        (3, "missing", None), (4, "deferred", "2026-12-07")]


def test_an_immediate_item_is_decided_at_once(app):
    """Is a 即办件 with decide_now decided at the window (待出件), and decide_now on a promised item refused (400)?"""
    api = Api(app, "lx_jfl_clerk")
    before = written(app)
    refused = api.post("/api/v1/cases", GOOD | {"decide_now": True})
    assert refused.status_code == 400 and refused.get_json()["place"] == "decide_now"
    assert written(app) == before
    case = api.post("/api/v1/cases", GOOD | {"basic_code": ELDERLY_CARD, "materials": {"1": "paper"},
                                             "decide_now": True}).get_json()
    assert (case["state"], case["result_code"], case["due_date"]) == ("ready", "6", "2026-11-27")


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


APPLICANT = GOOD["applicant"]
BAD_BODIES = [
    (["not", "an", "object"], "body"),
    (_without(GOOD, "place"), "place"),
    (GOOD | {"place": "3701"}, "place"),
    (GOOD | {"material": {"1": "paper"}}, "material"),  # misspelt: must not become a correction notice
    (_without(GOOD, "basic_code"), "basic_code"),
    (GOOD | {"basic_code": "999999999999"}, "basic_code"),
    (GOOD | {"basic_code": "010100001000"}, "basic_code"),  # a city-only item, not offered at the town
    (GOOD | {"applicant": "张三"}, "applicant"),
    (_without(GOOD, "applicant"), "applicant"),
    (GOOD | {"applicant": _without(APPLICANT, "name")}, "applicant.name"),
    (GOOD | {"applicant": APPLICANT | {"name": "  "}}, "applicant.name"),
    (GOOD | {"applicant": APPLICANT | {"name": "张" * 101}}, "applicant.name"),
    (GOOD | {"applicant": APPLICANT | {"contact_phone": 13800000000}}, "applicant.contact_phone"),
    (GOOD | {"applicant": APPLICANT | {"id_number": "110105194912310021"}}, "applicant.id_number"),  # check digit
    (GOOD | {"applicant": APPLICANT | {"kind": "robot"}}, "applicant.kind"),
    (GOOD | {"applicant": APPLICANT | {"phone": "1"}}, "applicant.phone"),
    (GOOD | {"applicant": APPLICANT | {"agent_name": "李四", "agent_id_number": "123"}}, "applicant.agent_id_number"),
    (GOOD | {"materials": ["paper"]}, "materials"),
    (GOOD | {"materials": {"9": "paper"}}, "materials.9"),
    (GOOD | {"materials": {"x": "paper"}}, "materials.x"),
    (GOOD | {"materials": {"1": "scanned"}}, "materials.1"),
    (GOOD | {"materials": {"1": "deferred", "2": "paper"}, "deferred_until": {"1": "2026-12-07"}}, "materials.1"),
    (GOOD | {"materials": {"1": "paper", "2": "paper", "4": "deferred"}}, "materials.4"),  # no date
    (GOOD | {"materials": {"1": "paper", "2": "paper", "4": "deferred"}, "deferred_until": {"4": "2026-11-27"}},
     "materials.4"),  # not after today
    (GOOD | {"materials": {"1": "paper", "2": "paper", "4": "deferred"}, "deferred_until": {"4": "20261207"}},
     "deferred_until.4"),
    (GOOD | {"deferred_until": {"3": "2026-12-07"}}, "deferred_until.3"),  # not a deferred material
    (GOOD | {"window_number": "7 and more"}, "window_number"),
    (GOOD | {"decide_now": "yes"}, "decide_now"),
]


@pytest.mark.parametrize(("body", "place"), BAD_BODIES)
def test_bad_applications_are_400_naming_the_field_and_write_nothing(app, body, place):
    """Is each bad application refused with 400 naming the field, with no case, number, event or key written?"""
    before = written(app)
    response = Api(app, "lx_jfl_clerk").post("/api/v1/cases", body, **{"Idempotency-Key": "k-" + place})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["place"] == place
    assert written(app) == before


def test_a_form_encoded_body_is_400(app):
    """Is a body that is not JSON refused as such?"""
    api = Api(app, "lx_jfl_clerk")
    response = api.client.post("/api/v1/cases", data={"place": TOWN}, headers=api.headers)
    assert (response.status_code, response.get_json()["place"]) == (400, "body")


@pytest.mark.parametrize("username", ["lx_admin", "lx_reviewer_zj"])
def test_accepting_needs_the_clerk_role_at_the_place(app, username):
    """Can a county admin or a reviewer who sees the town open a case there? (403, nothing written)"""
    before = written(app)
    response = Api(app, username).post("/api/v1/cases", GOOD)
    assert response.status_code == 403
    assert written(app) == before
    assert Api(app, "lx_jfl_clerk").post("/api/v1/cases", GOOD).status_code == 201  # control


# --- Idempotency-Key ----------------------------------------------------------------------------------

def test_a_retry_with_the_same_key_gets_the_same_case(app):
    """Does a department system that resends a POST with its Idempotency-Key get the first case back, not a
    second one, while a new key makes a new case?"""
    api = Api(app, "lx_jfl_clerk")
    first = api.post("/api/v1/cases", GOOD, **{"Idempotency-Key": "req-0001"})
    after_first = written(app)
    again = api.post("/api/v1/cases", dict(reversed(GOOD.items())), **{"Idempotency-Key": "req-0001"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json()["number"] == first.get_json()["number"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert written(app) == after_first
    other = api.post("/api/v1/cases", GOOD, **{"Idempotency-Key": "req-0002"})
    assert other.status_code == 201 and other.get_json()["number"] != first.get_json()["number"]


def test_a_key_reused_for_another_body_is_refused(app):
    """Is the same key with a different application refused (422) without a new case?"""
    api = Api(app, "lx_jfl_clerk")
    assert api.post("/api/v1/cases", GOOD, **{"Idempotency-Key": "req-1"}).status_code == 201
    before = written(app)
    other = GOOD | {"applicant": APPLICANT | {"name": "李四"}}
    response = api.post("/api/v1/cases", other, **{"Idempotency-Key": "req-1"})
    assert (response.status_code, response.get_json()["place"]) == (422, "Idempotency-Key")
    assert written(app) == before


def test_a_refused_request_does_not_use_up_its_key(app):
    """After a 400, can the client correct the body and send it with the same key?"""
    api = Api(app, "lx_jfl_clerk")
    bad = GOOD | {"applicant": APPLICANT | {"id_number": "110105194912310021"}}
    assert api.post("/api/v1/cases", bad, **{"Idempotency-Key": "req-2"}).status_code == 400
    assert api.post("/api/v1/cases", GOOD, **{"Idempotency-Key": "req-2"}).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 101, "含中文"])
def test_a_malformed_key_is_400(app, key):
    """Is an empty, overlong or non-ASCII Idempotency-Key refused, with nothing written?"""
    before = written(app)
    response = Api(app, "lx_jfl_clerk").post("/api/v1/cases", GOOD, **{"Idempotency-Key": key})
    assert (response.status_code, response.get_json()["place"]) == (400, "Idempotency-Key")
    assert written(app) == before


def test_two_requests_with_one_key_at_once_make_one_case(app, monkeypatch):
    """If a twin request with the same key commits between this one's lookup and its insert, does this one
    roll back its own case and answer with the twin's?"""
    api = Api(app, "lx_jfl_clerk")
    twin = api.post("/api/v1/cases", GOOD, **{"Idempotency-Key": "req-3"}).get_json()["number"]
    before = written(app)
    real, calls = idempotency.earlier_case, []

    def not_yet_committed(*args: Any) -> Any:  # the first lookup runs before the twin's commit
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(idempotency, "earlier_case", not_yet_committed)
    response = api.post("/api/v1/cases", GOOD, **{"Idempotency-Key": "req-3"})
    assert (response.status_code, response.get_json()["number"]) == (201, twin)
    assert response.headers["Idempotent-Replayed"] == "true" and len(calls) == 2
    assert written(app) == before


# --- listing ------------------------------------------------------------------------------------------

def numbers(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [row["number"] for row in response.get_json()["cases"]]


@pytest.fixture
def worklist(app) -> dict[str, str]:
    """Four cases at the town: due 12-18, 12-25, an immediate one decided today, one waiting for correction."""
    return {
        "early": file_case(app, today=dt.date(2026, 11, 20)),
        "late": file_case(app),
        "immediate": file_case(app, ELDERLY_CARD, decide_now=True),
        "correction": file_case(app, materials={2: "missing"}),
    }


def test_the_worklist_is_sorted_by_due_date_with_paging_info(app, worklist):
    """Does the list give the caller's cases soonest due first (undated last), with page, total and pages?"""
    response = Api(app, "lx_jfl_clerk").get("/api/v1/cases")
    body = response.get_json()
    assert numbers(response) == [worklist[k] for k in ("immediate", "early", "late", "correction")]
    assert (body["page"], body["page_size"], body["total"], body["pages"]) == (1, 50, 4, 1)
    row = body["cases"][1]
    assert (row["due_date"], row["state"], row["item"]["basic_code"]) == ("2026-12-18", "accepted", HOUSING)
    assert row["applicant"]["id_number"] == "110105********002X"  # lists always mask


def test_pages_join_up(app, worklist, monkeypatch):
    """With two rows a page, do pages 1, 2 and 3 give every case once, in order?"""
    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    api = Api(app, "lx_jfl_clerk")
    pages = [api.get(f"/api/v1/cases?page={n}").get_json() for n in (1, 2, 3)]
    assert [p["pages"] for p in pages] == [2, 2, 2]
    assert [len(p["cases"]) for p in pages] == [2, 2, 0]
    assert [r["number"] for p in pages for r in p["cases"]] == [
        worklist[k] for k in ("immediate", "early", "late", "correction")]


@pytest.mark.parametrize(("query", "expected"), [
    ("state=correction", ["correction"]),
    ("state=accepted&state=correction", ["early", "late", "correction"]),
    (f"item={ELDERLY_CARD}", ["immediate"]),
    ("department=MZ", ["early", "late"]),  # the correction case has no tasks yet
    ("department=GA", []),
    (f"place={TOWN}", ["immediate", "early", "late", "correction"]),
    (f"place={LIXIA}", ["immediate", "early", "late", "correction"]),  # a place and everything below it
    ("place=370102002000", []),  # the sibling town: visible to the county admin, no cases
    ("overdue=true", []),
    ("due_soon=0", []),  # the immediate case is decided: its clock has stopped
    ("due_soon=15", ["early"]),  # 15 working days after Friday 11-27 is 12-18
    ("state=accepted&due_soon=20", ["early", "late"]),
])
def test_worklist_filters(app, worklist, query, expected):
    """Does each filter (state repeatable, item, department, place subtree, overdue, due soon) keep the right cases?"""
    assert numbers(Api(app, "lx_admin").get(f"/api/v1/cases?{query}")) == [worklist[k] for k in expected]


def test_overdue_counts_from_today(app, worklist, monkeypatch):
    """On 2026-12-21, is the case due 12-18 overdue, and the one due 12-25 due soon but not overdue?"""
    monkeypatch.setattr(deadlines, "china_today", lambda: dt.date(2026, 12, 21))
    # The immediate case, decided on 11-27 and waiting at the issuance window, met its limit: not overdue.
    api = Api(app, "lx_admin")
    assert numbers(api.get("/api/v1/cases?overdue=true")) == [worklist["early"]]
    assert numbers(api.get("/api/v1/cases?due_soon=5")) == [worklist["late"]]  # overdue is not "due soon"


@pytest.mark.parametrize(("query", "place"), [
    ("state=bogus", "state"), ("item=999999999999", "item"), ("department=Z%20J", "department"),
    ("place=abc", "place"), ("due_soon=-1", "due_soon"), ("due_soon=x", "due_soon"), ("due_soon=61", "due_soon"),
    ("overdue=maybe", "overdue"), ("page=0", "page"), ("page=%EF%BC%91", "page"), ("page=1234567890", "page"),
])
def test_bad_filters_are_400_naming_the_parameter(app, query, place):
    """Is each bad filter refused with 400 naming the parameter?"""
    response = Api(app, "lx_admin").get(f"/api/v1/cases?{query}")
    assert (response.status_code, response.get_json()["place"]) == (400, place)


def test_due_soon_in_a_year_without_calendar_is_400(app, monkeypatch):
    """Does due_soon say the calendar is missing rather than guess, when the window runs into 2027?"""
    monkeypatch.setattr(deadlines, "china_today", lambda: dt.date(2026, 12, 28))
    response = Api(app, "lx_admin").get("/api/v1/cases?due_soon=10")
    assert response.status_code == 400 and "2027" in response.get_json()["error"]


def test_the_list_runs_one_query_for_its_rows(app):
    """Is the number of queries of a list the same for one case and for five (no query per row)?"""
    api = Api(app, "lx_jfl_clerk")
    file_case(app)
    with QueryCounter(app) as one:
        assert len(numbers(api.get("/api/v1/cases"))) == 1
    for _ in range(4):
        file_case(app)
    with QueryCounter(app) as five:
        assert len(numbers(api.get("/api/v1/cases"))) == 5
    assert five.count == one.count


# --- reading one case ---------------------------------------------------------------------------------

def test_the_case_with_materials_tasks_pauses_result_and_evaluation(app):
    """Does GET /api/v1/cases/<number> show the materials, each task's opinion, a closed special procedure,
    the result and the evaluation?"""
    number = file_case(app, materials={3: "missing"})
    zj = Api(app, "lx_reviewer_zj")
    assert zj.act(number, "suspend", procedure="hearing", reason="申请人要求听证").status_code == 200
    assert zj.act(number, "resume", result="听证结束").status_code == 200
    assert zj.review(number, "ZJ").status_code == 200
    assert Api(app, "lx_reviewer_mz").review(number, "MZ").status_code == 200
    clerk = Api(app, "lx_jfl_clerk")
    assert clerk.act(number, "evaluate", level=5).status_code == 200
    case = clerk.get(f"/api/v1/cases/{number}").get_json()
    assert [(m["position"], m["status"]) for m in case["materials"]] == [
        (1, "paper"), (2, "paper"), (3, "missing"), (4, "paper")]
    assert [(t["department"], t["state"], t["reviewer"]) for t in case["tasks"]] == [
        ("ZJ", "approved", "lx_reviewer_zj"), ("MZ", "approved", "lx_reviewer_mz")]
    assert [(p["kind"], p["procedure"], p["ended_on"], p["result"]) for p in case["pauses"]] == [
        ("special", "hearing", "2026-11-27", "听证结束")]
    assert (case["state"], case["result_code"], case["result"]["title"]) == ("ready", "6", "准予许可")
    assert case["evaluation"] == {"satisfaction": 5, "refused": False}
    assert case["actions"] == ["issue"]


@pytest.mark.parametrize(("username", "full"), [
    ("lx_jfl_clerk", True), ("lx_reviewer_zj", True), ("lx_reviewer_mz", True),
    ("lx_reviewer_ga", False), ("lx_admin", False),
])
def test_id_numbers_in_full_only_for_those_who_work_the_case(app, username, full):
    """Does the clerk of the place and a reviewer of the case's departments see the full ID number, and
    the county admin or a reviewer of another department only 110105********002X?"""
    number = file_case(app)
    applicant = Api(app, username).get(f"/api/v1/cases/{number}").get_json()["applicant"]
    assert applicant["id_number"] == (ID_NUMBER if full else "110105********002X")
    assert applicant["id_number_masked"] is not full


def test_events_are_the_audit_timeline(app):
    """Does /events list the case's audit events oldest first, with actor and data?"""
    number = file_case(app)
    Api(app, "lx_reviewer_zj").review(number, "ZJ")
    response = Api(app, "lx_admin").get(f"/api/v1/cases/{number}/events")
    assert response.status_code == 200
    events = response.get_json()["events"]
    assert [(e["kind"], e["actor"]) for e in events] == [("case.accepted", "lx_jfl_clerk"),
                                                         ("case.reviewed", "lx_reviewer_zj")]
    assert events[0]["data"]["departments"] == ["ZJ", "MZ"] and events[0]["seq"] < events[1]["seq"]


def test_an_unknown_number_is_404(app):
    """Is a case number nobody has (or a malformed one) a JSON 404 on every case route?"""
    api = Api(app, "lx_jfl_clerk")
    for number in (TOWN + "20261127999999", "abc"):
        for response in (api.get(f"/api/v1/cases/{number}"), api.get(f"/api/v1/cases/{number}/events"),
                         api.act(number, "withdraw"), api.review(number, "ZJ")):
            assert (response.status_code, response.get_json()) == (404, {"error": "no such case"})


def test_no_token_is_401(app):
    """Without a token, is every case route 401?"""
    client = app.test_client()
    number = TOWN + "20261127000001"
    for response in (client.get("/api/v1/cases"), client.post("/api/v1/cases", json=GOOD),
                     client.get(f"/api/v1/cases/{number}"), client.get(f"/api/v1/cases/{number}/events"),
                     client.post(f"/api/v1/cases/{number}/transitions", json={"action": "withdraw"}),
                     client.post(f"/api/v1/cases/{number}/tasks/ZJ/review", json={})):
        assert response.status_code == 401


# --- transitions --------------------------------------------------------------------------------------

def test_an_online_application_is_pre_accepted_then_accepted_with_the_material_received(app):
    """Can a clerk pre-accept an online case, be refused acceptance while a required material is missing
    (400), then accept it stating the material received?"""
    number = submit_online(app, materials={2: "missing"})
    clerk = Api(app, "lx_jfl_clerk")
    assert clerk.act(number, "pre_accept").get_json()["state"] == "pre_accepted"
    refused = clerk.act(number, "accept")
    assert (refused.status_code, refused.get_json()["place"]) == (400, "condition")
    assert "家庭成员居民身份证及户口簿" in refused.get_json()["error"]
    case = clerk.act(number, "accept", materials={"2": "electronic"}).get_json()
    assert (case["state"], case["due_date"], case["materials"][1]["status"]) == ("accepted", "2026-12-25", "electronic")
    assert [t["department"] for t in case["tasks"]] == ["ZJ", "MZ"]


def test_refusing_needs_a_reason(app):
    """Is 不予受理 without a reason 400 (nothing changed), and with one recorded?"""
    number = submit_online(app)
    clerk = Api(app, "lx_jfl_clerk")
    before = case_state(app, number)
    response = clerk.act(number, "refuse")
    assert (response.status_code, response.get_json()["place"]) == (400, "reason")
    assert case_state(app, number) == before
    case = clerk.act(number, "refuse", reason="不属于本机关职权范围").get_json()
    assert (case["state"], case["result"]["refusal_reason"]) == ("refused", "不属于本机关职权范围")


def test_a_correction_during_review_pauses_the_clock_until_corrected(app):
    """Does a correction notice during review open a pause, and `correct` close it and resume the review?"""
    number = file_case(app)
    clerk = Api(app, "lx_jfl_clerk")
    bad = clerk.act(number, "request_correction", missing=[])
    assert (bad.status_code, bad.get_json()["place"]) == (400, "missing")
    case = clerk.act(number, "request_correction", missing=["补充近六个月收入证明"]).get_json()
    assert case["state"] == "correction"
    assert [(p["kind"], p["reason"], p["ended_on"]) for p in case["pauses"]] == [
        ("correction", "补充近六个月收入证明", None)]
    case = clerk.act(number, "correct").get_json()
    assert case["state"] == "accepted" and case["pauses"][0]["ended_on"] == "2026-11-27"
    assert case["due_date"] == "2026-12-25"  # a pause begun and ended the same day costs no working day


def test_withdrawal(app):
    """Can the clerk withdraw a case under review, closing its tasks (退回)?"""
    number = file_case(app)
    case = Api(app, "lx_jfl_clerk").act(number, "withdraw", reason="申请人主动撤回").get_json()
    assert (case["state"], case["result_code"]) == ("withdrawn", "1")
    assert {t["state"] for t in case["tasks"]} == {"withdrawn"}


def test_review_decide_evaluate_issue(app):
    """Through the API alone: two reviews decide the case, the applicant evaluates, the issuer hands it over."""
    number = file_case(app)
    assert Api(app, "lx_reviewer_zj").review(number, "ZJ").get_json()["state"] == "accepted"
    assert Api(app, "lx_reviewer_mz").review(number, "MZ").get_json()["state"] == "ready"
    issuer = Api(app, "lx_jfl_clerk")
    early = issuer.act(number, "issue", delivery="collect", collected_by="张三")
    assert (early.status_code, early.get_json()["place"]) == (400, "condition")  # 先评价后取证
    assert issuer.act(number, "evaluate").get_json()["place"] == "level"  # level must be given, even as null
    assert issuer.act(number, "evaluate", level=True).get_json()["place"] == "level"
    assert issuer.act(number, "evaluate", level=None).get_json()["evaluation"] == {"satisfaction": None,
                                                                                 "refused": True}
    no_tracking = issuer.act(number, "issue", delivery="mail")
    assert (no_tracking.status_code, no_tracking.get_json()["place"]) == (400, "tracking_number")
    case = issuer.act(number, "issue", delivery="mail", tracking_number="SF1234567890").get_json()
    assert (case["state"], case["result_code"], case["result"]["tracking_number"]) == (
        "issued", "0", "SF1234567890")


def test_an_immediate_item_decided_at_the_window_later(app):
    """Can the clerk decide an accepted 即办件 with decide_at_window?"""
    number = file_case(app, ELDERLY_CARD)
    case = Api(app, "lx_jfl_clerk").act(number, "decide_at_window").get_json()
    assert (case["state"], [t["opinion"] for t in case["tasks"]]) == ("ready", ["即办"])


# --- refusals: 400, 403, 409 --------------------------------------------------------------------------

def test_an_unknown_action_is_400_listing_the_allowed_ones(app):
    """Is an unknown or missing action 400 naming every allowed one, and an unknown field 400 naming it?"""
    number = file_case(app)
    api = Api(app, "lx_jfl_clerk")
    before = case_state(app, number)
    for body in ({"action": "approve"}, {"reason": "x"}, {"action": ["withdraw"]}):
        response = api.post(f"/api/v1/cases/{number}/transitions", body)
        assert (response.status_code, response.get_json()["place"]) == (400, "action")
        assert all(action in response.get_json()["error"] for action in workflow.ROLE_FOR if action != "review")
    misspelt = api.act(number, "withdraw", reasons="撤回")
    assert (misspelt.status_code, misspelt.get_json()["place"]) == (400, "reasons")
    not_object = api.post(f"/api/v1/cases/{number}/transitions", ["withdraw"])
    assert (not_object.status_code, not_object.get_json()["place"]) == (400, "body")
    assert case_state(app, number) == before


def test_an_action_not_allowed_in_the_state_is_409(app):
    """Is issuing a case under review, or pre-accepting an accepted one, a 409 naming the state, with nothing
    changed?"""
    number = file_case(app)
    api = Api(app, "lx_jfl_clerk")
    before = case_state(app, number)
    for response in (api.act(number, "issue", delivery="collect", collected_by="张三"), api.act(number, "pre_accept")):
        assert response.status_code == 409
        assert "审查中" in response.get_json()["error"] and response.get_json()["place"] == "state"
    assert case_state(app, number) == before


def test_a_stale_version_is_409_and_changes_nothing(app):
    """If a client acts on the version it saw and someone changed the case since, is it 409 without acting,
    while acting on the current version works?"""
    number = file_case(app)
    api = Api(app, "lx_jfl_clerk")
    seen = api.get(f"/api/v1/cases/{number}").get_json()["version"]
    reviewed = Api(app, "lx_reviewer_zj").review(number, "ZJ", version=seen)
    assert reviewed.status_code == 200 and reviewed.get_json()["version"] == seen + 1  # a review is a change too
    before = case_state(app, number)
    stale = api.act(number, "withdraw", version=seen, reason="撤回")
    assert (stale.status_code, stale.get_json()["place"]) == (409, "version")
    assert case_state(app, number) == before
    bad = api.act(number, "withdraw", version="1")
    assert (bad.status_code, bad.get_json()["place"]) == (400, "version")
    current = api.act(number, "withdraw", version=before[1], reason="撤回")
    assert current.status_code == 200 and current.get_json()["version"] > before[1]


def test_a_concurrent_change_during_the_request_is_409(app, monkeypatch):
    """If another request commits a change to the case while this one acts, does the optimistic lock turn
    this one into a 409 and keep the other change?"""
    number = file_case(app)
    _state, before, _events = case_state(app, number)
    real = workflow.withdraw

    def meanwhile(session: Any, case: Case, *args: Any) -> None:
        with acting_as(app, "lx_jfl_clerk") as (other, _clerk):
            other.execute(update(Case).where(Case.number == number).values(window_number="9",
                                                                           version=Case.version + 1))
        real(session, case, *args)

    monkeypatch.setattr(workflow, "withdraw", meanwhile)
    response = Api(app, "lx_jfl_clerk").act(number, "withdraw", reason="撤回")
    assert response.status_code == 409
    assert case_state(app, number) == ("accepted", before + 1, 1)  # the other change, and no event of this one


@pytest.mark.parametrize(("username", "action", "fields"), [
    ("lx_admin", "withdraw", {"reason": "撤回"}),  # sees the town, holds no clerk role there
    ("lx_reviewer_zj", "withdraw", {"reason": "撤回"}),
    ("lx_jfl_clerk", "suspend", {"procedure": "hearing", "reason": "听证"}),  # a reviewer's action
    ("lx_reviewer_zj", "request_correction", {"missing": ["收入证明"]}),
])
def test_the_wrong_role_is_403(app, username, action, fields):
    """Is an action by someone who sees the case but lacks the role for it 403, with nothing changed?"""
    number = file_case(app)
    before = case_state(app, number)
    response = Api(app, username).act(number, action, **fields)
    assert response.status_code == 403, response.get_json()
    assert case_state(app, number) == before


def test_a_reviewer_of_another_department_cannot_review(app):
    """Can the GA reviewer answer for ZJ (403), a reviewer answer twice (409), or review a department the case
    does not have (404)?"""
    number = file_case(app)
    before = case_state(app, number)
    assert Api(app, "lx_reviewer_ga").review(number, "ZJ").status_code == 403
    assert Api(app, "lx_reviewer_ga").review(number, "GA").status_code == 404
    assert case_state(app, number) == before
    zj = Api(app, "lx_reviewer_zj")
    missing = zj.post(f"/api/v1/cases/{number}/tasks/ZJ/review", {"opinion": "同意"})
    assert (missing.status_code, missing.get_json()["place"]) == (400, "approve")
    assert zj.review(number, "ZJ").status_code == 200
    twice = zj.review(number, "ZJ")
    assert twice.status_code == 409 and "already given its opinion" in twice.get_json()["error"]


# --- other tenants ------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["lc_admin", "lc_sdl_clerk"])
def test_another_countys_staff_cannot_see_or_touch_the_case(app, username):
    """Does a 历城区 token get 404 for a 历下区 case, its events, every transition and review, exactly as for a
    number nobody has, with the case unchanged and left out of its list?"""
    number = file_case(app)
    before = case_state(app, number)
    api = Api(app, username)
    responses = [api.get(f"/api/v1/cases/{number}"), api.get(f"/api/v1/cases/{number}/events"),
                 api.review(number, "ZJ")]
    responses += [api.act(number, action, reason="x") for action in ("withdraw", "refuse")]
    responses += [api.act(number, action) for action in ("pre_accept", "accept", "decide_at_window", "evaluate")]
    for response in responses:
        assert (response.status_code, response.get_json()) == (404, {"error": "no such case"})
    assert case_state(app, number) == before
    assert number not in numbers(api.get("/api/v1/cases"))
    assert api.get(f"/api/v1/cases?place={TOWN}").status_code == 404
    assert Api(app, "lx_admin").get(f"/api/v1/cases/{number}").status_code == 200  # control


def test_a_clerk_of_another_county_cannot_accept_at_the_town(app):
    """Can 历城区's clerk open a case at 解放路街道 (404, nothing written), while at their own town they can,
    and is their own case the only one in their list?"""
    lixia_case = file_case(app)
    api = Api(app, "lc_sdl_clerk")
    before = written(app)
    response = api.post("/api/v1/cases", GOOD)
    assert (response.status_code, response.get_json()) == (404, {"error": "not found"})
    assert written(app) == before
    own = api.post("/api/v1/cases", GOOD | {"place": LICHENG_SHANDALU})
    assert own.status_code == 201 and own.get_json()["place"] == LICHENG_SHANDALU
    assert numbers(api.get("/api/v1/cases")) == [own.get_json()["number"]]
    assert lixia_case not in numbers(Api(app, "lc_admin").get("/api/v1/cases"))


# --- the OpenAPI document -----------------------------------------------------------------------------

def test_openapi_describes_the_case_bodies(app):
    """Does the document give the request body of each case write and the actions a transition accepts?"""
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    for path in ("/api/v1/cases", "/api/v1/cases/{number}/transitions",
                 "/api/v1/cases/{number}/tasks/{department}/review"):
        assert paths[path]["post"]["requestBody"]["required"] is True, path
    actions = paths["/api/v1/cases/{number}/transitions"]["post"]["requestBody"]["content"]["application/json"]
    assert set(actions["schema"]["properties"]["action"]["enum"]) == set(workflow.ROLE_FOR) - {"review"} | {
        "decide_at_window"}
    assert "Idempotency-Key" in [p["name"] for p in paths["/api/v1/cases"]["post"]["parameters"]]


def test_an_online_application_waits_for_a_clerk(app):
    """Does channel=online create a submitted case (no clock) that a clerk pre-accepts and accepts?"""
    api = Api(app, "lx_jfl_clerk")
    online = {k: v for k, v in GOOD.items() if k != "window_number"} | {"channel": "online"}
    created = api.post("/api/v1/cases", online)
    assert created.status_code == 201, created.get_json()
    case = created.get_json()
    assert (case["state"], case["channel"], case["due_date"]) == ("submitted", "online", None)
    for action in ("pre_accept", "accept"):
        moved = api.post(f"/api/v1/cases/{case['number']}/transitions", {"action": action})
        assert moved.status_code == 200, moved.get_json()
    accepted = api.get(f"/api/v1/cases/{case['number']}").get_json()
    assert accepted["state"] == "accepted" and accepted["due_date"] is not None
    events = [e["kind"] for e in api.get(f"/api/v1/cases/{case['number']}/events").get_json()["events"]]
    assert events == ["case.submitted", "case.pre_accepted", "case.accepted"]


def test_an_online_application_has_no_window_and_unknown_channels_are_refused(app):
    """Are channel=fax and an online application with a window number refused naming 'channel'?"""
    api = Api(app, "lx_jfl_clerk")
    for body in (GOOD | {"channel": "fax"}, GOOD | {"channel": "online"}):  # GOOD names window 1
        response = api.post("/api/v1/cases", body)
        assert (response.status_code, response.get_json()["place"]) == (400, "channel")
