"""Do pages cost a fixed number of queries, however many places or items they show (no N+1)?"""

from __future__ import annotations

import datetime as dt
import re

from app.cases import deadlines
from tests.conftest import LIXIA, LIXIA_JIEFANGLU, QueryCounter, bearer, login

FRIDAY = dt.date(2026, 11, 27)


def queries_for(app, client, path: str, **kwargs) -> int:
    client.get(path, **kwargs)  # warm-up: first use compiles and caches statements
    with QueryCounter(app) as counter:
        response = client.get(path, **kwargs)
    assert response.status_code == 200, path
    return counter.count


def test_tree_costs_the_same_for_a_county_and_the_whole_city(app):
    """Does the tree page of the city admin (178 places) run as many queries as a county admin's (~12)?"""
    city, county = app.test_client(), app.test_client()
    login(city, "jn_admin")
    login(county, "lx_admin")
    city_queries = queries_for(app, city, "/tree")
    assert city_queries == queries_for(app, county, "/tree")
    assert city_queries <= 6  # staff, grants, places, 3 grouped counts


def test_items_api_costs_the_same_for_a_town_and_a_county(app):
    """Does the items API run a fixed number of queries whatever the length of the list?"""
    client = app.test_client()
    headers = bearer(app, "lx_admin")
    town = queries_for(app, client, f"/api/v1/tenants/{LIXIA_JIEFANGLU}/items", headers=headers)
    county = queries_for(app, client, f"/api/v1/tenants/{LIXIA}/items", headers=headers)
    assert town == county <= 5  # token, staff, grants, place, items joined with their catalogue rows


def test_place_page_with_staff_and_grants_is_bounded(app):
    """Does the county page with its staff, their roles, children and items stay within a fixed budget?"""
    client = app.test_client()
    login(client, "lx_admin")
    assert queries_for(app, client, f"/places/{LIXIA}") <= 13


ACCEPTANCE = {
    "place": LIXIA_JIEFANGLU, "basic_code": "050090004000",  # housing: 4 materials, ZJ and MZ review
    "applicant": {"kind": "person", "name": "张三", "id_number": "11010519491231002X", "contact_name": "张三",
                  "contact_phone": "13800000000"},
    "materials": {"1": "paper", "2": "electronic", "3": "paper", "4": "paper"},
}


def test_accepting_a_case_costs_a_fixed_number_of_statements(app, monkeypatch):
    """Does POST /api/v1/cases stay within its budget once warm (scripts/bench measures it under load)?
    The token's principal (no cache in tests: token, staff, grants), the item with its checklist, the
    calendar's version (not its days), the number, the case, all its materials in one INSERT and its
    review tasks in another, the upward outbox (PostgreSQL: one statement bumps the case's sequence and
    writes the event and its payload; SQLite: 3) and the audit chain: on PostgreSQL the head locked and
    read, then the event written with the head moved (2); SQLite adds the head's INSERT that takes the
    write lock and a separate head UPDATE (4). No second look at the item."""
    monkeypatch.setattr(deadlines, "china_today", lambda: FRIDAY)
    client, headers = app.test_client(), bearer(app, "lx_jfl_clerk")
    assert client.post("/api/v1/cases", json=ACCEPTANCE, headers=headers).status_code == 201  # warm-up
    with QueryCounter(app) as counter:
        response = client.post("/api/v1/cases", json=ACCEPTANCE, headers=headers)
    assert response.status_code == 201 and response.get_json()["item"]["basic_code"] == "050090004000"
    statements = [s.lstrip().split("\n")[0] for s in counter.statements]
    assert sum("INTO case_materials" in s for s in statements) == 1
    assert sum("INTO review_tasks" in s for s in statements) == 1
    assert not any("calendar_days" in s for s in statements)  # the calendar is cached per process
    reads_items = [s for s in counter.statements if re.search(r"\b(FROM|JOIN) items\b", s)]
    assert len(reads_items) == 1  # the item, its checklist and the place's promise, at once
    audit = [s for s in counter.statements if "audit_" in s]
    postgres = app.extensions["govhall.engine"].dialect.name == "postgresql"
    assert len(audit) == (2 if postgres else 4), audit
    outbox = [s for s in statements if "INTO sync_" in s or "WITH head AS" in s]
    assert len(outbox) == (1 if postgres else 3), outbox
    assert counter.count <= 8 + len(outbox) + len(audit), "\n".join(statements)  # 21 before on SQLite


def test_the_city_admins_worklist_costs_as_much_as_a_towns(app):
    """Does the worklist page of the city admin (every place of the city in its place filter, every item
    offered in the city in its item filter) run as many statements as a town clerk's?"""
    city, town = app.test_client(), app.test_client()
    login(city, "jn_admin")
    login(town, "lx_jfl_clerk")
    city_queries = queries_for(app, city, "/cases")
    assert city_queries == queries_for(app, town, "/cases")
    assert city_queries <= 5  # staff, grants, calendar version, the rows with their count, the choices' version
