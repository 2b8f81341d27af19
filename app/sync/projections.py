"""What an accepted batch writes, in the caller's transaction: the events (once each, by global id),
the events refused, the read models (case index, per-place daily counts), the relay into this node's
own outbox, and the sending node's contact record; and the reconciliation read of what was stored.

Throughput matters (a city drains its backlog to the province at thousands of events a second), so
every write is one bulk statement per table and batch — no ORM objects, no SELECT per event. Rows are
written in key order so that two transactions touching the same keys on PostgreSQL take their locks in
the same order and cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    CursorResult,
    Date,
    Table,
    Text,
    bindparam,
    column,
    delete,
    func,
    select,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from app.core.db import UTCDateTime, insert_on_conflict, sqlite_time
from app.core.tenancy import subtree_range
from app.sync import protocol, wire
from app.sync.models import (
    CaseIndexEntry,
    OutboxEvent,
    OutboxPayload,
    PlaceDayCount,
    ReceivedEvent,
    RejectedEvent,
    SeenBatch,
    SyncNode,
)

RECEIVED = cast(Table, ReceivedEvent.__table__)
REJECTED = cast(Table, RejectedEvent.__table__)
CASE_INDEX = cast(Table, CaseIndexEntry.__table__)
DAY_COUNTS = cast(Table, PlaceDayCount.__table__)
OUTBOX = cast(Table, OutboxEvent.__table__)
OUTBOX_PAYLOADS = cast(Table, OutboxPayload.__table__)
SEEN = cast(Table, SeenBatch.__table__)
NODES = cast(Table, SyncNode.__table__)
Row = dict[str, Any]  # a checked event, with the columns of sync_received
RECEIVED_COLUMNS = (*protocol.EVENT_FIELDS, "from_node", "received_at")
# of sync_outbox (the payload goes to sync_outbox_payloads)
RELAYED_COLUMNS = (*(name for name in protocol.EVENT_FIELDS if name != "payload"), "sent_at", "upstream_status",
                   "upstream_reason")


class Bulk:
    """Many rows in one INSERT (… ON CONFLICT …, RETURNING …) on either database.

    SQLite: executemany, which its driver loops in C. PostgreSQL: the rows as one JSON document and
    `INSERT … SELECT … FROM json_to_recordset(…)` — a short statement psycopg prepares once, and one
    parameter the server parses in C. (executemany sends a statement per row; a multi-row VALUES is
    hundreds of KB of SQL that psycopg parses anew for every batch; arrays are escaped element by
    element in Python: each costs tens of ms per 500 events.) JSON columns travel as text inside the
    document and are cast back: json_to_recordset cannot unpack a \\u0000 escape, the json type keeps it."""

    def __init__(self, dialect: str, table: Table, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.json_columns = {name for name in self.columns if isinstance(table.c[name].type, JSON)}
        self.postgres = dialect == "postgresql"
        self.insert = insert_on_conflict(dialect, table)
        if self.postgres:
            records = (func.json_to_recordset(cast_(bindparam("rows", type_=Text), JSON))
                       .table_valued(*(column(name, Text if name in self.json_columns else table.c[name].type)
                                       for name in self.columns))
                       .render_derived(with_types=True))
            values = (cast_(records.c[name], JSON) if name in self.json_columns else records.c[name]
                      for name in self.columns)
            self.insert = self.insert.from_select(list(self.columns), select(*values))
        else:  # JSON columns are bound as the text _record made (the column type would encode them again)
            self.insert = self.insert.values({name: bindparam(name, type_=Text if name in self.json_columns
                                                              else table.c[name].type) for name in self.columns})
            self.stored_as = {name: _sqlite_storage(table.c[name].type) for name in self.columns}

    @staticmethod
    def of(session: Session, table: Table, columns: Sequence[str]) -> Bulk:
        """The Bulk for these columns, built once per process: building the statements costs more
        than running them."""
        return _bulk(session.get_bind().dialect.name, table, tuple(columns))

    def execute(self, session: Session, statement: Any, rows: Sequence[Row]) -> CursorResult[Any]:
        """Run `statement` (made from `self.insert`) for `rows`, in their order."""
        records = [self._record(row) for row in rows]
        params: Any = {"rows": orjson.dumps(records).decode()} if self.postgres else records
        return cast(CursorResult[Any], session.execute(statement, params))

    def write(self, session: Session, statement: Any, rows: Sequence[Row]) -> int:
        """`execute` for a statement without RETURNING; the rows it changed. SQLite: the statement is
        compiled once and run by the driver's executemany, with the values converted here as SQLAlchemy
        would store them — its per-row work costs more than SQLite's own."""
        if self.postgres:
            return int(self.execute(session, statement, rows).rowcount)
        sql, names = _sqlite_compiled(statement)
        records = list(zip(*(self._stored_column(name, rows) for name in names), strict=True))
        return int(session.connection().exec_driver_sql(sql, records).rowcount)

    def _stored_column(self, name: str, rows: Sequence[Row]) -> list[Any]:
        """One column's values as SQLite stores them, converted column by column (cheaper than row by row);
        a time shared by the rows (received_at) is converted once."""
        values = map(itemgetter(name), rows)
        convert = self.stored_as[name]
        if convert is None:
            return list(values)
        if convert is not protocol.json_text:
            convert = lru_cache(maxsize=None)(convert)
        return [convert(value) for value in values]

    def _record(self, row: Row) -> dict[str, Any]:
        """orjson writes times as ISO 8601, which PostgreSQL reads back into the record's typed columns."""
        return {name: protocol.json_text(row[name]) if name in self.json_columns else row[name]
                for name in self.columns}


