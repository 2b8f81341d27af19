"""The OpenAPI 3.1 document of /api/v1. A test checks it lists every API route."""

from __future__ import annotations

from typing import Any

from app.cases.serializers import CASE_VERBS
from app.cases.states import CaseState

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


# --- cases (办件) ---------------------------------------------------------------------------------------

NUMBER = {"name": "number", "in": "path", "required": True, "description": "26-digit case number (办件编号)",
          "schema": {"type": "string", "pattern": "^[0-9]{26}$"}}
DEPARTMENT = {"name": "department", "in": "path", "required": True, "description": "department code, e.g. ZJ",
              "schema": {"type": "string"}}
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                   "description": "1–100 visible ASCII characters, e.g. a UUID. A retry with the same key and body "
                                  "answers 201 with the first request's case (header Idempotent-Replayed: true); "
                                  "the same key with another body is 422. Keys are per staff member."}
DAY = {"type": ["string", "null"], "format": "date"}
MOMENT = {"type": ["string", "null"], "format": "date-time"}
STRING = {"type": "string"}


def _strings(*names: str) -> dict[str, Any]:
    return dict.fromkeys(names, STRING)


CASE_STATES = [state.value for state in CaseState]
ACTIONS = list(CASE_VERBS)
MATERIAL_STATUS = {"enum": ["paper", "electronic", "missing", "deferred"]}
CASE_ROW: dict[str, Any] = {"type": "object", "properties": {
    "number": STRING, "place": STRING, "version": {"type": "integer"}, "state": {"enum": CASE_STATES},
    "state_title": STRING, "channel": {"enum": ["window", "online"]},
    "item": {"type": "object", "properties": _strings("basic_code", "name", "implementation_code")},
    "applicant": {"type": "object", "description": "id_number masked (370102********123X)",
                  "properties": _strings("kind", "name", "id_number")},
    "accepted_on": DAY, "due_date": DAY, "statutory_due_date": DAY,
    "calendar_missing": {"type": "string", "description": "years without a working-day calendar; due_date is "
                                                          "null until `govhall cases reschedule`"},
    "result_code": {"type": "string", "description": "0 出证办结, 1 退回, 5 补正不来, 6 准予许可, 7 不予许可"},
    "updated_at": MOMENT,
}}
CASE = {"type": "object", "properties": {
    **CASE_ROW["properties"],
    "applicant": {"type": "object", "description": "ID numbers in full only for the clerks and issuers of the "
                                                   "case's place and reviewers of its departments; masked for "
                                                   "everybody else (id_number_masked)",
                  "properties": {**_strings("kind", "name", "id_type", "id_number", "contact_name",
                                                       "contact_phone", "agent_name", "agent_id_number"),
                                 "id_number_masked": {"type": "boolean"}}},
    "window_number": STRING, "accepted_at": MOMENT, "accepted_by": STRING,
    "promised_limit": {"type": "object"}, "statutory_limit": {"type": "object"}, "paused_days": {"type": "integer"},
    "materials": {"type": "array", "items": {"type": "object", "properties": {
        "position": {"type": "integer"}, "name": STRING, "necessity": {"enum": ["required", "optional", "deferrable"]},
        "status": MATERIAL_STATUS, "due_on": DAY}}},
    "missing": {"type": "array", "items": STRING, "description": "required materials still missing (the "
                                                                 "one-time correction notice, 一次性告知)"},
    "tasks": {"type": "array", "items": {"type": "object", "properties": {
        "department": STRING, "state": {"enum": ["pending", "approved", "refused", "withdrawn"]}, "opinion": STRING,
        "reviewer": STRING, "decided_at": MOMENT, "can_review": {"type": "boolean"}}}},
    "pauses": {"type": "array", "items": {"type": "object", "properties": {
        "kind": {"enum": ["special", "correction"]}, "procedure": STRING, "reason": STRING, "started_on": DAY,
        "ended_on": DAY, "working_days": {"type": "integer"}, "result": STRING}}},
    "result": {"type": "object", "properties": {
        "title": {"type": "string", "description": "of result_code"}, "decided_at": MOMENT, "refusal_reason": STRING,
        "issued_at": MOMENT, "issued_by": STRING, "delivery": {"enum": ["", "collect", "mail"]},
        "collected_by": STRING, "tracking_number": STRING}},
    "evaluation": {"type": "object", "properties": {"satisfaction": {"type": ["integer", "null"]},
                                                    "refused": {"type": "boolean"}}},
    "actions": {"type": "array", "items": {"enum": ACTIONS}, "description": "transitions you may make now"},
}}
CASE_LIST = {"type": "object", "properties": {
    "cases": {"type": "array", "items": CASE_ROW}, "page": {"type": "integer"}, "page_size": {"type": "integer"},
    "total": {"type": "integer"}, "pages": {"type": "integer"}}}
