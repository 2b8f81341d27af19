"""Writing one chunk of demo cases: numbers continuing each place's daily sequence, explicit case ids,
Core executemany inserts and the counters, under the lock a real acceptance takes first."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Boolean, Connection, Date, Integer, String, Table, func, insert, select, text
from sqlalchemy.types import TypeEngine

from app.cases.demo.history import Draft, Maker, Plan
from app.cases.demo.places import DemoError
from app.cases.models import Case, CaseCounter, CaseMaterial, CasePause, ReviewTask
from app.cases.numbers import MAX_PER_DAY
from app.core.db import UTCDateTime, insert_on_conflict

CASES, MATERIALS, TASKS, PAUSES, COUNTERS = (cast(Table, m.__table__) for m in
                                             (Case, CaseMaterial, ReviewTask, CasePause, CaseCounter))


@dataclass
class Summary:
    cases: int = 0
    materials: int = 0
    tasks: int = 0
    pauses: int = 0
    places: int = 0
    seconds: float = 0.0
    states: Counter[str] = field(default_factory=Counter)
    first_day: dt.date | None = None
    last_day: dt.date | None = None

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


def lock_numbering(connection: Connection) -> None:
    """Take the lock every acceptance needs first (its number), so nobody issues a number or a case
    id while this chunk reads the counters and max(id) and writes after them."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(text("LOCK TABLE case_counters IN SHARE ROW EXCLUSIVE MODE"))


def write_chunk(connection: Connection, maker: Maker, plans: list[Plan], summary: Summary) -> None:
    """Make the planned cases (in the order they came in) and write them, numbered after the
    counters of their days and with ids after the highest one."""
    counters = {(r.tenant_code, r.day): r.last for r in connection.execute(
        select(CaseCounter.tenant_code, CaseCounter.day, CaseCounter.last)
        .where(CaseCounter.day.between(plans[0].day, plans[-1].day)))}
    touched = set()
    next_id = (connection.execute(select(func.max(Case.id))).scalar() or 0) + 1
    rows = Rows()
    for plan in plans:
        key = (plan.place.code, plan.day)
        counters[key] = sequence = counters.get(key, 0) + 1
        if sequence > MAX_PER_DAY:
            raise DemoError(f"{plan.place.code} would pass {MAX_PER_DAY} cases on {plan.day}: ask for fewer cases")
        touched.add(key)
        rows.add(maker.case(plan), next_id, f"{plan.place.code}{plan.day:%Y%m%d}{sequence:06d}")
        summary.states[plan.state.value] += 1
        next_id += 1
    rows.counters = [{"tenant_code": code, "day": day, "last": counters[(code, day)]} for code, day in touched]
    rows.write(connection)
    summary.cases += len(rows.cases)
    summary.materials += len(rows.materials)
    summary.tasks += len(rows.tasks)
    summary.pauses += len(rows.pauses)


@dataclass
class Rows:
    cases: list[dict[str, Any]] = field(default_factory=list)
    materials: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    pauses: list[dict[str, Any]] = field(default_factory=list)
    counters: list[dict[str, Any]] = field(default_factory=list)

    def add(self, draft: Draft, case_id: int, number: str) -> None:
        draft.case["id"], draft.case["number"] = case_id, number
        self.cases.append(draft.case)
        for children, rows in ((draft.materials, self.materials), (draft.tasks, self.tasks),
                               (draft.pauses, self.pauses)):
            for child in children:
                child["case_id"] = case_id
            rows.extend(children)

    def write(self, connection: Connection) -> None:
        for table, rows in ((CASES, self.cases), (MATERIALS, self.materials), (TASKS, self.tasks),
                            (PAUSES, self.pauses)):
            if rows:
                insert_rows(connection, table, rows)
        upsert = insert_on_conflict(connection.dialect.name, COUNTERS)
        connection.execute(upsert.on_conflict_do_update(index_elements=["tenant_code", "day"],
                                                        set_={"last": upsert.excluded["last"]}), self.counters)
        if connection.dialect.name == "postgresql":  # the ids were explicit: move the sequence past them
            connection.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), "
                                    "(SELECT max(id) FROM cases))"))


def insert_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Core's INSERT for `table`, compiled once for the connection's dialect, run as one DBAPI
    executemany. At this volume SQLAlchemy's bind processing, row by row, costs about as much as the
    insert itself, so the values go to the driver as they are: psycopg adapts dates, times and
    booleans itself; for SQLite, which keeps them as text, they are rendered here exactly as
    SQLAlchemy stores them (dates ISO, times UTC without an offset, booleans 0/1)."""
    compiled = insert(table).inline().compile(dialect=connection.dialect, column_keys=list(rows[0]))
    if compiled.positiontup is None:  # named parameters (psycopg): the dicts themselves
        connection.exec_driver_sql(str(compiled), rows)
        return
    converters = [(name, _sqlite_text(table.c[name].type)) for name in compiled.positiontup]
    connection.exec_driver_sql(str(compiled), [
        tuple(row[name] if convert is None or row[name] is None else convert(row[name]) for name, convert in converters)
        for row in rows])


def _sqlite_text(column_type: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How SQLAlchemy stores a value of this type on SQLite (None: as it is)."""
    if isinstance(column_type, UTCDateTime):
        return _utc_text
    if isinstance(column_type, Date):
        return dt.date.isoformat
    if isinstance(column_type, Boolean):
        return int
    if isinstance(column_type, Integer | String):
        return None
    raise TypeError(f"the demo writer does not render {column_type!r} columns for SQLite")


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def refresh_statistics(connection: Connection) -> None:
    """On PostgreSQL, what autovacuum does a minute or so after a bulk load, done now: the statistics,
    so the first worklists are planned on the real numbers, and the visibility map, without which an
    index-only scan (the worklist's page and its count) also reads the table, row by row (1M cases:
    4,500 heap fetches for the city admin's page, 6.4 ms instead of 2.2). VACUUM runs outside a
    transaction: `connection` is in autocommit mode.

    With asynchronous commit (synchronous_commit=off, as on the throwaway servers of scripts/test and
    scripts/bench) PostgreSQL may not mark rows visible to all until their commit records are flushed,
    so right after the load VACUUM can leave part of the map to autovacuum."""
    if connection.dialect.name == "postgresql":
        for table in ("cases", "case_materials", "review_tasks", "case_pauses", "case_counters"):
            connection.execute(text(f"VACUUM (ANALYZE) {table}"))