@cache
def _bulk(dialect: str, table: Table, columns: tuple[str, ...]) -> Bulk:
    return Bulk(dialect, table, columns)


@cache
def _sqlite_compiled(statement: Any) -> tuple[str, tuple[str, ...]]:
    """The SQL with ? placeholders and the names of the values, in their order."""
    compiled = statement.compile(dialect=sqlite.dialect())
    return str(compiled), tuple(compiled.positiontup)


def _sqlite_storage(column_type: Any) -> Callable[[Any], Any] | None:
    """How SQLAlchemy stores a value of this column type in SQLite; None: as it is."""
    if isinstance(column_type, JSON):
        return protocol.json_text
    if isinstance(column_type, UTCDateTime):
        return sqlite_time
    if isinstance(column_type, Date):
        return _sqlite_day
    return None


def _sqlite_day(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


# --- the batch -----------------------------------------------------------------------------------------

def remember_batch(session: Session, node_id: str, batch_id: str, now: dt.datetime, skew_seconds: int) -> bool:
    """Record the batch id; False if this node sent it before (a replay). Ids older than twice the clock
    skew are dropped: a replay of them carries a timestamp the skew check refuses anyway."""
    session.execute(delete(SEEN).where(SEEN.c.node_id == node_id,
                                       SEEN.c.received_at < now - dt.timedelta(seconds=2 * skew_seconds)))
    statement = _remember(session.get_bind().dialect.name)
    return session.execute(statement, {"n": node_id, "b": batch_id, "at": now}).first() is not None


@cache
def _remember(dialect: str) -> Any:
    return (insert_on_conflict(dialect, SEEN)
            .values(node_id=bindparam("n"), batch_id=bindparam("b"), received_at=bindparam("at", type_=UTCDateTime))
            .on_conflict_do_nothing(index_elements=["node_id", "batch_id"]).returning(SEEN.c.batch_id))


def store_events(session: Session, rows: Sequence[Row]) -> set[str]:
    """Insert the events not stored yet; the ids of those that were new. A concurrent delivery of the same
    events waits on the unique index and then finds them there, so an event is never stored twice."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda row: row["event_id"])
    bulk = Bulk.of(session, RECEIVED, RECEIVED_COLUMNS)
    if bulk.postgres:
        return set(bulk.execute(session, _store_new(bulk), ordered).scalars())
    return _store_new_sqlite(session, bulk, ordered)


@cache
def _store_new(bulk: Bulk) -> Any:
    return bulk.insert.on_conflict_do_nothing(index_elements=["event_id"]).returning(RECEIVED.c.event_id)


@cache
def _ignore_known(bulk: Bulk) -> Any:
    return bulk.insert.on_conflict_do_nothing(index_elements=["event_id"])


def _store_new_sqlite(session: Session, bulk: Bulk, rows: Sequence[Row]) -> set[str]:
    """SQLite's driver returns no rows from executemany, so the new rows are told by their ids: SQLite
    numbers a table's rows upwards, and the batch holds the database's single write lock since
    remember_batch, so every row above the highest id before the insert is one of this batch's. A drain
    (all new) and a resend (none new) need no look-up at all."""
    before = session.scalar(select(func.coalesce(func.max(RECEIVED.c.id), 0)))
    stored = bulk.write(session, _ignore_known(bulk), rows)
    if stored == len(rows):
        return {row["event_id"] for row in rows}
    if stored == 0:
        return set()
    return set(session.scalars(select(RECEIVED.c.event_id).where(RECEIVED.c.id > before)))


IDENTITY = ("tenant_code", "aggregate_type", "aggregate_id", "aggregate_seq", "type")


def clashing_ids(session: Session, repeats: Sequence[Row]) -> set[str]:
    """Ids of `repeats` (events whose id was stored before) that are stored for a different event."""
    query = select(RECEIVED.c.event_id, *(RECEIVED.c[name] for name in IDENTITY)).where(
        RECEIVED.c.event_id.in_([row["event_id"] for row in repeats]))
    stored = {event_id: tuple(identity) for event_id, *identity in session.execute(query)}
    return {row["event_id"] for row in repeats if stored.get(row["event_id"]) != tuple(row[n] for n in IDENTITY)}


def record_rejected(session: Session, node_id: str, rejected: Sequence[tuple[Any, str]], now: dt.datetime) -> None:
    """Keep refused events with their reason for the admin (sync_rejected), as they were sent."""
    if not rejected:
        return
    rows = [{"from_node": node_id, "event_id": _text_field(event, "event_id", 200),
             "tenant_code": _text_field(event, "tenant_code", 40), "reason": storable(reason),
             "event": _as_sent(event), "received_at": now} for event, reason in rejected]
    session.execute(REJECTED.insert(), rows)


def _as_sent(event: Any) -> Any:
    """The event as a document (its payload may be the JSON text it arrived in)."""
    if isinstance(event, dict) and isinstance(event.get("payload"), protocol.JSONText):
        return {**event, "payload": wire.readable(event["payload"])}
    return event


def _text_field(event: Any, name: str, limit: int) -> str:
    value = event.get(name) if isinstance(event, dict) else None
    return storable(value[:limit]) if isinstance(value, str) else ""


def storable(text: str) -> str:
    """Text as sent may hold NUL or lone surrogates, which PostgreSQL refuses in a text column (and the
    whole batch with it): drop and replace them. The event itself is kept as JSON, where they are escaped."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def note_contact(session: Session, node_id: str, stored: int, now: dt.datetime,
                 sender: tuple[int, dt.datetime | None] | None) -> None:
    """Last contact, events received, and the backlog the node reported with this batch (if it did)."""
    values: dict[str, Any] = {"last_contact_at": now, "events_received": NODES.c.events_received + stored}
    if sender is not None:
        values["reported_backlog"], values["reported_oldest_unsent_at"] = sender
    session.execute(update(NODES).where(NODES.c.node_id == node_id).values(**values))


