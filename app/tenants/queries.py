"""Read helpers for tenant pages and the API. All of them run under the session's scope."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from app.catalog.models import Item, TenantItem
from app.core.errors import NotFound
from app.core.tenancy import SKIP_SCOPE, Scope, ancestors_of, core_statement_in_scope, get_scope, subtree_range
from app.halls.models import Staff, Window
from app.tenants.models import Division, Tenant


def tenant_or_404(session: Session, code: str) -> Tenant:
    """The place if the caller may see it; a place out of sight does not exist for them."""
    tenant = session.get(Tenant, code) if len(code) == 12 else None
    if tenant is None:
        raise NotFound("not found")
    return tenant


@dataclass
class TreeNode:
    tenant: Tenant
    counts: dict[str, int]
    children: list[TreeNode] = field(default_factory=list)


def _no_counts() -> defaultdict[str, dict[str, int]]:
    return defaultdict(lambda: {"items": 0, "windows": 0, "staff": 0})


def counts_by_tenant(session: Session, codes: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Items, windows and staff per place: three grouped queries, whatever the number of places."""
    counts = _no_counts()
    if codes == []:
        return counts
    for label, model in (("items", TenantItem), ("windows", Window), ("staff", Staff)):
        query = select(model.tenant_code, func.count()).group_by(model.tenant_code)
        if model is TenantItem:
            query = query.where(TenantItem.active.is_(True))
        if codes is not None:
            query = query.where(model.tenant_code.in_(codes))
        for code, count in session.execute(query):
            counts[code][label] = count
    return counts


def visible_tree(session: Session, with_counts: bool = True) -> list[TreeNode]:
    """Every place the caller sees, nested by parent; the tops are places whose parent is out of sight."""
    tenants = list(session.scalars(select(Tenant).order_by(Tenant.code)))
    counts = counts_by_tenant(session) if with_counts else _no_counts()
    nodes = {t.code: TreeNode(t, counts[t.code]) for t in tenants}
    tops: list[TreeNode] = []
    for tenant in tenants:
        parent = nodes.get(tenant.parent_code or "")
        (parent.children if parent else tops).append(nodes[tenant.code])
    return tops


def children_of(session: Session, code: str) -> list[Tenant]:
    return list(session.scalars(select(Tenant).where(Tenant.parent_code == code).order_by(Tenant.code)))


def breadcrumb(session: Session, code: str) -> list[tuple[str, str]]:
    """Names of the places above `code`. Names of ancestors are public (the division list), so
    this reads the division list without the scope."""
    codes = ancestors_of(code)
    rows = session.execute(
        select(Division.code, Division.name).where(Division.code.in_(codes)), execution_options={SKIP_SCOPE: True}
    )
    names = dict(rows.all())  # .all(): a Result has .keys(), which dict() would mistake for a mapping
    return [(c, names[c]) for c in codes if c in names]


def place_items(session: Session, code: str) -> list[TenantItem]:
    query = (
        select(TenantItem).where(TenantItem.tenant_code == code, TenantItem.active.is_(True))
        .order_by(TenantItem.implementation_code)
    )
    return list(session.scalars(query))


# Built once: constructing a 19-column select costs more than running it (measured by scripts/bench).
PLACE_ITEM_ROWS = (
    select(
        TenantItem.implementation_code, TenantItem.promised_days, Item.basic_code, Item.name, Item.name_en,
        Item.type_code, Item.department_code, Item.category_code, Item.kind, Item.statutory_days,
        Item.statutory_unit, Item.promised_unit, Item.visits, Item.online_depth, Item.mail_allowed, Item.bookable,
        Item.fee_charged, Item.fee_standard, Item.fee_basis, Item.fee_waivable, Item.result_name, Item.result_type,
    )
    .join(Item, TenantItem.item_id == Item.id)
    .where(TenantItem.tenant_code == bindparam("code"), TenantItem.active.is_(True))
    .order_by(TenantItem.implementation_code)
)


@lru_cache(maxsize=512)
def _place_item_rows_in(scope: Scope) -> Any:
    return core_statement_in_scope(PLACE_ITEM_ROWS, TenantItem.tenant_code, scope)


def place_item_rows(session: Session, code: str) -> list[Row[Any]]:
    """A place's implementation list as plain rows: the items API's hot path, on Core (the ORM
    layer would double its cost, measured by scripts/bench) with the session's scope added."""
    statement = _place_item_rows_in(get_scope(session))
    return list(session.connection().execute(statement, {"code": code}))


def place_windows(session: Session, code: str) -> list[Window]:
    return list(session.scalars(select(Window).where(Window.tenant_code == code).order_by(Window.number)))


def place_staff(session: Session, code: str) -> list[Staff]:
    query = select(Staff).where(Staff.tenant_code == code).order_by(Staff.username)
    return list(session.scalars(query.options(selectinload(Staff.grants))))


def counties_for_onboarding(session: Session, root: str) -> list[dict[str, Any]]:
    """County-level units of the division list under the node's root, with onboarding state."""
    low, high = subtree_range(root)
    divisions = session.scalars(
        select(Division).where(Division.code.between(low, high), Division.level == "county").order_by(Division.code)
    )
    onboarded = set(session.scalars(select(Tenant.code).where(Tenant.level == "county")))
    return [{"code": d.code, "name": d.name, "onboarded": d.code in onboarded} for d in divisions]
