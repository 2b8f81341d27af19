"""The cross-tenant walk: every UI and API route, as a town clerk, a county admin and a city admin,
against places of a sibling town, a sibling county and (for the city admin) a sibling city.

The routes come from the app's URL map, so a new route with a `<code>` argument — or a `<number>`
(a case, 办件), with the parts of that case (`<department>`, `<task_id>`) — is walked without anyone
remembering to add it; a route the walk does not know how to exercise fails the first test. Case
routes are walked with the case the setup opened at each place: its number stands in for the place.
Foreign places must be 404 (never 403: their existence is not confirmed), lists must never contain
them, and writes aimed at them must be refused with nothing written. Every negative check has a
positive control on the actor's own places, so the walk fails if it stops seeing anything at all.

The database is the Jinan demo plus a sibling city (青岛市) with a county and a town, windows, an
item and staff — rows this node should never show anybody — and, at town A, a staff member who also
holds a role in the sibling county (that grant is foreign to A's clerk and county admin). One case is
open at town A, the sibling town, a town of the sibling county and the sibling city's town: each was
given a correction notice, corrected and accepted, so it has a notice, a receipt and review tasks.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from app.cases import workflow
from app.cases.models import Case, CaseCounter, CaseMaterial, ReviewTask
from app.cases.services import Applicant, WindowApplication, open_at_window
from app.catalog.models import Item, TenantItem
from app.core.audit import AuditEvent
from app.core.auth import Principal, hash_password
from app.core.tenancy import (
    SKIP_SCOPE,
    Scope,
    ScopeMissing,
    ScopeViolation,
    ancestors_of,
    is_within,
    set_scope,
    subtree_range,
)
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.models import Tenant
from tests.conftest import (
    CITY,
    LICHENG,
    LICHENG_SHANDALU,
    LIXIA,
    LIXIA_JIEFANGLU,
    LIXIA_QIANFOSHAN,
    bearer,
    login,
    post_form,
)

A = LIXIA_JIEFANGLU
QINGDAO, SHINAN, SHINAN_TOWN = "370200000000", "370202000000", "370202001000"
FOREIGN_CITY = {QINGDAO: ("青岛市", "city", "370000000000"), SHINAN: ("市南区", "county", QINGDAO),
                SHINAN_TOWN: ("香港中路街道", "town", SHINAN)}
QFS_WINDOW = "千佛山走查专窗"  # a window only the sibling town has
DUAL = "lx_jfl_dual"  # staff of town A who is also a reviewer in the sibling county
WALK_WINDOW = "走查写入窗口"  # the name every write of the walk uses
UNKNOWN = "370199999000"  # a well-formed code no place has
HOUSING = "050090004000"  # 公共租赁住房保障申请 (ZJ and MZ review): the item of every walk case
WALK_APPLICANT = Applicant("person", "走查申请人", "11010519491231002X", "走查申请人", "13800000000")
CASE_DAY = dt.date(2026, 11, 27)
CASE_PLACES = (A, LIXIA_QIANFOSHAN, LICHENG_SHANDALU, SHINAN_TOWN)
UNKNOWN_CASE = f"{UNKNOWN}{CASE_DAY:%Y%m%d}000001"  # a well-formed number no case has

# --- the route inventory ------------------------------------------------------------------------------

# Routes that carry no tenant data of a caller's places, each with the reason it is not walked here.
NOT_TENANT_ROUTES = {
    ("/static/<path:filename>", "GET"): "static files; no database",
    ("/login", "GET"): "the sign-in form (tests/test_auth.py)",
    ("/login", "POST"): "signing in (tests/test_auth.py)",
    ("/logout", "POST"): "signing out (tests/test_auth.py)",
    ("/lang/<code>", "GET"): "<code> is a language, not a place (tests/test_auth.py covers its redirect)",
    ("/", "GET"): "redirects to /home or /guide/; renders no data",
    ("/healthz", "GET"): "ops health: status, version, root and node id only (tests/test_api.py)",
    ("/api/v1/openapi.json", "GET"): "the API description; static (tests/test_api.py)",
    # Upward sync from the nodes below: no staff caller; node-authenticated by HMAC, and a node may
    # report and reconcile only for its registered subtree (tests/test_sync_receiver.py, neighbours).
    ("/api/sync/v1/batches", "POST"): "node-authenticated by HMAC; subtree checks in tests/test_sync_receiver.py",
    ("/api/sync/v1/reconcile", "POST"): "node-authenticated by HMAC; subtree checks in tests/test_sync_receiver.py",
    ("/sync", "GET"): "this node's own upward-sync state (counts, errors, attempts: no place's rows); admins of "
                      "the node's root only (test_only_root_admins_see_the_nodes_sync_state)",
}
# Public pages: readable by anyone by design, but they must show only the one place they name and
# only places this node serves — checked by the guide tests below.
PUBLIC_ROUTES = {
    ("/guide/", "GET"): "the node's places by name",
    ("/guide/<code>", "GET"): "one place's item guide",
    ("/guide/<code>/items/<basic_code>", "GET"): "one item at one place",
}
# Staff routes without a <code>: lists of the caller's places, checked for foreign rows. Argument-less
# GET routes under /cases and /api/v1/cases are lists too (worklist, inbox …: see `list_routes`).
LIST_ROUTES = {("/home", "GET"), ("/tree", "GET"), ("/api/v1/tenants", "GET"), ("/api/v1/cases", "GET")}
# What was reported to this node (上报汇总): the root's admins only (403 for everyone else), walked as lists;
# tests/test_sync_hall.py fills them with reported data, including a foreign place's case that must not show.
ROOT_ADMIN_LISTS = {("/reports/nodes", "GET"), ("/reports/counts", "GET"), ("/reports/cases", "GET"),
                    ("/reports/rejected", "GET")}
CASE_LIST_PREFIXES = ("/cases", "/api/v1/cases")
# City-admin-only routes that take a county code in the form (tests/test_scoping_walk.py onboarding tests).
ONBOARDING_ROUTES = {("/onboard", "GET"), ("/onboard/preview", "POST"), ("/onboard/apply", "POST")}
# Route arguments the walk fills in: a place, or the case opened at that place and parts of that case.
PLACE_ARGUMENTS = {"code", "number"}
CASE_PART_ARGUMENTS = {"department", "task_id"}
ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def route_methods(app: Flask) -> Iterator[tuple[Rule, str]]:
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def walked(rule: Rule) -> bool:
    """Does the route name one place (`<code>`) or one case (`<number>`, maybe with parts of it)?"""
    arguments = set(rule.arguments)
    if arguments & CASE_PART_ARGUMENTS and "number" not in arguments:
        return False
    return len(arguments & PLACE_ARGUMENTS) == 1 and arguments <= PLACE_ARGUMENTS | CASE_PART_ARGUMENTS


def tenant_reads(app: Flask) -> list[Rule]:
    """Every GET route of one place or one case that is not public."""
    return [rule for rule, method in route_methods(app)
            if method == "GET" and walked(rule) and (rule.rule, method) not in _allowed()]


def tenant_writes(app: Flask) -> list[Rule]:
    """Every POST/PUT/PATCH/DELETE route with a place code."""
    return [rule for rule, method in route_methods(app) if method != "GET" and "code" in rule.arguments
            and (rule.rule, method) not in _allowed()]


def case_writes(app: Flask) -> list[Rule]:
    """Every POST/PUT/PATCH/DELETE route of one case (transitions, reviews …)."""
    return [rule for rule, method in route_methods(app) if method != "GET" and "number" in rule.arguments
            and walked(rule) and (rule.rule, method) not in _allowed()]


def list_routes(app: Flask) -> list[Rule]:
    return [rule for rule, method in route_methods(app) if method == "GET" and is_list(rule)]


def is_list(rule: Rule) -> bool:
    return (rule.rule, "GET") in LIST_ROUTES or (not rule.arguments and rule.rule.startswith(CASE_LIST_PREFIXES))


def _allowed() -> set[tuple[str, str]]:
    return set(NOT_TENANT_ROUTES) | set(PUBLIC_ROUTES) | LIST_ROUTES | ONBOARDING_ROUTES | ROOT_ADMIN_LISTS


def url_of(rule: Rule, code: str, cases: dict[str, dict[str, str]] | None = None) -> str:
    """The route for place `code`; a case route for the case opened at `code` (`cases`, by place)."""
    values = {"code": code, **((cases or {}).get(code, {}))}
    return ARGUMENT.sub(lambda match: values[match.group(1)], rule.rule)


def places_for(rule: Rule, codes: tuple[str, ...] | list[str], cases: dict[str, dict[str, str]]) -> list[str]:
    """The places of `codes` a route can be walked at: those with a case, for a case route."""
    return [code for code in codes if "number" not in rule.arguments or code in cases]


def case_arguments(app: Flask) -> dict[str, dict[str, str]]:
    """Place → the number, a department and a task id of the case the walk opened there (read once per app)."""
    if "walk.cases" not in app.extensions:
        session = system_session_of(app)
        try:
            query = (select(Case.tenant_code, Case.number, ReviewTask.department_code, ReviewTask.id)
                     .join(ReviewTask).where(Case.tenant_code.in_(CASE_PLACES)).order_by(ReviewTask.id))
            found: dict[str, dict[str, str]] = {}
            for code, number, department, task_id in session.execute(query):
                found.setdefault(code, {"number": number, "department": department, "task_id": str(task_id)})
        finally:
            session.close()
        assert set(found) == set(CASE_PLACES), found
        app.extensions["walk.cases"] = found
    return app.extensions["walk.cases"]


def unknown_case() -> dict[str, dict[str, str]]:
    return {UNKNOWN: {"number": UNKNOWN_CASE, "department": "ZJ", "task_id": "1"}}


def is_api(rule: Rule) -> bool:
    return rule.rule.startswith("/api/")


# --- the actors ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Actor:
    username: str
    grant: tuple[str, bool]  # what their one grant covers (code, subtree)
    own: tuple[str, ...]  # places they must see (positive controls)
    foreign: tuple[str, ...]  # places they must not see (siblings, cousins, parents, the sibling city)
    foreign_markers: tuple[str, ...]  # text of foreign rows that must never appear in their lists
    own_markers: tuple[str, ...]  # text of their own rows that must appear (so the list check can fail)
    admin: bool
    write_at: str = ""  # an own place where an admin's write must succeed

    def sees(self, code: str) -> bool:
        return code == self.grant[0] or (self.grant[1] and is_within(code, self.grant[0]))


QINGDAO_MARKERS = (QINGDAO, SHINAN, SHINAN_TOWN, "青岛市", "市南区", "香港中路街道", "青岛走查窗口", "qd_admin",
                   "qd_clerk", "QD-WALK-")
CITY_STAFF = ("jn_admin", "jn_clerk", "jn_auditor")
ACTORS = {
    "town_clerk_A": Actor(
        "lx_jfl_clerk", (A, False), own=(A,),
        foreign=(LIXIA_QIANFOSHAN, LICHENG, LICHENG_SHANDALU, LIXIA, CITY, SHINAN_TOWN, SHINAN, QINGDAO),
        foreign_markers=(LIXIA_QIANFOSHAN, "千佛山街道", LICHENG, "历城区", LICHENG_SHANDALU, "山大路街道",
                         QFS_WINDOW, "不动产登记专窗", "社保医保窗口", "企业开办专窗", "综合受理窗口三",
                         "lx_admin", "lx_reviewer_scjg", "lc_admin", "lc_sdl_clerk", *CITY_STAFF, *QINGDAO_MARKERS),
        own_markers=(A, "解放路街道", "lx_jfl_clerk", DUAL, "综合受理窗口", "居住证申领"), admin=False,
    ),
    "county_admin_A": Actor(
        "lx_admin", (LIXIA, True), own=(LIXIA, A, LIXIA_QIANFOSHAN),
        foreign=(LICHENG, LICHENG_SHANDALU, CITY, SHINAN_TOWN, SHINAN, QINGDAO),
        foreign_markers=(LICHENG, "历城区", LICHENG_SHANDALU, "山大路街道", "社保医保窗口", "企业开办专窗",
                         "综合受理窗口三", "lc_admin", "lc_sdl_clerk", *CITY_STAFF, *QINGDAO_MARKERS),
        own_markers=(LIXIA, "历下区", A, "解放路街道", LIXIA_QIANFOSHAN, "千佛山街道", QFS_WINDOW, "不动产登记专窗",
                     "lx_admin", "lx_reviewer_scjg", "lx_jfl_clerk", DUAL),
        admin=True, write_at=LIXIA_QIANFOSHAN,
    ),
    "city_admin": Actor(
        "jn_admin", (CITY, True), own=(CITY, LIXIA, A, LIXIA_QIANFOSHAN, LICHENG, LICHENG_SHANDALU),
        foreign=(SHINAN_TOWN, SHINAN, QINGDAO),
        foreign_markers=QINGDAO_MARKERS,
        own_markers=(CITY, "济南市", LICHENG, "历城区", LICHENG_SHANDALU, "山大路街道", "社保医保窗口", "企业开办专窗",
                     QFS_WINDOW, "jn_admin", "lc_sdl_clerk", DUAL),
        admin=True, write_at=LICHENG_SHANDALU,
    ),
}
ACTOR_IDS = list(ACTORS)


# --- the database -------------------------------------------------------------------------------------

def seed_foreign_rows(session: Session) -> None:
    """A sibling city with a county and a town (windows, an item, staff), a window only the sibling town
    has, and a staff member of town A holding a second role in the sibling county."""
    item_id = session.scalar(select(Item.id).order_by(Item.id).limit(1))
    for code, (name, level, parent) in FOREIGN_CITY.items():
        session.add(Tenant(code=code, name=name, level=level, parent_code=parent,
                           opening_hours={"days": ["mon"], "sessions": [["09:00", "12:00"]]}))
        session.add(Window(tenant_code=code, number="1", name=f"青岛走查窗口{code}", kind="comprehensive", categories=[]))
        session.add(TenantItem(tenant_code=code, item_id=item_id, implementation_code=f"QD-WALK-{code}",
                               promised_days=3))
    session.add(Window(tenant_code=LIXIA_QIANFOSHAN, number="7", name=QFS_WINDOW, kind="dedicated", categories=[]))
    qd_admin = Staff(tenant_code=QINGDAO, username="qd_admin", name="青岛管理员", password_hash=hash_password("x" * 12))
    qd_clerk = Staff(tenant_code=SHINAN_TOWN, username="qd_clerk", name="青岛窗口人员")
    dual = Staff(tenant_code=A, username=DUAL, name="双岗人员")
    session.add_all([qd_admin, qd_clerk, dual])
    session.flush()
    session.add_all([
        RoleGrant(staff_id=qd_admin.id, tenant_code=QINGDAO, role="city_admin", subtree=True),
        RoleGrant(staff_id=qd_clerk.id, tenant_code=SHINAN_TOWN, role="clerk"),
        RoleGrant(staff_id=dual.id, tenant_code=A, role="clerk"),
        RoleGrant(staff_id=dual.id, tenant_code=LICHENG, role="reviewer", department_code="SCJG"),
    ])
    housing = session.scalars(select(Item).where(Item.basic_code == HOUSING)).one()
    session.add(TenantItem(tenant_code=SHINAN_TOWN, item_id=housing.id, implementation_code="QD-WALK-HOUSING",
                           promised_days=20))
    session.commit()
    for code in CASE_PLACES:
        open_walk_case(session, code, list(housing.review_departments))
    session.commit()


def open_walk_case(session: Session, code: str, departments: list[str]) -> None:
    """A housing case at `code`: one required material missing (a correction notice), then supplied and
    accepted (a receipt and review tasks). Opened by a clerk of that place alone."""
    clerk = Principal(0, "walk_setup", "走查", code, ((code, "clerk", "", False),))
    statuses = {1: "paper", 2: "missing", 3: "paper", 4: "paper"}
    case = open_at_window(session, clerk, code, WindowApplication(HOUSING, WALK_APPLICANT, statuses), CASE_DAY)
    for material in case.materials:
        material.status = "paper"
    workflow.correct(session, case, clerk, CASE_DAY, departments)
    assert case.number == f"{code}{CASE_DAY:%Y%m%d}000001"


def system_session_of(app: Flask) -> Session:
    return set_scope(app.extensions["govhall.sessions"](), Scope.system())


@pytest.fixture(scope="module")
def walk_app(shared_app: Flask) -> Flask:
    """The module's demo database with the foreign rows added (read-only tests share it)."""
    session = system_session_of(shared_app)
    try:
        seed_foreign_rows(session)
    finally:
        session.close()
    return shared_app


