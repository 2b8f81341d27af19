"""Plain dicts for the JSON API; one function per resource."""

from __future__ import annotations

from typing import Any

from app.catalog.models import TenantItem
from app.halls.models import Staff, Window
from app.tenants.models import Tenant


def tenant_json(tenant: Tenant, counts: dict[str, int] | None = None) -> dict[str, Any]:
    data = {"code": tenant.code, "name": tenant.name, "level": tenant.level, "parent_code": tenant.parent_code,
            "address": tenant.address, "phone": tenant.phone, "opening_hours": tenant.opening_hours}
    if counts is not None:
        data["counts"] = counts
    return data


def item_json(entry: TenantItem) -> dict[str, Any]:
    item = entry.item
    return {
        "implementation_code": entry.implementation_code, "basic_code": item.basic_code, "name": item.name,
        "name_en": item.name_en, "type": item.type_code, "department": item.department_code,
        "category": item.category_code, "kind": item.kind,
        "statutory_limit": {"days": item.statutory_days, "unit": item.statutory_unit},
        "promised_limit": {"days": entry.promised_days, "unit": item.promised_unit},
        "visits": item.visits, "online_depth": item.online_depth, "mail_allowed": item.mail_allowed,
        "bookable": item.bookable, "fee": item.fee, "result": {"name": item.result_name, "type": item.result_type},
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
