"""Worklists (one query for the rows each), the reviewer inbox and the issuance queue.
All run under the session's scope; nothing here widens it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session, contains_eager

from app.cases.models import Case, ReviewTask
from app.cases.states import CaseState
from app.core.auth import Principal
from app.core.tenancy import get_scope, subtree_range

OPEN_STATES = [s.value for s in CaseState if s.is_open]
# Due soon / overdue concern cases whose clock runs: under review. A suspended case or one waiting for a
# correction has its clock paused; a decided one waiting at the issuance window has met its limit.
CLOCK_RUNNING = [CaseState.ACCEPTED.value]
PAGE_SIZE = 50


@dataclass(frozen=True)
class WorklistFilter:
    states: tuple[str, ...] = ()
    item_id: int | None = None
    department: str = ""
    place: str = ""            # a place (and everything under it) within the caller's scope
    due_before: dt.date | None = None   # due soon: due on or before this date
    due_from: dt.date | None = None     # due on or after this date (due soon without the overdue ones)
    overdue_on: dt.date | None = None   # overdue: due before this date and still open
    page: int = 1


def worklist_query(f: WorklistFilter) -> tuple[list[ColumnElement[bool]], list[Any]]:
    conditions: list[ColumnElement[bool]] = []
    if f.states:
        conditions.append(Case.state.in_(f.states))
    if f.item_id is not None:
        conditions.append(Case.item_id == f.item_id)
    if f.place:
        conditions.append(Case.tenant_code.between(*subtree_range(f.place)))
    if f.department:
        conditions.append(exists().where(ReviewTask.case_id == Case.id, ReviewTask.department_code == f.department))
    if f.due_before is not None:
        conditions += [Case.due_date <= f.due_before, Case.state.in_(CLOCK_RUNNING)]
    if f.due_from is not None:
        conditions.append(Case.due_date >= f.due_from)
    if f.overdue_on is not None:
        conditions += [Case.due_date < f.overdue_on, Case.state.in_(CLOCK_RUNNING)]
    return conditions, [Case.due_date.is_(None), Case.due_date, Case.id]


def page_ids(f: WorklistFilter) -> Any:
    """The ids of one page, chosen on the index alone (state, place, due date, id) before any full
    row is read: a city's thousands of matching cases are sorted as ids, not as rows (scripts/bench)."""
    conditions, order = worklist_query(f)
    return _page_of(conditions, order, f.page)


def _page_of(conditions: list[ColumnElement[bool]], order: list[Any], page: int) -> Any:
    query = select(Case.id).where(*conditions).order_by(*order)
    return query.limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)


# What a worklist row shows. The page reads plain rows, not Case objects: building 50 cases with all
# their columns cost more than the query (scripts/bench --profile, the city admin's page).
ROW_COLUMNS = (Case.id, Case.number, Case.state, Case.tenant_code, Case.item_name, Case.applicant_name,
               Case.applicant_id_number, Case.accepted_on, Case.due_date, Case.calendar_missing)


@dataclass(frozen=True)
class WorklistPage:
    rows: list[Any]  # rows of ROW_COLUMNS and `total`
    total: int       # how many cases match, on every page


def worklist(session: Session, f: WorklistFilter) -> WorklistPage:
    """One page of cases, soonest due first (undated last), as rows of ROW_COLUMNS, and how many
    match in all, from one statement. A page past the end has no row to carry the total: it is then
    counted alone."""
    conditions, order = _in_scope(session, f)
    connection = session.connection()
    rows = list(connection.execute(_with_total(connection.dialect.name, conditions, order, f.page)))
    if rows:
        return WorklistPage(rows, rows[0].total)
    return WorklistPage(rows, worklist_count(session, f) if f.page > 1 else 0)


def _with_total(dialect: str, conditions: list[ColumnElement[bool]], order: list[Any], page: int) -> Any:
    """On PostgreSQL the matching index entries are read once, counted by a window over all of them
    and sorted for the page. Read twice (rows, then count), a city admin's 4,600 entries were each
    looked up in the table twice wherever the visibility map did not mark their page all-visible (a
    live table's recent cases): 13.7 ms against 8-9 with the map empty (1M cases, in-process).
    SQLite materialises and sorts a window's input (2.4 ms against 0.9), and its second pass over a
    covering index is cheap: there the count is a subquery of the same statement."""
    ids = _page_of(conditions, order, page)
    if dialect == "postgresql":
        chosen = ids.add_columns(func.count().over().label("total")).subquery("page")
        statement = select(*ROW_COLUMNS, chosen.c.total).join_from(Case, chosen, chosen.c.id == Case.id)
    else:
        total = select(func.count()).select_from(Case).where(*conditions).scalar_subquery().label("total")
        statement = select(*ROW_COLUMNS, total).where(Case.id.in_(ids))
    return statement.order_by(*order)


def worklist_count(session: Session, f: WorklistFilter) -> int:
    conditions, _order = _in_scope(session, f)
    return session.connection().execute(select(func.count()).select_from(Case).where(*conditions)).scalar() or 0


def _in_scope(session: Session, f: WorklistFilter) -> tuple[list[ColumnElement[bool]], list[Any]]:
    """The filter's conditions with the session's scope added by hand: the worklist runs on Core
    (the session's connection, which the ORM's scope hook does not see), so it is reviewed like
    raw SQL. Review tasks named by the department filter belong to the case's place, which is in
    scope, so the case's criterion covers them too."""
    conditions, order = worklist_query(f)
    scope = get_scope(session)
    if not scope.unrestricted:
        conditions.append(scope.criterion(Case.tenant_code))
    return conditions, order


def reviewer_criterion(actor: Principal) -> ColumnElement[bool]:
    """The tasks `actor` reviews: their department, at the place of each reviewer grant (or below)."""
    clauses = [
        and_(ReviewTask.department_code == dept,
             ReviewTask.tenant_code.between(*subtree_range(code)) if subtree else ReviewTask.tenant_code == code)
        for code, role, dept, subtree in actor.grants if role == "reviewer" and dept
    ]
    return or_(*clauses) if clauses else false()


def inbox(session: Session, actor: Principal) -> list[ReviewTask]:
    """Pending review tasks of cases under review, soonest due first, with their case (one query)."""
    query = (
        select(ReviewTask).join(ReviewTask.case).options(contains_eager(ReviewTask.case))
        .where(ReviewTask.state == "pending", Case.state == CaseState.ACCEPTED.value, reviewer_criterion(actor))
        .order_by(Case.due_date.is_(None), Case.due_date, Case.id)
    )
    return list(session.scalars(query.limit(200)))


def issuance_queue(session: Session, place: str) -> list[Case]:
    """Decided cases waiting at the place's issuance window, oldest decision first."""
    query = select(Case).where(Case.tenant_code == place, Case.state == CaseState.READY.value)
    return list(session.scalars(query.order_by(Case.decided_at, Case.id).limit(200)))


def suspended_for_reviewer(session: Session, actor: Principal) -> list[Case]:
    """Cases in a special procedure (特别程序) with a pending task `actor` reviews: the ones they may resume."""
    pending = exists().where(ReviewTask.case_id == Case.id, ReviewTask.state == "pending", reviewer_criterion(actor))
    query = select(Case).where(Case.state == CaseState.SUSPENDED.value, pending)
    return list(session.scalars(query.order_by(Case.due_date.is_(None), Case.due_date, Case.id).limit(200)))