@pytest.fixture
def seeded(app: Flask) -> Flask:
    """A private demo database with the foreign rows, for tests that try to write."""
    session = system_session_of(app)
    try:
        seed_foreign_rows(session)
    finally:
        session.close()
    return app


class Caller:
    """An actor's way in: a signed-in browser for the UI, a bearer token for the API."""

    def __init__(self, app: Flask, actor: Actor) -> None:
        self.browser: FlaskClient = app.test_client()
        login(self.browser, actor.username)
        self.api: FlaskClient = app.test_client()
        self.token = bearer(app, actor.username)

    def get(self, url: str) -> object:
        if url.startswith("/api/"):
            return self.api.get(url, headers=self.token)
        return self.browser.get(url)


@pytest.fixture(scope="module")
def callers(walk_app: Flask) -> dict[str, Caller]:
    return {name: Caller(walk_app, actor) for name, actor in ACTORS.items()}


# --- 1. the inventory ---------------------------------------------------------------------------------

def test_every_route_is_walked_or_explicitly_allowed(app):
    """Is there a route the walk does not know how to exercise (a new argument, a write without a payload)?"""
    unknown = []
    for rule, method in route_methods(app):
        key = (rule.rule, method)
        if key in _allowed():
            continue
        if method == "GET" and (walked(rule) or is_list(rule)):
            continue  # walked by test_foreign_places_are_404_on_every_read_route / the list tests
        if method != "GET" and rule.arguments == {"code"} and rule.endpoint in WRITES:
            continue  # walked by test_foreign_writes_are_refused_and_write_nothing
        if method != "GET" and "number" in rule.arguments and walked(rule):
            continue  # walked by test_foreign_cases_cannot_be_acted_on
        if method != "GET" and rule.endpoint in CREATES:
            continue  # walked by test_foreign_places_cannot_receive_cases
        unknown.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not unknown, ("routes the cross-tenant walk cannot exercise; teach it (WRITES, CREATES, "
                         "CASE_PART_ARGUMENTS, or a list) or allow-list them with a reason: " + ", ".join(unknown))


