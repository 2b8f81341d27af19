"""Carry out a plan in the caller's transaction, with bulk statements (thousands of places)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.catalog.models import Category, Department, Item, Material, TenantItem
from app.core.db import utcnow
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.models import Tenant
from app.tenants.plan import CHUNK, Plan
from app.tenants.reporting import report_plan

# Referenced rows first: a place's items need the catalogue, grants need their staff.
ORDER = (Category, Department, Item, Tenant, TenantItem, Window, Staff, RoleGrant)


def implementation_code(basic_code: str, tenant_code: str) -> str:
    """实施编码: the basic code followed by the implementing place's 12-digit code (24 chars)."""
    return basic_code + tenant_code


def apply_plan(session: Session, plan: Plan) -> None:
    grouped: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    for verb, model, row in plan.operations:
        grouped[(model, verb)].append(row)
    for model in ORDER:
        for verb in ("delete", "insert", "update"):
            rows = grouped.get((model, verb))
            if rows:
                APPLIERS[verb](session, model, rows)
    report_plan(session, plan)  # reported upward in the same transaction (app.sync)
    session.flush()


def _delete(session: Session, model: Any, keys: list[Any]) -> None:
    primary_key = model.__mapper__.primary_key[0]
    for start in range(0, len(keys), CHUNK):
        session.execute(delete(model).where(primary_key.in_(keys[start:start + CHUNK])))


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if model is Item:
        _insert_items(session, rows)
        return
    rows = PREPARE.get(model, _same)(session, rows)
    for start in range(0, len(rows), CHUNK * 4):
        session.execute(insert(model), rows[start:start + CHUNK * 4])


def _update(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    rows = [dict(row) for row in rows]  # the plan stays as it was planned
    name = model.__mapper__.primary_key[0].key
    materials = {row["_pk"]: row.pop("materials") for row in rows if "materials" in row}
    extra = {"updated_at": utcnow()} if model is Tenant else {}
    session.execute(update(model), [{name: row.pop("_pk"), **row, **extra} for row in rows])
    for item_id, listed in materials.items():
        session.execute(delete(Material).where(Material.item_id == item_id))
        _insert_materials(session, {item_id: listed})


def _insert_items(session: Session, rows: list[dict[str, Any]]) -> None:
    rows = [dict(row) for row in rows]
    materials = {row["basic_code"]: row.pop("materials") for row in rows}
    session.execute(insert(Item), rows)
    ids = dict(session.execute(select(Item.basic_code, Item.id).where(Item.basic_code.in_(list(materials)))).all())
    _insert_materials(session, {ids[code]: listed for code, listed in materials.items()})


def _insert_materials(session: Session, by_item: dict[int, list[dict[str, Any]]]) -> None:
    rows = [
        {"item_id": item_id, "position": position, **material}
        for item_id, listed in by_item.items()
        for position, material in enumerate(listed, start=1)
    ]
    if rows:
        session.execute(insert(Material), rows)


def _same(_session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows


def _prepare_tenant_items(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = dict(session.execute(select(Item.basic_code, Item.id)).all())
    return [
        {"tenant_code": r["tenant_code"], "item_id": ids[r["basic_code"]], "promised_days": r["promised_days"],
         "active": True, "implementation_code": implementation_code(r["basic_code"], r["tenant_code"])}
        for r in rows
    ]


def _prepare_grants(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    usernames = list({r["username"] for r in rows})
    ids: dict[str, int] = {}
    for start in range(0, len(usernames), CHUNK):
        chunk = usernames[start:start + CHUNK]
        query = select(Staff.username, Staff.id).where(Staff.username.in_(chunk))
        ids.update((username, staff_id) for username, staff_id in session.execute(query))
    return [{k: v for k, v in r.items() if k != "username"} | {"staff_id": ids[r["username"]]} for r in rows]


def _prepare_tenants(_session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = utcnow()
    return [{**row, "created_at": now, "updated_at": now} for row in rows]


PREPARE = {TenantItem: _prepare_tenant_items, RoleGrant: _prepare_grants, Tenant: _prepare_tenants}
APPLIERS = {"delete": _delete, "insert": _insert, "update": _update}
