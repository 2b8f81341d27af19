"""The OpenAPI 3.1 document of /api/v1. A test checks it lists every API route."""

from __future__ import annotations

from typing import Any

CODE = {"name": "code", "in": "path", "required": True, "description": "12-digit division code",
        "schema": {"type": "string", "pattern": "^[0-9]{12}$"}}
ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "place": {"type": "string"}},
         "required": ["error"]}
TENANT = {"type": "object", "properties": {
    "code": {"type": "string"}, "name": {"type": "string"},
    "level": {"enum": ["province", "city", "county", "town", "village"]},
    "parent_code": {"type": ["string", "null"]}, "address": {"type": "string"}, "phone": {"type": "string"},
    "opening_hours": {"type": "object"},
    "counts": {"type": "object", "properties": {k: {"type": "integer"} for k in ("items", "windows", "staff")}},
}, "required": ["code", "name", "level"]}
WINDOW = {"type": "object", "properties": {
    "id": {"type": "integer"}, "tenant_code": {"type": "string"}, "number": {"type": "string"},
    "name": {"type": "string"}, "kind": {"enum": ["comprehensive", "issuance", "dedicated"]},
    "categories": {"type": "array", "items": {"type": "string"}},
}, "required": ["number", "name", "kind"]}
ITEM = {"type": "object", "properties": {
    "implementation_code": {"type": "string"}, "basic_code": {"type": "string"}, "name": {"type": "string"},
    "type": {"type": "string"}, "department": {"type": "string"}, "category": {"type": "string"},
    "kind": {"enum": ["promised", "immediate"]}, "promised_limit": {"type": "object"},
    "statutory_limit": {"type": "object"}, "visits": {"type": "integer"}, "online_depth": {"type": "integer"},
}}
STAFF = {"type": "object", "properties": {
    "username": {"type": "string"}, "name": {"type": "string"}, "tenant_code": {"type": "string"},
    "roles": {"type": "array", "items": {"type": "object"}},
}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list_of(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {key: {"type": "array", "items": schema}}}


UNAUTHORIZED = _json(ERROR, "No bearer token, or an invalid or expired one (with a WWW-Authenticate challenge)")


def _get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses = {"200": _json(schema, "OK"), "401": UNAUTHORIZED}
    if any(p["in"] == "path" for p in params or []):
        responses["404"] = _json(ERROR, "Not found or outside your places")
    if any(p["in"] == "query" for p in params or []):
        responses["400"] = _json(ERROR, "Invalid paging; `place` names the parameter")
    return {"get": {"summary": summary, "parameters": params or [], "responses": responses}}


def openapi_document(version: str) -> dict[str, Any]:
    paging = [{"name": n, "in": "query", "schema": {"type": "integer"}} for n in ("limit", "offset")]
    windows = _get("Windows of a place", _list_of("windows", WINDOW), [CODE])
    windows["post"] = {
        "summary": "Add a window (city or county admin of the place)", "parameters": [CODE],
        "requestBody": {"required": True, "content": {"application/json": {"schema": WINDOW}}},
        "responses": {"201": _json(WINDOW, "Created"), "400": _json(ERROR, "Invalid input; `place` names the field"),
                      "401": UNAUTHORIZED, "403": _json(ERROR, "Role does not allow this"),
                      "404": _json(ERROR, "Not found or outside your places")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "GovHall API", "version": version,
                 "description": "Scoped to the places the token's staff member holds roles at."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/tenants": _get("Places you can see", _list_of("tenants", TENANT), paging),
            "/api/v1/tenants/{code}": _get("One place with counts", TENANT, [CODE]),
            "/api/v1/tenants/{code}/children": _get("Places directly below", _list_of("children", TENANT), [CODE]),
            "/api/v1/tenants/{code}/items": _get("Implementation list (实施清单)", _list_of("items", ITEM), [CODE]),
            "/api/v1/tenants/{code}/windows": windows,
            "/api/v1/tenants/{code}/staff": _get("Staff of a place", _list_of("staff", STAFF), [CODE]),
            "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                             "responses": {"200": {"description": "OK"}}}},
        },
    }