def test_allow_lists_name_only_existing_routes(app):
    """Does every allow-listed route and every endpoint the walk names still exist, so the lists cannot hide a
    renamed route?"""
    existing = {(rule.rule, method) for rule, method in route_methods(app)}
    assert _allowed() <= existing, _allowed() - existing
    assert len(tenant_reads(app)) >= 6  # /places/<code> and five API reads at the time of writing
    assert {r.endpoint for r in tenant_writes(app)} == set(WRITES)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(CREATES) | set(PLACE_FILTERS) | set(CASE_WRITE_BODIES) <= endpoints
    assert len(case_writes(app)) >= 2  # the API's transitions and reviews at least


# --- 2. reads of foreign places -----------------------------------------------------------------------

NOT_FOUND = {"code": {"error": "not found"}, "number": {"error": "no such case"}}


def _kind(rule: Rule) -> str:
    return "number" if "number" in rule.arguments else "code"


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_foreign_places_are_404_on_every_read_route(walk_app, callers, name):
    """Can a clerk of town A / a county admin / a city admin open any place page, case page or API resource of
    a place outside their grants? (404 for every foreign place and case; 200 for their own, or the walk proves
    nothing)"""
    actor, caller, cases = ACTORS[name], callers[name], case_arguments(walk_app)
    wrong = []
    for rule in tenant_reads(walk_app):
        for code in places_for(rule, actor.foreign, cases):
            url = url_of(rule, code, cases)
            response = caller.get(url)
            if response.status_code != 404:
                wrong.append(f"{url} -> {response.status_code}, expected 404")
            elif is_api(rule) and response.get_json() != NOT_FOUND[_kind(rule)]:
                wrong.append(f"{url} -> 404 saying {response.get_json()}")
        for code in places_for(rule, actor.own, cases):
            response = caller.get(url_of(rule, code, cases))
            if response.status_code != 200:
                wrong.append(f"{url_of(rule, code, cases)} -> {response.status_code}, expected 200 (own place)")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_foreign_404_is_the_same_as_a_place_that_does_not_exist(walk_app, callers, name):
    """Does the answer for a foreign place or case give away that it exists (compared with an unknown code or
    case number)?"""
    caller, cases = callers[name], case_arguments(walk_app)
    foreign = next(code for code in ACTORS[name].foreign if code in cases)
    for rule in tenant_reads(walk_app):
        absent = caller.get(url_of(rule, UNKNOWN, unknown_case()))
        present = caller.get(url_of(rule, foreign, cases))
        assert present.status_code == absent.status_code == 404, rule.rule
        # The page links back to its own URL (language switch), so compare with the codes blanked out;
        # CSRF tokens carry a timestamp, so two requests a second apart differ there too.
        hidden = (cases[foreign]["number"], foreign) if "number" in rule.arguments else (foreign,)
        assert (_comparable(present.get_data(as_text=True), *hidden)
                == _comparable(absent.get_data(as_text=True), UNKNOWN_CASE, UNKNOWN)), rule.rule


