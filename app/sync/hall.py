"""What a receiving node (the provincial hall, a city over its counties) shows of what was reported
to it: the nodes below with their last contact and backlog, counts per city / county / town and
day range, any reported case by number, and the events it refused."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import UserError
from app.core.tenancy import LEVELS, PREFIX_LENGTH, level_of
from app.sync.models import CaseIndexEntry, PlaceDayCount, RejectedEvent, SyncNode, SyncNodeKey
from app.tenants.models import Tenant

CASE_NUMBER = re.compile(r"[0-9]{26}")
# The columns of the counts table: the stages a hall's statistics are read by.
COUNTED_TYPES = ("case.accepted", "case.refused", "case.decided", "case.issued", "case.evaluated")
MAX_DAYS = 366


@dataclass(frozen=True)
class NodeRow:
    node: SyncNode
    place_name: str
    active_keys: int


def nodes(session: Session) -> list[NodeRow]:
    keys = (select(SyncNodeKey.node_id, func.count().label("n")).where(SyncNodeKey.retired_at.is_(None))
            .group_by(SyncNodeKey.node_id).subquery())
    query = (select(SyncNode, Tenant.name, keys.c.n)
             .outerjoin(Tenant, Tenant.code == SyncNode.subtree_code)
             .outerjoin(keys, keys.c.node_id == SyncNode.node_id).order_by(SyncNode.subtree_code))
    return [NodeRow(node, name or "", n or 0) for node, name, n in session.execute(query)]


def levels_below(root: str) -> list[str]:
    """The levels a root can group its counts by: every level under its own (villages excluded)."""
    return list(LEVELS[LEVELS.index(level_of(root)) + 1:-1])


@dataclass(frozen=True)
class CountRow:
    code: str
    name: str
    counts: dict[str, int]


def counts_by_place(session: Session, level: str, since: dt.date, until: dt.date) -> list[CountRow]:
    """Reported events per place of `level` (a city sums its counties and towns) and stage, in a day range."""
    if since > until or (until - since).days >= MAX_DAYS:
        raise UserError(f"the range must run forwards and span at most {MAX_DAYS} days", place="since")
    width = PREFIX_LENGTH[level]
    prefix = func.substr(PlaceDayCount.tenant_code, 1, width)
    query = (select(prefix, PlaceDayCount.type, func.sum(PlaceDayCount.count))
             .where(PlaceDayCount.day.between(since, until), PlaceDayCount.type.in_(COUNTED_TYPES))
             .group_by(prefix, PlaceDayCount.type))
    grouped: dict[str, dict[str, int]] = {}
    for code_prefix, type_, total in session.execute(query):
        grouped.setdefault(code_prefix.ljust(12, "0"), {})[type_] = int(total)
    named = select(Tenant.code, Tenant.name).where(Tenant.code.in_(list(grouped)))
    names: dict[str, str] = {code: name for code, name in session.execute(named)}  # noqa: C416 - rows, not pairs
    return [CountRow(code, names.get(code, ""), grouped[code]) for code in sorted(grouped)]


def find_case(session: Session, number: str) -> CaseIndexEntry | None:
    """A reported case by its number, within the session's scope (None when unknown or out of sight)."""
    number = number.strip()
    if not CASE_NUMBER.fullmatch(number):
        raise UserError("a case number is 26 digits: place code, date and sequence", place="number")
    return session.scalar(select(CaseIndexEntry).where(CaseIndexEntry.number == number))


def rejected(session: Session, node_id: str = "", limit: int = 100) -> list[RejectedEvent]:
    query = select(RejectedEvent).order_by(RejectedEvent.id.desc()).limit(limit)
    if node_id:
        query = query.where(RejectedEvent.from_node == node_id)
    return list(session.scalars(query))