NEW_CASE = {"type": "object", "required": ["place", "basic_code", "applicant"], "additionalProperties": False,
            "properties": {
    "place": {"type": "string", "pattern": "^[0-9]{12}$", "description": "where you accept it (clerk role there)"},
    "basic_code": {"type": "string", "description": "the item's basic code (基本编码), offered at the place"},
    "applicant": {"type": "object", "additionalProperties": False,
                  "required": ["kind", "name", "id_number", "contact_name", "contact_phone"],
                  "properties": {"kind": {"enum": ["person", "organisation"]}, "name": STRING,
                                 "id_number": {"type": "string", "description": "resident ID or credit code"},
                                 **_strings("contact_name", "contact_phone", "agent_name", "agent_id_number")}},
    "materials": {"type": "object", "additionalProperties": MATERIAL_STATUS,
                  "description": "material position → status; a material left out is missing"},
    "deferred_until": {"type": "object", "additionalProperties": {"type": "string", "format": "date"},
                       "description": "position → date, for materials sent as deferred (容缺, deferrable only)"},
    "window_number": STRING,
    "decide_now": {"type": "boolean", "description": "decide an immediate item (即办件) at once"},
    "channel": {"enum": ["window", "online"], "description": "window (default): accept now; online (申办): "
                "submitted, waits for a clerk to pre-accept and accept"},
}}
TRANSITION = {"type": "object", "required": ["action"], "properties": {
    "action": {"enum": ACTIONS},
    "version": {"type": "integer", "description": "the case version you saw: 409 without acting if it changed"},
    "materials": {"type": "object", "additionalProperties": {"enum": ["paper", "electronic"]},
                  "description": "accept, correct: materials received now"},
    "reason": {"type": "string", "description": "refuse (required), withdraw, suspend (required)"},
    "missing": {"type": "array", "items": STRING, "description": "request_correction: every missing material"},
    "procedure": {"type": "string", "description": "suspend: hearing, inspection, testing, expert …"},
    "result": {"type": "string", "description": "resume: the outcome of the special procedure"},
    "level": {"type": ["integer", "null"], "minimum": 1, "maximum": 5,
              "description": "evaluate: 5 非常满意 … 1 非常不满意, null when the applicant declines"},
    "delivery": {"enum": ["collect", "mail"], "description": "issue"},
    "collected_by": {"type": "string", "description": "issue, collect"},
    "tracking_number": {"type": "string", "description": "issue, mail"},
}}
REVIEW = {"type": "object", "required": ["approve", "opinion"], "properties": {
    "approve": {"type": "boolean"}, "opinion": STRING, "version": {"type": "integer"}}}
EVENT = {"type": "object", "properties": {"seq": {"type": "integer"}, "at": MOMENT, "actor": STRING, "kind": STRING,
                                          "data": {"type": "object"}}}


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


def _post(summary: str, body: dict[str, Any], created: str, params: list[dict[str, Any]],
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    responses = {created: _json(CASE, "The case, as after the change"),
                 "400": _json(ERROR, "Invalid input, or a condition of the action unmet; `place` names the field"),
                 "401": UNAUTHORIZED, "403": _json(ERROR, "Your role does not allow this at the case's place"),
                 "404": _json(ERROR, "Not found or outside your places"),
                 "409": _json(ERROR, "Not possible in the case's state, or the case changed (version)")}
    return {"summary": summary, "parameters": params, "responses": responses | (extra or {}),
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


def case_paths() -> dict[str, Any]:
    filters: list[dict[str, Any]] = [
        {"name": "state", "in": "query", "schema": {"type": "array", "items": {"enum": CASE_STATES}},
         "style": "form", "explode": True, "description": "repeatable"},
        {"name": "item", "in": "query", "schema": STRING, "description": "basic code"},
        {"name": "department", "in": "query", "schema": STRING, "description": "has a review task of"},
        {"name": "place", "in": "query", "schema": STRING, "description": "a place and everything below it"},
        {"name": "due_soon", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 60},
         "description": "open cases due today or within this many working days (not overdue)"},
        {"name": "overdue", "in": "query", "schema": {"type": "boolean"}, "description": "open and past due"},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "50 a page"},
    ]
    cases = _get("The worklist: your places' cases, soonest due first", CASE_LIST, filters)
    cases["post"] = _post("Accept an application (一窗受理; clerk at the place): accepted, or a one-time "
                          "correction notice listing the missing materials", NEW_CASE, "201", [IDEMPOTENCY_KEY],
                          {"422": _json(ERROR, "Idempotency-Key reused with a different body")})
    cases["post"]["responses"].pop("409")
    return {
        "/api/v1/cases": cases,
        "/api/v1/cases/{number}": _get("One case with materials, tasks, pauses, result and evaluation", CASE,
                                       [NUMBER]),
        "/api/v1/cases/{number}/events": _get("The case's audit timeline, oldest first", {
            "type": "object", "properties": {"number": STRING, "events": {"type": "array", "items": EVENT}}},
            [NUMBER]),
        "/api/v1/cases/{number}/transitions": {"post": _post(
            "One workflow action on the case; unknown actions are 400 listing the allowed ones", TRANSITION, "200",
            [NUMBER])},
        "/api/v1/cases/{number}/tasks/{department}/review": {"post": _post(
            "A department's opinion (同步审核); the last one decides the case", REVIEW, "200",
            [NUMBER, DEPARTMENT])},
    }


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
            **case_paths(),
            "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                             "responses": {"200": {"description": "OK"}}}},
        },
    }