def _comparable(page: str, *codes: str) -> str:
    for code in codes:
        page = page.replace(code, "<code>")
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', page)


# Routes without a place in their path that take one as ?place=: a foreign place is 404 there too.
PLACE_FILTERS = ("cases.worklist", "cases.new", "cases.issuance", "cases_api.list_cases")


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_foreign_place_filters_are_404(walk_app, callers, name):
    """Can the worklist, the front desk, the issuance window or the cases API be pointed at a foreign place
    with ?place=? (404; an own place is not 404)"""
    actor, caller = ACTORS[name], callers[name]
    rules = [rule for rule, method in route_methods(walk_app) if method == "GET" and rule.endpoint in PLACE_FILTERS]
    assert {rule.endpoint for rule in rules} == set(PLACE_FILTERS)
    wrong = []
    for rule in rules:
        for code in actor.foreign:
            if (status := caller.get(f"{rule.rule}?place={code}").status_code) != 404:
                wrong.append(f"{rule.rule}?place={code} -> {status}, expected 404")
        for code in actor.own:
            if caller.get(f"{rule.rule}?place={code}").status_code == 404:
                wrong.append(f"{rule.rule}?place={code} -> 404 at an own place")
    assert not wrong, "\n".join(wrong)


# --- 3. lists never contain foreign rows --------------------------------------------------------------

