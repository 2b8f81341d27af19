"""Writing a new case with Core: the case, its materials, review tasks and pauses in one INSERT per
table on the session's connection, then handed to the session as stored rows.

Every acceptance writes a new case; the ORM's flush of it (four mappers, unit-of-work sorting,
attribute bookkeeping) cost more than half the request's CPU (scripts/bench). Here every column
value is set on the objects before the INSERT (the columns' own defaults, as the ORM would), so
once the ids are back the objects hold exactly their rows: the session takes them as loaded,
and later changes to them (a decision at the window, a review) are ordinary ORM UPDATEs with the
case's version check.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, cast

from sqlalchemy import Column, Connection, Table, insert, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

from app.cases.models import Case, CaseMaterial, CasePause, ReviewTask
from app.core.tenancy import check_core_write

Row = Case | CaseMaterial | ReviewTask | CasePause


def write_new_case(session: Session, case: Case) -> None:
    """INSERT a new (transient) case and its parts in the caller's transaction; the session then
    holds them as persistent and unchanged. Nothing else pending is flushed."""
    parts: list[CaseMaterial | ReviewTask | CasePause] = [*case.materials, *case.tasks, *case.pauses]
    for code in {case.tenant_code, *(part.tenant_code for part in parts)}:
        check_core_write(session, code, "opening cases")  # what the flush hook checks for the ORM
    connection = session.connection()
    _insert(connection, [case])
    for part in parts:
        part.case_id = case.id  # the foreign key the relationship fills in during a flush
    for rows in (case.materials, case.tasks, case.pauses):
        _insert(connection, rows)
    for row in (case, *parts):
        make_transient_to_detached(row)
    session.add(case)  # cascades to the parts: persistent, nothing to flush


def _insert(connection: Connection, rows: Sequence[Row]) -> None:
    """One INSERT … RETURNING id for rows of one class (in their order); sets each row's id."""
    if not rows:
        return
    table, columns = _columns(type(rows[0]))
    values = [{column.key: _value(row, attribute, column) for attribute, column in columns} for row in rows]
    result = connection.execute(_statement(table), values)
    for row, new_id in zip(rows, result.scalars(), strict=True):
        row.id = new_id


@cache
def _statement(table: Table) -> Any:
    """Built once per table; `sort_by_parameter_order` gives the ids back in the rows' order (with
    the insert sentinel on SQLite, as the ORM does)."""
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


@cache
def _columns(model: type[Row]) -> tuple[Table, tuple[tuple[str, Column[Any]], ...]]:
    """(attribute, column) of every column the INSERT writes: all but the id and the sentinel."""
    mapper: Mapper[Any] = inspect(model)
    columns = tuple((attribute.key, cast(Column[Any], attribute.columns[0])) for attribute in mapper.column_attrs
                    if not attribute.columns[0].primary_key and not attribute.columns[0]._insert_sentinel)
    return cast(Table, mapper.local_table), columns


def _value(row: Row, attribute: str, column: Column[Any]) -> Any:
    """The row's value, or the column's default as the ORM's INSERT would set it (and keep it on
    the object, so the session has the whole row)."""
    if attribute not in row.__dict__:
        setattr(row, attribute, _default(column))
    return row.__dict__[attribute]


def _default(column: Column[Any]) -> Any:
    default: Any = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)  # SQLAlchemy's wrapper of a function taking no context
    raise TypeError(f"{column}: a default computed by the database cannot be set here")
