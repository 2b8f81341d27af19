"""Plain dicts for the JSON API; one function per resource."""

from __future__ import annotations

from typing import Any

from app.halls.models import Staff, Window
from app.tenants.models import Tenant


def tenant_json(tenant: Tenant, counts: dict[str, int] | None = None) -> dict[str, Any]:
    data = {"code": tenant.code, "name": tenant.name, "level": tenant.level, "parent_code": tenant.parent_code,
            "address": tenant.address, "phone": tenant.phone, "opening_hours": tenant.opening_hours}
    if counts is not None:
        data["counts"] = counts
    return data


def item_json(row: Any) -> dict[str, Any]:
    """One implementation-list entry, from a row of `queries.ITEM_LIST_COLUMNS`."""
    return {
        "implementation_code": row.implementation_code, "basic_code": row.basic_code, "name": row.name,
        "name_en": row.name_en, "type": row.type_code, "department": row.department_code,
        "category": row.category_code, "kind": row.kind,
        "statutory_limit": {"days": row.statutory_days, "unit": row.statutory_unit},
        "promised_limit": {"days": row.promised_days, "unit": row.promised_unit},
        "visits": row.visits, "online_depth": row.online_depth, "mail_allowed": row.mail_allowed,
        "bookable": row.bookable, "result": {"name": row.result_name, "type": row.result_type},
        "fee": {"charged": row.fee_charged, "standard": row.fee_standard, "basis": row.fee_basis,
                "waivable": row.fee_waivable},
    }


def window_json(window: Window) -> dict[str, Any]:
    return {"id": window.id, "tenant_code": window.tenant_code, "number": window.number, "name": window.name,
            "kind": window.kind, "categories": window.categories}


def staff_json(staff: Staff) -> dict[str, Any]:
    return {
        "username": staff.username, "name": staff.name, "tenant_code": staff.tenant_code, "active": staff.active,
        "roles": [{"tenant_code": g.tenant_code, "role": g.role, "department": g.department_code,
                   "subtree": g.subtree} for g in staff.grants],
    }