def codes_in_json(value: object) -> Iterator[str]:
    """Every place code a JSON answer mentions under a code-like key."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("code", "tenant_code", "parent_code", "place") and isinstance(inner, str):
                yield inner
            else:
                yield from codes_in_json(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from codes_in_json(inner)


def list_urls(walk_app: Flask, actor: Actor) -> list[tuple[str, bool]]:
    """(url, must it answer 200?): the case pages of a role the actor lacks may be 403 (front desk, inbox)."""
    cases = case_arguments(walk_app)
    urls = [("/api/v1/tenants?limit=500", True)]
    urls += [(rule.rule, (rule.rule, "GET") in LIST_ROUTES) for rule in list_routes(walk_app)]
    urls += [(path, False) for path, _method in sorted(ROOT_ADMIN_LISTS)]
    urls += [(url_of(rule, code, cases), True) for rule in tenant_reads(walk_app)
             for code in places_for(rule, actor.own, cases)]
    return urls


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_lists_never_contain_foreign_rows(walk_app, callers, name):
    """Do the tree, the work page, the case lists, place and case pages and every API list of an actor's own
    places leave out everything of foreign places — names, codes, windows, staff, foreign role grants, cases?"""
    actor, caller, cases = ACTORS[name], callers[name], case_arguments(walk_app)
    foreign_markers = actor.foreign_markers + tuple(c["number"] for p, c in cases.items() if not actor.sees(p))
    own_markers = actor.own_markers + tuple(c["number"] for p, c in cases.items() if actor.sees(p))
    allowed_codes = set(actor.own) | {a for c in actor.own for a in ancestors_of(c)}
    seen_text = []
    problems = []
    for url, must_answer in list_urls(walk_app, actor):
        response = caller.get(url)
        if response.status_code in (403, 404) and not must_answer:
            continue  # refused (404 where the refusing place itself is out of sight): nothing shown
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        seen_text.append(text)
        problems += [f"{url} shows {marker!r}" for marker in foreign_markers if marker in text]
        if response.is_json:
            for code in codes_in_json(response.get_json()):
                if not (actor.sees(code) or code in allowed_codes):
                    problems.append(f"{url} mentions place {code}")
    assert not problems, "\n".join(problems)
    everything = "\n".join(seen_text)
    missing = [marker for marker in own_markers if marker not in everything]
    assert not missing, f"the lists do not show the actor's own rows either: {missing}"


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_case_lists_are_exactly_the_visible_cases(walk_app, callers, name):
    """Does /api/v1/cases list the walk's case at every place the actor sees and at no other place?"""
    actor, cases = ACTORS[name], case_arguments(walk_app)
    listed = {row["number"] for row in callers[name].get("/api/v1/cases").get_json()["cases"]}
    assert listed == {c["number"] for p, c in cases.items() if actor.sees(p)}


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_tenant_list_is_exactly_the_visible_places(walk_app, callers, name):
    """Does /api/v1/tenants list every place the actor's grant covers, and nothing else?"""
    actor = ACTORS[name]
    session = system_session_of(walk_app)
    try:
        every = list(session.scalars(select(Tenant.code).order_by(Tenant.code)))
    finally:
        session.close()
    response = callers[name].get("/api/v1/tenants?limit=500")
    listed = [t["code"] for t in response.get_json()["tenants"]]
    assert len(every) < 500
    assert listed == [c for c in every if actor.sees(c)]
    assert set(actor.own) <= set(listed)
    assert not set(actor.foreign) & set(listed)


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_tree_page_names_every_visible_place_and_no_other(walk_app, callers, name):
    """Does the tree page show the name of each place the actor sees, and no name of any other?"""
    actor = ACTORS[name]
    session = system_session_of(walk_app)
    try:
        places = list(session.execute(select(Tenant.code, Tenant.name)))
    finally:
        session.close()
    text = callers[name].get("/tree").get_data(as_text=True)
    links = set(re.findall(r'href="/places/(\d{12})"', text))
    assert links == {code for code, _name in places if actor.sees(code)}
    visible_names = {n for c, n in places if actor.sees(c)}
    # Names are unique within this data set except across counties; check those that cannot collide.
    hidden = {n for c, n in places if not actor.sees(c)} - visible_names
    assert not [n for n in hidden if n in text]
    assert all(n in text for n in visible_names)


def test_city_admin_sees_everything_under_the_city(walk_app, callers):
    """Does the city admin see every county and town of the city (the positive control of the walk)?"""
    session = system_session_of(walk_app)
    try:
        city_codes = [c for c in session.scalars(select(Tenant.code).order_by(Tenant.code)) if is_within(c, CITY)]
    finally:
        session.close()
    listed = [t["code"] for t in callers["city_admin"].get("/api/v1/tenants?limit=500").get_json()["tenants"]]
    assert listed == city_codes
    assert len({c for c in city_codes if c.endswith("000000") and c != CITY}) >= 13  # every county
    for code in (LICHENG_SHANDALU, LIXIA_QIANFOSHAN):
        assert callers["city_admin"].get(f"/places/{code}").status_code == 200
    staff = callers["city_admin"].get(f"/api/v1/tenants/{A}/staff").get_json()["staff"]
    dual = next(s for s in staff if s["username"] == DUAL)
    assert {(r["tenant_code"], r["role"]) for r in dual["roles"]} == {(A, "clerk"), (LICHENG, "reviewer")}


# --- 4. writes aimed at foreign places ----------------------------------------------------------------

def _ui_window(caller: Caller, code: str, number: str) -> object:
    return post_form(caller.browser, f"/places/{code}/windows",
                     {"number": number, "name": WALK_WINDOW, "kind": "comprehensive", "tenant_code": code})


def _api_window(caller: Caller, code: str, number: str) -> object:
    return caller.api.post(f"/api/v1/tenants/{code}/windows", headers=caller.token,
                           json={"number": number, "name": WALK_WINDOW, "kind": "comprehensive",
                                 "tenant_code": code})


@dataclass(frozen=True)
class Write:
    send: Callable[[Caller, str, str], object]
    success: int
    number: str


WRITES = {
    "tenants.add_window": Write(_ui_window, 302, "W1"),
    "api.create_window": Write(_api_window, 201, "W2"),
}


def walk_windows(app: Flask) -> list[tuple[str, str]]:
    session = system_session_of(app)
    try:
        query = select(Window.tenant_code, Window.number).where(Window.name == WALK_WINDOW).order_by(Window.number)
        return [tuple(row) for row in session.execute(query)]
    finally:
        session.close()


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_foreign_writes_are_refused_and_write_nothing(seeded, name):
    """Can a clerk of town A / a county admin / a city admin add a window (UI form or API) at a place
    outside their grants? (404 and nothing written; an admin's same write at their own place works)"""
    actor = ACTORS[name]
    caller = Caller(seeded, actor)
    wrong = []
    for rule in tenant_writes(seeded):
        write = WRITES[rule.endpoint]
        for code in actor.foreign:
            response = write.send(caller, code, write.number)
            if response.status_code != 404:
                wrong.append(f"{rule.rule} at {code} -> {response.status_code}, expected 404")
    assert not wrong, "\n".join(wrong)
    assert walk_windows(seeded) == []

    for rule in tenant_writes(seeded):  # the controls
        write = WRITES[rule.endpoint]
        own = actor.write_at or actor.own[0]
        response = write.send(caller, own, write.number)
        assert response.status_code == (write.success if actor.admin else 403), rule.rule
    expected = sorted((actor.write_at, w.number) for w in WRITES.values()) if actor.admin else []
    assert walk_windows(seeded) == expected