# --- read models ---------------------------------------------------------------------------------------

def project_case_index(session: Session, rows: Iterable[Row], now: dt.datetime) -> None:
    """Upsert the latest known state of each case. Only a higher aggregate sequence replaces an entry
    (checked in the statement itself), so arrival order never changes the result."""
    latest: dict[str, Row] = {}
    for row in rows:
        if row["aggregate_type"] == "case":
            known = latest.get(row["aggregate_id"])
            if known is None or row["aggregate_seq"] > known["aggregate_seq"]:
                latest[row["aggregate_id"]] = row
    if not latest:
        return
    entries = [{"number": number, "tenant_code": row["tenant_code"], "origin_node": origin_of(row["event_id"]),
                "last_seq": row["aggregate_seq"], "last_type": row["type"], "event_id": row["event_id"],
                "updated_at": now} for number, row in sorted(latest.items())]
    bulk = Bulk.of(session, CASE_INDEX, CASE_INDEX_COLUMNS)
    bulk.write(session, _newer_case_state(bulk), entries)


CASE_INDEX_COLUMNS = ("number", "tenant_code", "origin_node", "last_seq", "last_type", "event_id", "updated_at")


@cache
def _newer_case_state(bulk: Bulk) -> Any:
    newer = bulk.insert.excluded
    return bulk.insert.on_conflict_do_update(
        index_elements=["number"], set_={name: newer[name] for name in CASE_INDEX_COLUMNS if name != "number"},
        where=CASE_INDEX.c.last_seq < newer.last_seq,
    )


