"""Report applied tenant changes upward (app.sync): one event per changed place, and one per place
whose implementation list (实施清单) changed.

Each event carries the place's whole current state — its record, or its whole list — rather than
the difference, so a receiver that sees only the latest event of a place still knows everything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Item, TenantItem
from app.sync.outbox import TENANT_PAYLOAD_VERSION, NewEvent, emit_many
from app.tenants.models import Tenant
from app.tenants.plan import CHUNK, Plan


def report_plan(session: Session, plan: Plan) -> None:
    """After `plan` was applied: queue the events of every place it touched."""
    tenants = {c.key for c in plan.changes if c.kind == "tenant"}
    lists = {c.key.split("/")[0] for c in plan.changes if c.kind == "item"}
    events = [*_tenant_events(session, sorted(tenants)), *_list_events(session, sorted(lists))]
    if events:
        emit_many(session, events)


def _tenant_events(session: Session, codes: list[str]) -> Iterator[NewEvent]:
    for tenant in _chunked(session, select(Tenant), Tenant.code, codes):
        payload = {"code": tenant.code, "name": tenant.name, "level": tenant.level, "parent_code": tenant.parent_code,
                   "address": tenant.address, "phone": tenant.phone, "active": tenant.active}
        yield NewEvent(tenant.code, "tenant", tenant.code, "tenant.changed", payload, TENANT_PAYLOAD_VERSION)


def _list_events(session: Session, codes: list[str]) -> Iterator[NewEvent]:
    query = (select(TenantItem.tenant_code, TenantItem.implementation_code, Item.basic_code, TenantItem.promised_days,
                    TenantItem.active).join(Item).order_by(TenantItem.implementation_code))
    by_place: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, implementation, basic, days, active in _chunked(session, query, TenantItem.tenant_code, codes, rows=True):
        by_place[code].append({"implementation_code": implementation, "basic_code": basic,
                               "promised_days": days, "active": active})
    for code in codes:
        yield NewEvent(code, "implementation_list", code, "implementation_list.changed",
                       {"tenant_code": code, "items": by_place.get(code, [])}, TENANT_PAYLOAD_VERSION)


def _chunked(session: Session, query: Any, column: Any, values: list[str], rows: bool = False) -> Iterable[Any]:
    for start in range(0, len(values), CHUNK):
        statement = query.where(column.in_(values[start:start + CHUNK]))
        yield from (session.execute(statement) if rows else session.scalars(statement))