def test_a_body_naming_a_foreign_place_writes_at_the_url_place_only(seeded):
    """If a county admin's JSON names another county's code, does the window still land at the URL's place?"""
    caller = Caller(seeded, ACTORS["county_admin_A"])
    response = caller.api.post(f"/api/v1/tenants/{A}/windows", headers=caller.token,
                               json={"number": "W3", "name": WALK_WINDOW, "kind": "comprehensive",
                                     "tenant_code": LICHENG})
    assert response.status_code == 201
    assert response.get_json()["tenant_code"] == A
    assert walk_windows(seeded) == [(A, "W3")]


# --- 4b. cases: writes aimed at foreign cases and foreign places -------------------------------------

# Bodies that would succeed if the scope let them through (so a leak shows as a change, not a 400).
# Other case writes are sent empty: a foreign case must be 404 before the body is read.
CASE_WRITE_BODIES: dict[str, dict[str, Any]] = {
    "cases_api.transition": {"action": "withdraw", "reason": "走查"},
    "cases_api.review": {"approve": True, "opinion": "走查"},
    "cases.withdraw": {"reason": "走查"},
    "cases.review": {"decision": "approve", "opinion": "走查"},
}


def send_case_write(caller: Caller, rule: Rule, url: str) -> Any:
    body = CASE_WRITE_BODIES.get(rule.endpoint, {})
    if is_api(rule):
        return caller.api.post(url, headers=caller.token, json=body)
    return post_form(caller.browser, url, body)


def cases_as_stored(app: Flask) -> list[tuple[object, ...]]:
    """Every case with its state, version, tasks, pauses, materials and number of audit events."""
    session = system_session_of(app)
    try:
        rows = []
        for case in session.scalars(select(Case).order_by(Case.number)):
            events = session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.subject_ref == case.number))
            rows.append((case.number, case.state, case.version, [(t.department_code, t.state) for t in case.tasks],
                         len(case.pauses), [m.status for m in case.materials], events))
        return rows
    finally:
        session.close()


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_foreign_cases_cannot_be_acted_on(seeded, name):
    """Can a clerk of town A / a county admin / a city admin run any case action (UI form or API transition,
    review …) on a case of a place outside their grants? (404, every case unchanged; the same routes on their
    own cases answer something else than 404)"""
    actor, caller, cases = ACTORS[name], Caller(seeded, ACTORS[name]), case_arguments(seeded)
    before = cases_as_stored(seeded)
    wrong = []
    for rule in case_writes(seeded):
        for code in places_for(rule, actor.foreign, cases):
            response = send_case_write(caller, rule, url_of(rule, code, cases))
            if response.status_code != 404:
                wrong.append(f"{url_of(rule, code, cases)} -> {response.status_code}, expected 404")
    assert not wrong, "\n".join(wrong)
    assert cases_as_stored(seeded) == before

    for rule in case_writes(seeded):  # the controls: the case is found (then refused or done)
        for code in places_for(rule, actor.own, cases):
            response = send_case_write(caller, rule, url_of(rule, code, cases))
            assert response.status_code != 404, url_of(rule, code, cases)


def _api_case(caller: Caller, code: str) -> Any:
    return caller.api.post("/api/v1/cases", headers=caller.token, json={
        "place": code, "basic_code": HOUSING, "materials": {"1": "paper", "2": "paper"},
        "applicant": {"kind": "person", "name": "走查", "id_number": "11010519491231002X", "contact_name": "走查",
                      "contact_phone": "13800000000"}})


def _ui_case(caller: Caller, code: str) -> Any:
    return post_form(caller.browser, f"/cases/new?place={code}", {
        "item": HOUSING, "applicant_kind": "person", "applicant_name": "走查",
        "applicant_id_number": "11010519491231002X", "contact_name": "走查", "contact_phone": "13800000000",
        "window_number": "1", "material_1": "paper", "material_2": "paper"})


@dataclass(frozen=True)
class Create:
    send: Callable[[Caller, str], Any]
    success: int


# Writes that take their place from the body or the query string: opening a case at the front desk.
CREATES = {"cases_api.create_case": Create(_api_case, 201), "cases.new": Create(_ui_case, 302)}


def stored_cases(app: Flask) -> tuple[list[str], int]:
    session = system_session_of(app)
    try:
        counters = session.scalar(select(func.sum(CaseCounter.last))) or 0
        return list(session.scalars(select(Case.number).order_by(Case.number))), counters
    finally:
        session.close()


@pytest.mark.parametrize("name", ACTOR_IDS)
def test_foreign_places_cannot_receive_cases(seeded, name):
    """Can a clerk of town A / a county admin / a city admin open a case (UI front desk or API) at a place
    outside their grants? (404, no case and no case number used; the clerk can at A, admins get 403 at theirs)"""
    actor, caller = ACTORS[name], Caller(seeded, ACTORS[name])
    before = stored_cases(seeded)
    wrong = []
    for endpoint, create in CREATES.items():
        for code in actor.foreign:
            if (status := create.send(caller, code).status_code) != 404:
                wrong.append(f"{endpoint} at {code} -> {status}, expected 404")
    assert not wrong, "\n".join(wrong)
    assert stored_cases(seeded) == before

    for endpoint, create in CREATES.items():  # the controls
        own = actor.write_at or actor.own[0]
        response = create.send(caller, own)
        assert response.status_code == (403 if actor.admin else create.success), endpoint
    numbers, _counters = stored_cases(seeded)
    assert len(numbers) == len(before[0]) + (0 if actor.admin else len(CREATES))


# --- 5. onboarding (city admins only) -----------------------------------------------------------------

SHANGHE = "370126000000"  # 商河县: taken off the node for the onboarding tests


def take_county_off(app: Flask, county: str) -> None:
    session = system_session_of(app)
    try:
        low, high = subtree_range(county)
        staff_ids = select(Staff.id).where(Staff.tenant_code.between(low, high))
        session.execute(delete(RoleGrant).where(RoleGrant.staff_id.in_(staff_ids)))
        for model in (RoleGrant, Staff, Window, TenantItem):
            session.execute(delete(model).where(model.tenant_code.between(low, high)))
        session.execute(delete(Tenant).where(Tenant.code.between(low, high)))
        session.commit()
    finally:
        session.close()


def tenant_count(app: Flask, county: str) -> int:
    session = system_session_of(app)
    try:
        low, high = subtree_range(county)
        return session.scalar(select(func.count()).select_from(Tenant).where(Tenant.code.between(low, high))) or 0
    finally:
        session.close()


