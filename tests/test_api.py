"""/api/v1 and /healthz: shapes, paging, authentication, window creation, the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import create_app
from app.catalog.models import Item, TenantItem
from app.core.auth import ApiToken, find_staff
from app.core.db import utcnow
from app.core.tenancy import Scope, is_within, set_scope
from app.halls.models import Staff, Window
from app.tenants.models import Tenant
from app.version import release_version
from tests.conftest import (
    CITY,
    LICHENG,
    LIXIA,
    LIXIA_JIEFANGLU,
    LIXIA_QIANFOSHAN,
    bearer,
    make_settings,
)

TENANT_KEYS = {"code", "name", "level", "parent_code", "address", "phone", "opening_hours"}
WINDOW_KEYS = {"id", "tenant_code", "number", "name", "kind", "categories"}
ITEM_KEYS = {"implementation_code", "basic_code", "name", "name_en", "type", "department", "category", "kind",
             "statutory_limit", "promised_limit", "visits", "online_depth", "mail_allowed", "bookable", "fee",
             "result"}
STAFF_KEYS = {"username", "name", "tenant_code", "active", "roles"}
DROPPED_AT_A = "210090003000"  # 房屋租赁登记备案: dropped by 解放路街道's file
SHORTER_AT_A = "070060002000"  # 居住证申领: promised in 5 working days at 解放路街道 instead of 7


@pytest.fixture(scope="module")
def tokens(shared_app: Flask) -> dict[str, dict[str, str]]:
    return {name: bearer(shared_app, name) for name in ("jn_admin", "lx_admin", "lx_jfl_clerk")}


@pytest.fixture(scope="module")
def reader(shared_app: Flask) -> Iterator[Session]:
    """A system session on the shared (read-only) database, to compare answers with."""
    session = set_scope(shared_app.extensions["govhall.sessions"](), Scope.system())
    yield session
    session.close()


def get_json(app: Flask, url: str, headers: dict[str, str]) -> tuple[int, object]:
    response = app.test_client().get(url, headers=headers)
    return response.status_code, response.get_json()


def windows_at(session: Session, code: str) -> list[tuple[str, str]]:
    session.expire_all()
    query = select(Window.number, Window.name).where(Window.tenant_code == code).order_by(Window.number)
    return [tuple(row) for row in session.execute(query)]


# --- reading ------------------------------------------------------------------------------------------

def test_tenant_list_shape_and_default_page(shared_app, tokens, reader):
    """Does /api/v1/tenants list the caller's places in code order with every field, 100 at a time?"""
    status, body = get_json(shared_app, "/api/v1/tenants", tokens["jn_admin"])
    assert status == 200
    assert body["limit"] == 100 and body["offset"] == 0
    all_codes = list(reader.scalars(select(Tenant.code).order_by(Tenant.code)))
    assert len(all_codes) > 100  # so the default page is really a page
    assert [t["code"] for t in body["tenants"]] == all_codes[:100]
    assert all(set(t) == TENANT_KEYS for t in body["tenants"])
    city = body["tenants"][0]
    assert (city["code"], city["name"], city["level"]) == (CITY, "济南市", "city")


def test_tenant_list_pages_cover_the_list_without_overlap(shared_app, tokens, reader):
    """Do consecutive pages of a county admin's places join up into exactly their subtree?"""
    expected = [c for c in reader.scalars(select(Tenant.code).order_by(Tenant.code)) if is_within(c, LIXIA)]
    seen: list[str] = []
    offset = 0
    while True:
        status, body = get_json(shared_app, f"/api/v1/tenants?limit=4&offset={offset}", tokens["lx_admin"])
        assert status == 200
        assert (body["limit"], body["offset"]) == (4, offset)
        if not body["tenants"]:
            break
        assert len(body["tenants"]) <= 4
        seen += [t["code"] for t in body["tenants"]]
        offset += 4
    assert seen == expected
    assert len(expected) > 4