def count_place_days(session: Session, rows: Iterable[Row]) -> None:
    """Add each newly stored event to its (place, China day, type) count."""
    counts = Counter((row["tenant_code"], protocol.china_day(row["occurred_at"]), row["type"]) for row in rows)
    if not counts:
        return
    bulk = Bulk.of(session, DAY_COUNTS, ("tenant_code", "day", "type", "count"))
    bulk.write(session, _added_counts(bulk), [{"tenant_code": code, "day": day, "type": kind, "count": count}
                                                for (code, day, kind), count in sorted(counts.items())])


@cache
def _added_counts(bulk: Bulk) -> Any:
    return bulk.insert.on_conflict_do_update(index_elements=["tenant_code", "day", "type"],
                                             set_={"count": DAY_COUNTS.c.count + bulk.insert.excluded.count})


def relay(session: Session, rows: Sequence[Row]) -> None:
    """Queue newly stored events for this node's own upstream, with their global id and aggregate sequence
    as they came (`outbox.emit` would make them this node's events and number them anew)."""
    if not rows:
        return
    bulk = Bulk.of(session, OUTBOX, RELAYED_COLUMNS)
    queued = [{**row, "sent_at": None, "upstream_status": "", "upstream_reason": ""} for row in rows]
    ids: dict[str, int] = dict(bulk.execute(session, _queued_ids(bulk), queued).all())  # type: ignore[arg-type]
    payloads = Bulk.of(session, OUTBOX_PAYLOADS, ("id", "payload"))
    payloads.write(session, payloads.insert, [{"id": ids[row["event_id"]], "payload": row["payload"]}
                                                for row in rows])


@cache
def _queued_ids(bulk: Bulk) -> Any:
    return bulk.insert.returning(OUTBOX.c.event_id, OUTBOX.c.id)


def origin_of(event_id: str) -> str:
    return event_id.rpartition(":")[0]


# --- reconciliation ------------------------------------------------------------------------------------

Cell = tuple[str, dt.date]  # (tenant code, China day)


def china_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), protocol.CHINA)


def received_ids(session: Session, node: SyncNode, first: dt.date, last: dt.date,
                 tenants: Iterable[str] | None = None) -> dict[Cell, list[str]]:
    """Event ids received from `node`, by (place, China day), for the days first … last (inclusive).
    Only the node's own subtree is read, whatever it asks."""
    low, high = subtree_range(node.subtree_code)
    query = (select(RECEIVED.c.tenant_code, RECEIVED.c.occurred_at, RECEIVED.c.event_id)
             .where(RECEIVED.c.from_node == node.node_id,
                    RECEIVED.c.occurred_at >= china_midnight(first),
                    RECEIVED.c.occurred_at < china_midnight(last + dt.timedelta(days=1)),
                    RECEIVED.c.tenant_code.between(low, high)))
    if tenants is not None:
        query = query.where(RECEIVED.c.tenant_code.in_(sorted(set(tenants))))
    cells: dict[Cell, list[str]] = {}
    for code, moment, event_id in session.execute(query):
        cells.setdefault((code, protocol.china_day(moment)), []).append(event_id)
    return cells


def highest_sequence(session: Session, node_id: str) -> int:
    """The highest <sequence> of the events received from `node_id` that it made itself ("<node id>:<n>")."""
    prefix = f"{node_id}:"
    number = cast_(func.substr(RECEIVED.c.event_id, len(prefix) + 1), BigInteger)
    query = select(func.max(number)).where(RECEIVED.c.from_node == node_id,
                                           func.substr(RECEIVED.c.event_id, 1, len(prefix)) == prefix)
    return int(session.scalar(query) or 0)


def cell_summaries(cells: dict[Cell, list[str]]) -> list[dict[str, Any]]:
    return [{"tenant_code": code, "day": day.isoformat(), "count": len(ids), "checksum": protocol.cell_checksum(ids)}
            for (code, day), ids in sorted(cells.items())]
