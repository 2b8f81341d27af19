"""Diff the desired state against the database (`tenants plan`) and apply it (`tenants apply`).

Managed: the catalogue (when the files carry one); every place named in the files, with its
implementation list, windows and the role grants of the staff listed there. Places, staff and
catalogue entries the files do not mention are never deleted: places and staff are reported
as unmanaged; the diff of a place's items and windows is complete.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.catalog.models import Category, Department, Item, TenantItem
from app.catalog.schema import CatalogueFile, ItemSpec
from app.core.tenancy import subtree_range
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.desired import DesiredState
from app.tenants.models import Tenant

CHUNK = 500


@dataclass(frozen=True)
class Change:
    kind: str  # tenant, item, material list, window, staff, grant, catalogue item, category, department
    action: str  # add, change, remove
    key: str
    detail: str = ""


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unmanaged_places: int = 0
    operations: list[tuple[str, Any, Any]] = field(default_factory=list)  # (verb, model, rows)

    @property
    def empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        """Changes by action: {"add": …, "change": …, "remove": …}."""
        counted = Counter(c.action for c in self.changes)
        return {action: counted[action] for action in ("add", "change", "remove")}

    def summary(self) -> str:
        return "{add} to add, {change} to change, {remove} to remove".format(**self.counts())

    def render(self, limit_per_kind: int = 50) -> str:
        lines, shown = [], Counter[str]()
        marks = {"add": "+", "change": "~", "remove": "-"}
        for change in self.changes:
            shown[change.kind] += 1
            if shown[change.kind] <= limit_per_kind:
                lines.append(f"{marks[change.action]} {change.kind} {change.key} {change.detail}".rstrip())
        for kind, count in shown.items():
            if count > limit_per_kind:
                lines.append(f"  … and {count - limit_per_kind} more {kind} changes")
        if self.unmanaged_places:
            lines.append(f"({self.unmanaged_places} places in the database are not in these files; kept)")
        lines.append("No changes." if self.empty else f"Plan: {self.summary()}.")
        return "\n".join(lines)

    def record(self, change: Change, verb: str, model: Any, row: Any) -> None:
        self.changes.append(change)
        self.operations.append((verb, model, row))


def make_plan(session: Session, desired: DesiredState, root: str) -> Plan:
    plan = Plan()
    if desired.catalogue is not None:
        _plan_catalogue(session, desired.catalogue, plan)
    _plan_tenants(session, desired, root, plan)
    managed = set(desired.tenants)
    _plan_items(session, desired, managed, root, plan)
    _plan_windows(session, desired, managed, root, plan)
    _plan_staff(session, desired, plan)
    return plan


def _diff_fields(old: dict[str, Any], new: dict[str, Any]) -> str:
    return ", ".join(f"{key}: {old.get(key)!r} → {value!r}" for key, value in new.items() if old.get(key) != value)


Removal = Literal["keep", "delete", "retire"]


def _plan_rows(plan: Plan, kind: str, model: Any, current: dict[Any, dict[str, Any]],
               desired: dict[Any, dict[str, Any]], key_fields: Iterable[str], removal: Removal = "keep",
               owned: Callable[[dict[str, Any]], bool] = lambda _old: True) -> None:
    """Generic add / change / remove planning for rows identified by a natural key.

    `removal`: rows the files no longer name are kept, deleted, or retired (active=False, for rows
    that history points at). Only rows `owned` by the files are ever removed."""
    key_fields = tuple(key_fields)
    for key, row in desired.items():
        old = current.get(key)
        if old is None:
            values = dict(zip(key_fields, key if isinstance(key, tuple) else (key,), strict=True)) | row
            plan.record(Change(kind, "add", _label(key)), "insert", model, values)
        elif changed := {field: value for field, value in row.items() if old.get(field) != value}:
            change = Change(kind, "change", _label(key), _diff_fields(old, changed))
            plan.record(change, "update", model, {"_pk": old["_pk"], **changed})
    for key, old in current.items():
        if removal == "keep" or key in desired or not owned(old) or old.get("active") is False:
            continue
        if removal == "delete":
            plan.record(Change(kind, "remove", _label(key)), "delete", model, old["_pk"])
        else:
            plan.record(Change(kind, "remove", _label(key)), "update", model, {"_pk": old["_pk"], "active": False})


def _label(key: Any) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "/".join(("subtree" if part else "") if isinstance(part, bool) else str(part) for part in parts).rstrip("/")


def _plan_catalogue(session: Session, catalogue: CatalogueFile, plan: Plan) -> None:
    fields = ("name", "name_en")
    sections: tuple[tuple[str, Any, Any], ...] = (
        ("category", Category, catalogue.categories), ("department", Department, catalogue.departments)
    )
    for kind, model, specs in sections:
        current = {r.code: {f: getattr(r, f) for f in fields} | {"_pk": r.code} for r in session.scalars(select(model))}
        desired = {s.code: {f: getattr(s, f) for f in fields} for s in specs}
        _plan_rows(plan, kind, model, current, desired, ("code",))
    items = session.scalars(select(Item).options(selectinload(Item.materials)))
    current_items = {i.basic_code: _item_row(i) | {"_pk": i.id} for i in items}
    desired_items = {spec.basic_code: _spec_row(spec) for spec in catalogue.items}
    _plan_rows(plan, "catalogue item", Item, current_items, desired_items, ("basic_code",))


ITEM_FIELDS = (
    "name", "name_en", "type_code", "department_code", "category_code", "review_departments", "levels",
    "legal_basis", "statutory_days", "statutory_unit", "promised_days", "promised_unit", "kind", "visits",
    "onsite_reason", "online_depth", "mail_allowed", "bookable", "fee_charged", "fee_standard", "fee_basis",
    "fee_waivable", "result_name", "result_type", "materials",
)
MATERIAL_FIELDS = ("name", "necessity", "type", "source", "form", "copies")


def _item_row(item: Item) -> dict[str, Any]:
    row = {f: getattr(item, f) for f in ITEM_FIELDS if f != "materials"}
    row["materials"] = [{f: getattr(m, f) for f in MATERIAL_FIELDS} for m in item.materials]
    return row


def _spec_row(spec: ItemSpec) -> dict[str, Any]:
    return {
        "name": spec.name, "name_en": spec.name_en, "type_code": spec.type, "department_code": spec.department,
        "category_code": spec.category, "review_departments": list(spec.review_departments),
        "levels": list(spec.levels), "legal_basis": spec.legal_basis,
        "statutory_days": spec.statutory_limit.days, "statutory_unit": spec.statutory_limit.unit,
        "promised_days": spec.promised_limit.days, "promised_unit": spec.promised_limit.unit,
        "kind": spec.kind, "visits": spec.visits, "onsite_reason": spec.onsite_reason,
        "online_depth": spec.online_depth, "mail_allowed": spec.mail_allowed, "bookable": spec.bookable,
        "fee_charged": spec.fee.charged, "fee_standard": spec.fee.standard, "fee_basis": spec.fee.basis,
        "fee_waivable": spec.fee.waivable, "result_name": spec.result.name, "result_type": spec.result.type,
        "materials": [m.model_dump() for m in spec.materials],
    }


TENANT_FIELDS = ("name", "level", "parent_code", "address", "phone", "opening_hours")


def _plan_tenants(session: Session, desired: DesiredState, root: str, plan: Plan) -> None:
    low, high = subtree_range(root)
    columns = [getattr(Tenant, f) for f in TENANT_FIELDS]
    rows = session.execute(select(Tenant.code, *columns).where(Tenant.code.between(low, high)))
    current = {row[0]: dict(zip(TENANT_FIELDS, row[1:], strict=True)) | {"_pk": row[0]} for row in rows}
    # Parents before children, so a reader of the plan sees the tree top-down.
    ordered = dict(sorted(desired.tenants.items(), key=lambda kv: (kv[1]["level"] != "province", kv[0])))
    _plan_rows(plan, "tenant", Tenant, current, ordered, ("code",))
    plan.unmanaged_places = len(set(current) - set(desired.tenants))


def _plan_items(session: Session, desired: DesiredState, managed: set[str], root: str, plan: Plan) -> None:
    query = (
        select(TenantItem.id, TenantItem.tenant_code, Item.basic_code, TenantItem.promised_days, TenantItem.active)
        .join(Item).where(TenantItem.tenant_code.between(*subtree_range(root)))
    )
    current = {
        (tenant, basic): {"promised_days": days, "active": active, "_pk": pk}
        for pk, tenant, basic, days, active in session.execute(query) if tenant in managed
    }
    wanted = {key: {"promised_days": days, "active": True} for key, days in desired.items.items()}
    # Retired, not deleted: cases keep pointing at the entry they were accepted under.
    _plan_rows(plan, "item", TenantItem, current, wanted, ("tenant_code", "basic_code"), removal="retire")


def _plan_windows(session: Session, desired: DesiredState, managed: set[str], root: str, plan: Plan) -> None:
    query = (
        select(Window.id, Window.tenant_code, Window.number, Window.name, Window.kind, Window.categories,
               Window.source)
        .where(Window.tenant_code.between(*subtree_range(root)))
    )
    current = {
        (tenant, number): {"name": name, "kind": kind, "categories": categories, "source": source, "_pk": pk}
        for pk, tenant, number, name, kind, categories, source in session.execute(query) if tenant in managed
    }
    wanted = {key: row | {"source": "file"} for key, row in desired.windows.items()}
    # Windows an admin added in the UI are theirs: the files neither see nor remove them.
    _plan_rows(plan, "window", Window, current, wanted, ("tenant_code", "number"), removal="delete",
               owned=lambda old: old["source"] == "file")


def _plan_staff(session: Session, desired: DesiredState, plan: Plan) -> None:
    usernames = list(desired.staff)
    people = {s.username: s for s in _chunked_in(session, Staff, Staff.username, usernames)}
    current = {u: {"name": s.name, "tenant_code": s.tenant_code, "_pk": s.id} for u, s in people.items()}
    _plan_rows(plan, "staff", Staff, current, desired.staff, ("username",))
    by_id = {s.id: s.username for s in people.values()}
    current_grants = {
        (by_id[g.staff_id], g.tenant_code, g.role, g.department_code, g.subtree): {"_pk": g.id}
        for g in _chunked_in(session, RoleGrant, RoleGrant.staff_id, list(by_id))
    }
    _plan_rows(plan, "grant", RoleGrant, current_grants, {g: {} for g in desired.grants},
               ("username", "tenant_code", "role", "department_code", "subtree"), removal="delete")


def _chunked_in(session: Session, model: Any, column: Any, values: list[Any]) -> Iterator[Any]:
    for start in range(0, len(values), CHUNK):
        yield from session.scalars(select(model).where(column.in_(values[start:start + CHUNK])))
