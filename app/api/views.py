"""/api/v1: bearer-token JSON API, scoped exactly like the UI; /healthz for ops."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select, text

from app.api.openapi import openapi_document
from app.api.serializers import item_json, staff_json, tenant_json, window_json
from app.core import migrate
from app.core.errors import UserError
from app.core.security import csrf
from app.core.tenancy import Scope, set_scope, system_scope
from app.core.web import db, login_required, require_role_at, settings
from app.halls import services as halls
from app.tenants import queries
from app.tenants.models import Tenant
from app.version import release_version

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # bearer tokens only: no cookies are honoured under /api/, so no CSRF risk
V1 = "/api/v1"
MAX_PAGE = 500
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")
# The same limits as the UI form (app.tenants.forms.WindowForm) and the column sizes.
WINDOW_NUMBER = re.compile(r"[0-9A-Za-z-]{1,10}")
WINDOW_NAME_MAX = 100


@bp.route("/healthz")
def healthz() -> Any:
    """Liveness and readiness for ops and load balancers: database reachable and migrated (else 503).

    A node with an upstream also gets a "sync" block (backlog, age of the oldest unsent event, last
    success and error). Sync lagging more than `sync_max_lag_seconds` makes the status "degraded"
    with a "reason", but the answer stays 200: the node still serves its users, and a load
    balancer must not take it out of rotation for a slow upstream; monitoring alerts on the status."""
    from flask import current_app

    state, revision = "ok", None
    try:
        set_scope(db(), Scope())
        db().execute(text("SELECT 1"))
        revision = migrate.current_revision(current_app.extensions["govhall.engine"])
        if revision is None:
            state = "not migrated"
    except Exception as exc:
        state = f"unavailable: {type(exc).__name__}"
    body = {"status": "ok" if state == "ok" else "degraded", "database": state, "migration": revision,
            "version": release_version(), "root_tenant": settings().root_tenant,
            "node_id": settings().effective_node_id}
    if state == "ok" and settings().upstream_url:
        _add_sync_health(body)
    return jsonify(body), 200 if state == "ok" else 503


def _add_sync_health(body: dict[str, Any]) -> None:
    """Counts only, no tenant rows: read in the system scope (one statement, see health_block)."""
    from app.sync.status import health_block

    try:
        with system_scope(db()) as session:
            body["sync"], reason = health_block(session, settings())
    except Exception as exc:
        body["sync"], reason = {"error": type(exc).__name__}, f"sync: state unreadable ({type(exc).__name__})"
    if reason:
        body["status"], body["reason"] = "degraded", reason


@bp.route(f"{V1}/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document(release_version()))


@bp.route(f"{V1}/tenants")
@login_required
def list_tenants() -> Any:
    limit, offset = _page()
    tenants = list(db().scalars(select(Tenant).order_by(Tenant.code).limit(limit).offset(offset)))
    return jsonify({"tenants": [tenant_json(t) for t in tenants], "limit": limit, "offset": offset})


@bp.route(f"{V1}/tenants/<code>")
@login_required
def get_tenant(code: str) -> Any:
    tenant = queries.tenant_or_404(db(), code)
    return jsonify(tenant_json(tenant, queries.counts_by_tenant(db(), [code])[code]))


@bp.route(f"{V1}/tenants/<code>/children")
@login_required
def tenant_children(code: str) -> Any:
    queries.tenant_or_404(db(), code)
    children = queries.children_of(db(), code)
    counts = queries.counts_by_tenant(db(), [c.code for c in children])
    return jsonify({"children": [tenant_json(c, counts[c.code]) for c in children]})


@bp.route(f"{V1}/tenants/<code>/items")
@login_required
def tenant_items(code: str) -> Any:
    rows = queries.place_item_rows(db(), code)
    if not rows:  # an empty list or a place out of sight: only then is the extra lookup needed
        queries.tenant_or_404(db(), code)
    return jsonify({"items": [item_json(row) for row in rows]})


@bp.route(f"{V1}/tenants/<code>/windows", methods=["GET"])
@login_required
def tenant_windows(code: str) -> Any:
    queries.tenant_or_404(db(), code)
    return jsonify({"windows": [window_json(w) for w in queries.place_windows(db(), code)]})


@bp.route(f"{V1}/tenants/<code>/windows", methods=["POST"])
@login_required
def create_window(code: str) -> Any:
    require_role_at(code, "city_admin", "county_admin")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UserError("the body must be a JSON object", place="body")
    fields = {name: body.get(name) for name in ("number", "name", "kind")}
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        raise UserError(f"missing or empty: {', '.join(missing)}", place=missing[0])
    if not WINDOW_NUMBER.fullmatch(str(fields["number"])):
        raise UserError("number must be 1 to 10 letters, digits or '-'", place="number")
    if len(str(fields["name"])) > WINDOW_NAME_MAX:
        raise UserError(f"name must be at most {WINDOW_NAME_MAX} characters", place="name")
    categories = body.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise UserError("categories must be a list of category codes", place="categories")
    window = halls.add_window(db(), code, str(fields["number"]), str(fields["name"]), str(fields["kind"]), categories)
    return jsonify(window_json(window)), 201


@bp.route(f"{V1}/tenants/<code>/staff")
@login_required
def tenant_staff(code: str) -> Any:
    queries.tenant_or_404(db(), code)
    return jsonify({"staff": [staff_json(s) for s in queries.place_staff(db(), code)]})


def _page() -> tuple[int, int]:
    """`limit` (1…MAX_PAGE; larger asks get MAX_PAGE, echoed back) and `offset` (0…)."""
    limit = min(_whole_number("limit", 100, minimum=1), MAX_PAGE)
    return limit, _whole_number("offset", 0, minimum=0)


def _whole_number(name: str, default: int, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not WHOLE_NUMBER.fullmatch(raw):  # ASCII digits only, and short enough for any database
        raise UserError(f"{name} must be a whole number of at most 9 digits, not '{raw}'", place=name)
    value = int(raw)
    if value < minimum:
        raise UserError(f"{name} must be at least {minimum}", place=name)
    return value