@pytest.mark.parametrize("name", ["town_clerk_A", "county_admin_A"])
def test_only_city_admins_onboard_counties(app, name):
    """Can a town clerk or a county admin open onboarding or onboard a county? (403, nothing written;
    the city admin can)"""
    take_county_off(app, SHANGHE)
    caller = Caller(app, ACTORS[name])
    assert caller.browser.get("/onboard").status_code == 403
    for url in ("/onboard/preview", "/onboard/apply"):
        assert post_form(caller.browser, url, {"county_code": SHANGHE}).status_code == 403
    assert tenant_count(app, SHANGHE) == 0

    city = Caller(app, ACTORS["city_admin"])
    assert city.browser.get("/onboard").status_code == 200
    preview = post_form(city.browser, "/onboard/preview", {"county_code": SHANGHE}, page="/onboard")
    assert preview.status_code == 200 and "商河县" in preview.get_data(as_text=True)
    assert post_form(city.browser, "/onboard/apply", {"county_code": SHANGHE}, page="/onboard").status_code == 302
    assert tenant_count(app, SHANGHE) > 1


def test_city_admin_cannot_onboard_a_county_of_another_city(seeded):
    """Can the city admin onboard 市北区 of 青岛 onto the Jinan node? (refused with 400, nothing written)"""
    caller = Caller(seeded, ACTORS["city_admin"])
    before = tenant_count(seeded, "370203000000")
    response = post_form(caller.browser, "/onboard/apply", {"county_code": "370203000000"}, page="/onboard")
    assert response.status_code == 400
    assert tenant_count(seeded, "370203000000") == before == 0


@pytest.mark.parametrize(("name", "status"), [("town_clerk_A", 404), ("county_admin_A", 404), ("city_admin", 200)])
def test_only_root_admins_see_the_nodes_sync_state(walk_app, callers, name, status):
    """Can a town clerk or a county admin open the node's upward-sync page (backlog, errors)? (404: the node's
    root is out of their sight; the city admin can)"""
    response = callers[name].browser.get("/sync")
    assert response.status_code == status
    assert ("数据上报状态" in response.get_data(as_text=True)) == (status == 200)


def test_root_staff_without_an_admin_role_get_403_on_sync(walk_app):
    """Can the city's auditor, who sees the whole city but administers nothing, open the sync page? (403)"""
    auditor = bearer(walk_app, "jn_auditor")  # the demo sets no password for the auditor: a token is the way in
    assert walk_app.test_client().get("/sync", headers=auditor).status_code == 403


# --- 6. the public guide ------------------------------------------------------------------------------

DROPPED_AT_A = ("210090003000", "房屋租赁登记备案")  # dropped by 解放路街道's file
SHORTER_AT_A = "070060002000"  # 居住证申领: 5 working days at 解放路街道, the default elsewhere


def test_place_guide_shows_only_that_places_items(walk_app):
    """Does town A's public guide list A's items only — not an item A dropped that its sibling offers?"""
    client = walk_app.test_client()
    own = client.get(f"/guide/{A}").get_data(as_text=True)
    sibling = client.get(f"/guide/{LIXIA_QIANFOSHAN}").get_data(as_text=True)
    assert "解放路街道" in own and "千佛山街道" not in own
    assert DROPPED_AT_A[1] not in own
    assert DROPPED_AT_A[1] in sibling and "千佛山街道" in sibling  # control
    assert f"/guide/{A}/items/" in own and f"/guide/{LIXIA_QIANFOSHAN}/" not in own


def test_item_guide_follows_the_place(walk_app):
    """Is an item A dropped 404 at A but shown at the sibling, and is A's own promise shown at A only?"""
    client = walk_app.test_client()
    assert client.get(f"/guide/{A}/items/{DROPPED_AT_A[0]}").status_code == 404
    assert client.get(f"/guide/{LIXIA_QIANFOSHAN}/items/{DROPPED_AT_A[0]}").status_code == 200
    session = system_session_of(walk_app)
    try:
        codes = dict(session.execute(
            select(TenantItem.tenant_code, TenantItem.implementation_code).join(Item)
            .where(Item.basic_code == SHORTER_AT_A, TenantItem.tenant_code.in_([A, LIXIA_QIANFOSHAN]))).all())
    finally:
        session.close()
    own = client.get(f"/guide/{A}/items/{SHORTER_AT_A}").get_data(as_text=True)
    sibling = client.get(f"/guide/{LIXIA_QIANFOSHAN}/items/{SHORTER_AT_A}").get_data(as_text=True)
    assert codes[A] in own and codes[LIXIA_QIANFOSHAN] not in own
    assert codes[LIXIA_QIANFOSHAN] in sibling and codes[A] not in sibling


def test_guide_is_the_same_for_a_signed_in_admin(walk_app, callers):
    """Does a signed-in city admin's wide scope leak other places into one place's public guide?"""
    text = callers["city_admin"].get(f"/guide/{A}").get_data(as_text=True)
    assert DROPPED_AT_A[1] not in text and "千佛山街道" not in text
    assert "解放路街道" in text


def test_guide_serves_only_places_of_this_node(walk_app):
    """Are places outside the node's subtree (a sibling city's rows in its database) kept off the guide?"""
    client = walk_app.test_client()
    for code in FOREIGN_CITY:
        assert client.get(f"/guide/{code}").status_code == 404, code
    index = client.get("/guide/").get_data(as_text=True)
    assert "青岛市" not in index and "香港中路街道" not in index
    assert "历城区" in index and "解放路街道" in index  # control


# --- 7. the ORM safety net, directly ------------------------------------------------------------------

def scoped(app: Flask, scope: Scope | None) -> Session:
    session = app.extensions["govhall.sessions"]()
    return set_scope(session, scope) if scope is not None else session


TOWN_A = Scope.of_places([(A, False)])
MODELS = [Window, TenantItem, Staff, RoleGrant, Tenant, Case, CaseMaterial, ReviewTask, AuditEvent]