def test_oversized_limit_is_capped_and_echoed(shared_app, tokens):
    """Does asking for a million rows give the maximum page, and say so in `limit`?"""
    status, body = get_json(shared_app, "/api/v1/tenants?limit=999999", tokens["jn_admin"])
    assert status == 200
    assert body["limit"] == 500
    assert len(body["tenants"]) <= 500


@pytest.mark.parametrize(("query", "place"), [
    ("limit=0", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"), ("limit=1.5", "limit"), ("limit=", "limit"),
    ("limit=%EF%BC%93", "limit"),  # a full-width digit
    ("offset=-1", "offset"), ("offset=x", "offset"), ("offset=99999999999999999999", "offset"),
    ("limit=5&offset=-3", "offset"),
])
def test_bad_paging_is_400_naming_the_parameter(shared_app, tokens, query, place):
    """Is a bad limit or offset answered 400 with a message that names the parameter at fault?"""
    status, body = get_json(shared_app, f"/api/v1/tenants?{query}", tokens["jn_admin"])
    assert status == 400
    assert body["place"] == place
    assert place in body["error"]


def test_good_paging_edges_are_accepted(shared_app, tokens):
    """Are limit=1 and a large offset (an empty page) fine?"""
    status, body = get_json(shared_app, "/api/v1/tenants?limit=1&offset=0", tokens["jn_admin"])
    assert (status, len(body["tenants"])) == (200, 1)
    status, body = get_json(shared_app, "/api/v1/tenants?offset=999999999", tokens["jn_admin"])
    assert (status, body["tenants"]) == (200, [])


def test_one_tenant_with_counts(shared_app, tokens, reader):
    """Does /api/v1/tenants/<code> give the place with its item, window and staff counts?"""
    status, body = get_json(shared_app, f"/api/v1/tenants/{LIXIA_JIEFANGLU}", tokens["lx_admin"])
    assert status == 200
    assert set(body) == TENANT_KEYS | {"counts"}
    assert (body["name"], body["level"], body["parent_code"]) == ("解放路街道", "town", LIXIA)
    for key, model in (("items", TenantItem), ("windows", Window), ("staff", Staff)):
        count = reader.scalar(select(func.count()).select_from(model).where(model.tenant_code == LIXIA_JIEFANGLU))
        assert body["counts"][key] == count, key
    assert body["counts"]["staff"] >= 1 and body["counts"]["windows"] >= 1


def test_children(shared_app, tokens, reader):
    """Does /children list exactly the places directly below, each with counts?"""
    status, body = get_json(shared_app, f"/api/v1/tenants/{LIXIA}/children", tokens["lx_admin"])
    assert status == 200
    expected = list(reader.scalars(select(Tenant.code).where(Tenant.parent_code == LIXIA).order_by(Tenant.code)))
    assert [c["code"] for c in body["children"]] == expected
    assert LIXIA_JIEFANGLU in expected and LIXIA_QIANFOSHAN in expected
    assert all(set(c) == TENANT_KEYS | {"counts"} for c in body["children"])
    status, body = get_json(shared_app, f"/api/v1/tenants/{LIXIA_JIEFANGLU}/children", tokens["lx_admin"])
    assert (status, body) == (200, {"children": []})


def test_items_follow_the_place_file(shared_app, tokens, reader):
    """Does a town's implementation list reflect its file: an item dropped, a promise shortened?"""
    status, body = get_json(shared_app, f"/api/v1/tenants/{LIXIA_JIEFANGLU}/items", tokens["lx_admin"])
    assert status == 200
    items = {i["basic_code"]: i for i in body["items"]}
    count = reader.scalar(select(func.count()).select_from(TenantItem).where(TenantItem.tenant_code == LIXIA_JIEFANGLU))
    assert len(items) == count > 0
    assert all(set(i) == ITEM_KEYS for i in body["items"])
    assert DROPPED_AT_A not in items
    assert items[SHORTER_AT_A]["promised_limit"]["days"] == 5

    status, body = get_json(shared_app, f"/api/v1/tenants/{LIXIA_QIANFOSHAN}/items", tokens["lx_admin"])
    sibling = {i["basic_code"]: i for i in body["items"]}
    assert DROPPED_AT_A in sibling  # control: the sibling town keeps the level default
    default_days = reader.scalar(select(Item.promised_days).where(Item.basic_code == SHORTER_AT_A))
    assert sibling[SHORTER_AT_A]["promised_limit"]["days"] == default_days != 5


def test_windows_and_staff(shared_app, tokens, reader):
    """Do /windows and /staff list the place's windows and people with their roles?"""
    status, body = get_json(shared_app, f"/api/v1/tenants/{LIXIA}/windows", tokens["lx_admin"])
    assert status == 200
    assert all(set(w) == WINDOW_KEYS for w in body["windows"])
    assert [(w["number"], w["name"]) for w in body["windows"]] == windows_at(reader, LIXIA)
    assert ("5", "不动产登记专窗") in [(w["number"], w["name"]) for w in body["windows"]]

    status, body = get_json(shared_app, f"/api/v1/tenants/{LIXIA_JIEFANGLU}/staff", tokens["lx_admin"])
    assert status == 200
    assert all(set(s) == STAFF_KEYS for s in body["staff"])
    clerk = next(s for s in body["staff"] if s["username"] == "lx_jfl_clerk")
    assert clerk["tenant_code"] == LIXIA_JIEFANGLU
    assert sorted(r["role"] for r in clerk["roles"]) == ["clerk", "issuer"]
    assert "password_hash" not in clerk


@pytest.mark.parametrize("code", ["37010200100", "3701020010000", "abc", "999999999999"])
def test_malformed_or_unknown_codes_are_404_json(shared_app, tokens, code):
    """Is a code that is malformed or unknown a JSON 404 rather than an error page or a 500?"""
    for suffix in ("", "/children", "/items", "/windows", "/staff"):
        response = shared_app.test_client().get(f"/api/v1/tenants/{code}{suffix}", headers=tokens["jn_admin"])
        assert response.status_code == 404, suffix
        assert response.is_json and "error" in response.get_json()


def test_unknown_api_path_is_json_404(shared_app, tokens):
    """Does an unknown /api/ path answer JSON, not the HTML error page?"""
    response = shared_app.test_client().get("/api/v1/nothing-here", headers=tokens["jn_admin"])
    assert response.status_code == 404
    assert response.is_json


# --- authentication -----------------------------------------------------------------------------------

API_GETS = ["/api/v1/tenants", f"/api/v1/tenants/{LIXIA}", f"/api/v1/tenants/{LIXIA}/children",
            f"/api/v1/tenants/{LIXIA}/items", f"/api/v1/tenants/{LIXIA}/windows", f"/api/v1/tenants/{LIXIA}/staff"]


@pytest.mark.parametrize("url", API_GETS)
def test_no_token_is_401_with_a_bearer_challenge(shared_app, tokens, url):
    """Without a token, is every API read 401 with a WWW-Authenticate Bearer challenge, and with one 200?"""
    client = shared_app.test_client()
    response = client.get(url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="govhall"'
    assert response.get_json() == {"error": "a bearer token is required"}
    assert client.get(url, headers=tokens["lx_admin"]).status_code == 200


@pytest.mark.parametrize("header", ["Bearer ghk_not-a-real-token", "Bearer ", "Bearer ghk_" + "A" * 43])
def test_bad_token_is_401_invalid_token(shared_app, header):
    """Is a made-up bearer token refused with 401 and error="invalid_token"?"""
    response = shared_app.test_client().get("/api/v1/tenants", headers={"Authorization": header})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("header", ["Basic bHhfYWRtaW46Z292aGFsbC1kZW1vLTIwMjY=", "bearer {token}", "{token}"])
def test_other_authorization_schemes_are_401(shared_app, tokens, header):
    """Is a password sent as Basic auth, or a token without the exact "Bearer " scheme, refused?"""
    token = tokens["lx_admin"]["Authorization"].removeprefix("Bearer ")
    response = shared_app.test_client().get("/api/v1/tenants", headers={"Authorization": header.format(token=token)})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_refused(app, system_session):
    """Once a token's expiry has passed, is it refused although it was good a moment before?"""
    headers = bearer(app, "lx_admin")
    client = app.test_client()
    assert client.get("/api/v1/tenants", headers=headers).status_code == 200
    staff = find_staff(system_session, "lx_admin")
    system_session.execute(update(ApiToken).where(ApiToken.staff_id == staff.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    system_session.commit()
    response = client.get("/api/v1/tenants", headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_token_of_deactivated_staff_is_refused(app, system_session):
    """When a staff member is deactivated, does their unexpired token stop working?"""
    headers = bearer(app, "lc_admin")
    client = app.test_client()
    assert client.get("/api/v1/tenants", headers=headers).status_code == 200
    find_staff(system_session, "lc_admin").active = False
    system_session.commit()
    assert client.get("/api/v1/tenants", headers=headers).status_code == 401


def test_tokens_are_stored_only_as_digests(app, system_session):
    """Is the plain token kept out of the database?"""
    token = bearer(app, "lx_admin")["Authorization"].removeprefix("Bearer ")
    stored = list(system_session.scalars(select(ApiToken.token_hash)))
    assert stored and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in stored)
    assert token not in stored


# --- creating windows ---------------------------------------------------------------------------------

GOOD_WINDOW = {"number": "7", "name": "公积金专窗", "kind": "dedicated", "categories": ["social_security"]}


def test_admin_creates_a_window(app, system_session):
    """Can a county admin add a window at a town of theirs, and is it stored as answered?"""
    response = app.test_client().post(f"/api/v1/tenants/{LIXIA_JIEFANGLU}/windows", json=GOOD_WINDOW,
                                      headers=bearer(app, "lx_admin"))
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == WINDOW_KEYS
    assert {k: body[k] for k in GOOD_WINDOW} == GOOD_WINDOW
    assert body["tenant_code"] == LIXIA_JIEFANGLU
    stored = system_session.get(Window, body["id"])
    assert (stored.tenant_code, stored.number, stored.name, stored.categories) == (
        LIXIA_JIEFANGLU, "7", "公积金专窗", ["social_security"])


@pytest.mark.parametrize(("body", "place"), [
    ({k: v for k, v in GOOD_WINDOW.items() if k != "number"}, "number"),
    ({k: v for k, v in GOOD_WINDOW.items() if k != "name"}, "name"),
    ({k: v for k, v in GOOD_WINDOW.items() if k != "kind"}, "kind"),
    ({**GOOD_WINDOW, "name": "   "}, "name"),
    ({**GOOD_WINDOW, "number": 7}, "number"),
    ({**GOOD_WINDOW, "number": "7 and more"}, "number"),
    ({**GOOD_WINDOW, "number": "12345678901"}, "number"),
    ({**GOOD_WINDOW, "name": "窗" * 101}, "name"),
    ({**GOOD_WINDOW, "kind": "vip"}, "kind"),
    ({**GOOD_WINDOW, "categories": ["no_such_category"]}, "categories"),
    ({**GOOD_WINDOW, "categories": "social_security"}, "categories"),
    ({**GOOD_WINDOW, "categories": [1]}, "categories"),
    ({**GOOD_WINDOW, "number": "1"}, "number"),  # 综合受理窗口 is number 1 at every town already
    (["not", "an", "object"], "body"),
])
def test_bad_window_is_400_naming_the_field_and_writes_nothing(app, system_session, body, place):
    """Is a window with a missing or invalid field, or a taken number, refused with 400 naming the field?"""
    before = windows_at(system_session, LIXIA_JIEFANGLU)
    response = app.test_client().post(f"/api/v1/tenants/{LIXIA_JIEFANGLU}/windows", json=body,
                                      headers=bearer(app, "lx_admin"))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["place"] == place
    assert windows_at(system_session, LIXIA_JIEFANGLU) == before


def test_non_json_body_is_400(app, system_session):
    """Is a form-encoded or empty body refused as not being a JSON object?"""
    client, headers = app.test_client(), bearer(app, "lx_admin")
    before = windows_at(system_session, LIXIA_JIEFANGLU)
    for kwargs in ({"data": GOOD_WINDOW}, {"data": "{not json", "content_type": "application/json"}, {}):
        response = client.post(f"/api/v1/tenants/{LIXIA_JIEFANGLU}/windows", headers=headers, **kwargs)
        assert response.status_code == 400
        assert response.get_json()["place"] == "body"
    assert windows_at(system_session, LIXIA_JIEFANGLU) == before


@pytest.mark.parametrize(("username", "code"), [("lx_jfl_clerk", LIXIA_JIEFANGLU), ("jn_clerk", CITY),
                                                ("jn_auditor", LIXIA), ("lx_reviewer_scjg", LIXIA)])
def test_staff_without_an_admin_role_cannot_create_windows(app, system_session, username, code):
    """Can a clerk, auditor or reviewer add a window at a place they see? (403, nothing written)"""
    before = windows_at(system_session, code)
    client = app.test_client()
    headers = bearer(app, username)
    assert client.get(f"/api/v1/tenants/{code}/windows", headers=headers).status_code == 200  # they do see it
    response = client.post(f"/api/v1/tenants/{code}/windows", json=GOOD_WINDOW, headers=headers)
    assert response.status_code == 403
    assert windows_at(system_session, code) == before


def test_county_admin_of_another_county_gets_404_not_403(app, system_session):
    """Does an admin of 历城区 posting to 历下区 learn nothing (404), and is nothing written?"""
    before = windows_at(system_session, LIXIA)
    response = app.test_client().post(f"/api/v1/tenants/{LIXIA}/windows", json=GOOD_WINDOW,
                                      headers=bearer(app, "lc_admin"))
    assert response.status_code == 404
    assert windows_at(system_session, LIXIA) == before
    own = app.test_client().post(f"/api/v1/tenants/{LICHENG}/windows", json=GOOD_WINDOW,
                                 headers=bearer(app, "lc_admin"))
    assert own.status_code == 201


# --- the OpenAPI document -----------------------------------------------------------------------------

def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_openapi_lists_every_api_route_and_method(shared_app):
    """Does the OpenAPI document describe exactly the /api/v1 routes of the URL map, with every method?"""
    response = shared_app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["version"] == release_version()
    routes: dict[str, set[str]] = {}
    for rule in shared_app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            routes.setdefault(openapi_path(rule.rule), set()).update(
                m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: set(ops) for path, ops in document["paths"].items()}
    assert documented == routes
    assert len(routes) >= 7


def test_openapi_operations_declare_their_parameters_and_errors(shared_app):
    """Does every operation declare its path parameters, and every secured one its 401?"""
    document = shared_app.test_client().get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, f"{method} {path}"
            if operation.get("security") != []:
                assert "401" in operation["responses"], f"{method} {path}"
            if names:
                assert "404" in operation["responses"], f"{method} {path}"
    assert document["paths"]["/api/v1/tenants"]["get"]["responses"]["400"]


def test_openapi_needs_no_token(shared_app):
    """Can a client fetch the API description before it has a token?"""
    assert shared_app.test_client().get("/api/v1/openapi.json").status_code == 200


# --- /healthz -----------------------------------------------------------------------------------------

def test_healthz_reports_a_migrated_database(shared_app):
    """Does /healthz answer 200 with status, database, version, root tenant and node id, without a token?"""
    response = shared_app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["migration"]
    assert body["version"] == release_version()
    assert body["root_tenant"] == CITY
    assert body["node_id"] == f"node-{CITY}"


def test_healthz_reports_an_unmigrated_database(blank_url):
    """On an empty database, does /healthz say degraded (503) and why, so a balancer takes the node out?"""
    app = create_app(make_settings(blank_url, node_id="lx-node"))
    try:
        response = app.test_client().get("/healthz")
    finally:
        app.extensions["govhall.engine"].dispose()
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["database"], body["migration"]) == ("degraded", "not migrated", None)
    assert body["node_id"] == "lx-node"