@pytest.fixture
def town_session(seeded: Flask) -> Iterator[Session]:
    session = scoped(seeded, TOWN_A)
    yield session
    session.rollback()
    session.close()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_unfiltered_select_in_a_town_session_returns_only_that_town(seeded, town_session, model):
    """Does `select(Model)` without any where clause, in a session scoped to town A, return A's rows only?"""
    column = model.scope_column()
    codes = [getattr(row, model.scope_column_name) for row in town_session.scalars(select(model))]
    assert codes and set(codes) == {A}
    assert town_session.scalar(select(func.count()).select_from(model)) == len(codes)
    assert set(town_session.scalars(select(column).distinct())) == {A}
    system = scoped(seeded, Scope.system())
    try:
        assert len(set(system.scalars(select(column)))) > 1  # control: the table holds other places
    finally:
        system.close()


def test_joins_and_relationships_are_filtered_too(town_session):
    """Do joins and lazy-loaded relationships stay inside town A (the dual-role person's county grant)?"""
    dual = town_session.scalars(select(Staff).where(Staff.username == DUAL)).one()
    assert [(g.tenant_code, g.role) for g in dual.grants] == [(A, "clerk")]
    joined = town_session.execute(select(Staff.username, RoleGrant.tenant_code).join(RoleGrant)).all()
    assert joined and {code for _user, code in joined} == {A}


def ids_at(app: Flask, model: type, code: str) -> list[int]:
    session = scoped(app, Scope.system())
    try:
        return list(session.scalars(select(model.id).where(model.tenant_code == code)))
    finally:
        session.close()


def test_get_of_a_foreign_row_returns_none(seeded, town_session):
    """Does session.get of a row of another place return None in a town session (and own rows load)?"""
    for model, code in ((Window, LIXIA_QIANFOSHAN), (Window, LICHENG_SHANDALU), (Staff, LIXIA),
                        (TenantItem, SHINAN_TOWN), (Case, LIXIA_QIANFOSHAN), (ReviewTask, LICHENG_SHANDALU)):
        foreign_id = ids_at(seeded, model, code)[0]
        assert town_session.get(model, foreign_id) is None, (model.__name__, code)
    for tenant in (LIXIA_QIANFOSHAN, LIXIA, CITY, QINGDAO):
        assert town_session.get(Tenant, tenant) is None
    assert town_session.get(Tenant, A) is not None
    assert town_session.get(Window, ids_at(seeded, Window, A)[0]) is not None


def test_adding_a_foreign_row_is_refused_on_flush(town_session):
    """Does a town session refuse to insert a window at the sibling town, while its own insert flushes?"""
    town_session.add(Window(tenant_code=A, number="N1", name="本地新窗口", kind="comprehensive", categories=[]))
    town_session.flush()
    town_session.add(Window(tenant_code=LIXIA_QIANFOSHAN, number="N2", name="越界窗口", kind="comprehensive",
                            categories=[]))
    with pytest.raises(ScopeViolation, match=LIXIA_QIANFOSHAN):
        town_session.flush()


def test_changing_or_deleting_a_foreign_row_is_refused_on_flush(seeded):
    """If foreign rows reach a town session (read around the filter), is changing or deleting them refused?"""
    foreign_id = ids_at(seeded, Window, LIXIA_QIANFOSHAN)[0]
    for change in ("rename", "delete"):
        session = scoped(seeded, TOWN_A)
        try:
            window = session.get(Window, foreign_id, execution_options={SKIP_SCOPE: True})
            assert window is not None
            if change == "rename":
                window.name = "改名"
            else:
                session.delete(window)
            with pytest.raises(ScopeViolation):
                session.flush()
        finally:
            session.rollback()
            session.close()


def test_moving_an_own_row_to_a_foreign_place_is_refused(town_session):
    """Can a town session move its own window to the sibling town by changing the tenant code?"""
    window = town_session.scalars(select(Window)).first()
    window.name = "改名"
    town_session.flush()  # control: an own change is fine
    window.tenant_code = LIXIA_QIANFOSHAN
    with pytest.raises(ScopeViolation):
        town_session.flush()


def test_read_only_scope_refuses_even_own_writes(seeded):
    """Does the public (read-only) scope refuse a write at its own place?"""
    session = scoped(seeded, Scope.public(A))
    try:
        assert session.scalars(select(Window)).first() is not None
        session.add(Window(tenant_code=A, number="N3", name="只读", kind="comprehensive", categories=[]))
        with pytest.raises(ScopeViolation):
            session.flush()
    finally:
        session.rollback()
        session.close()


def test_session_without_scope_refuses_reads_and_writes(seeded):
    """Does a session nobody scoped refuse to read or write tenant rows at all, rather than see everything?"""
    session = scoped(seeded, None)
    try:
        with pytest.raises(ScopeMissing):
            session.scalars(select(Window)).all()
        with pytest.raises(ScopeMissing):
            session.get(Tenant, A)
        session.add(Window(tenant_code=A, number="N4", name="无范围", kind="comprehensive", categories=[]))
        with pytest.raises(ScopeMissing):
            session.flush()
    finally:
        session.rollback()
        session.close()
    with_scope = scoped(seeded, TOWN_A)  # control: the same reads with a scope work
    try:
        assert with_scope.scalars(select(Window)).first() is not None
    finally:
        with_scope.close()


def test_empty_scope_sees_nothing(seeded):
    """Does an anonymous request's empty scope read no tenant rows?"""
    session = scoped(seeded, Scope())
    try:
        for model in MODELS:
            assert session.scalars(select(model)).all() == [], model.__name__
    finally:
        session.close()


def test_bulk_update_and_delete_stay_inside_the_scope(seeded):
    """Can a town session rename every window or delete every case material in the database with one bulk
    statement?"""
    session = scoped(seeded, TOWN_A)
    try:
        session.execute(update(Window).values(name="批量改名"))
        session.execute(delete(CaseMaterial).where(CaseMaterial.position >= 0))
        session.commit()
    finally:
        session.close()
    system = scoped(seeded, Scope.system())
    try:
        renamed = set(system.scalars(select(Window.tenant_code).where(Window.name == "批量改名")))
        left = set(system.scalars(select(CaseMaterial.tenant_code)))
    finally:
        system.close()
    assert renamed == {A}
    assert LIXIA_QIANFOSHAN in left and A not in left

