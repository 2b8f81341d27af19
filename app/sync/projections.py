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
from collections.abc import Iterable, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import JSON, CursorResult, Table, Text, bindparam, column, delete, func, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from app.core.db import insert_on_conflict
from app.core.tenancy import subtree_range
from app.sync import protocol
from app.sync.models import (
    CaseIndexEntry,
    OutboxEvent,
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
SEEN = cast(Table, SeenBatch.__table__)
NODES = cast(Table, SyncNode.__table__)
Row = dict[str, Any]  # a checked event, with the columns of sync_received
RECEIVED_COLUMNS = (*protocol.EVENT_FIELDS, "from_node", "received_at")
RELAYED_COLUMNS = (*protocol.EVENT_FIELDS, "sent_at", "upstream_status", "upstream_reason")  # of sync_outbox


def _insert(session: Session, table: Table) -> Any:
    return insert_on_conflict(session.get_bind().dialect.name, table)


class Bulk:
    """Many rows in one INSERT (… ON CONFLICT …, RETURNING …) on either database.

    SQLite: executemany, which its driver loops in C. PostgreSQL: the rows as one JSON document and
    `INSERT … SELECT … FROM json_to_recordset(…)` — a short statement psycopg prepares once, and one
    parameter the server parses in C. (executemany sends a statement per row; a multi-row VALUES is
    hundreds of KB of SQL that psycopg parses anew for every batch; arrays are escaped element by
    element in Python: each costs tens of ms per 500 events.) JSON columns travel as text inside the
    document and are cast back: json_to_recordset cannot unpack a \\u0000 escape, the json type keeps it."""

    def __init__(self, session: Session, table: Table, columns: Sequence[str]) -> None:
        self.session, self.columns = session, tuple(columns)
        self.json_columns = {name for name in self.columns if isinstance(table.c[name].type, JSON)}
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.insert = _insert(session, table)
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

    def execute(self, statement: Any, rows: Sequence[Row]) -> CursorResult[Any]:
        """Run `statement` (made from `self.insert`) for `rows`, in their order."""
        records = [self._record(row) for row in rows]
        params: Any = {"rows": orjson.dumps(records).decode()} if self.postgres else records
        return cast(CursorResult[Any], self.session.execute(statement, params))

    def _record(self, row: Row) -> dict[str, Any]:
        """orjson writes times as ISO 8601, which PostgreSQL reads back into the record's typed columns."""
        return {name: protocol.json_text(row[name]) if name in self.json_columns else row[name]
                for name in self.columns}


# --- the batch -----------------------------------------------------------------------------------------

def remember_batch(session: Session, node_id: str, batch_id: str, now: dt.datetime, skew_seconds: int) -> bool:
    """Record the batch id; False if this node sent it before (a replay). Ids older than twice the clock
    skew are dropped: a replay of them carries a timestamp the skew check refuses anyway."""
    session.execute(delete(SEEN).where(SEEN.c.node_id == node_id,
                                       SEEN.c.received_at < now - dt.timedelta(seconds=2 * skew_seconds)))
    statement = (_insert(session, SEEN).values(node_id=node_id, batch_id=batch_id, received_at=now)
                 .on_conflict_do_nothing(index_elements=["node_id", "batch_id"]).returning(SEEN.c.batch_id))
    return session.execute(statement).first() is not None


def store_events(session: Session, rows: Sequence[Row]) -> set[str]:
    """Insert the events not stored yet; the ids of those that were new. A concurrent delivery of the same
    events waits on the unique index and then finds them there, so an event is never stored twice."""
    if not rows:
        return set()
    ordered = sorted(rows, key=lambda row: row["event_id"])
    if session.get_bind().dialect.name == "sqlite":
        return _store_events_sqlite(session, ordered)
    bulk = Bulk(session, RECEIVED, RECEIVED_COLUMNS)
    statement = bulk.insert.on_conflict_do_nothing(index_elements=["event_id"]).returning(RECEIVED.c.event_id)
    return set(bulk.execute(statement, ordered).scalars())


# sync_received's columns in the order _sqlite_record gives them: JSON and times last, converted.
SQLITE_COLUMNS = (*(name for name in RECEIVED_COLUMNS if name not in ("payload", "occurred_at", "received_at")),
                  "payload", "occurred_at", "received_at")
SQLITE_STORE = (f"INSERT INTO {RECEIVED.name} ({', '.join(SQLITE_COLUMNS)}) "  # noqa: S608 — names of this module
                f"VALUES ({', '.join('?' * len(SQLITE_COLUMNS))}) ON CONFLICT (event_id) DO NOTHING")


def _store_events_sqlite(session: Session, rows: Sequence[Row]) -> set[str]:
    """SQLite: look up which ids are stored, then one executemany of the new rows as the driver takes
    them (SQLAlchemy's per-row work costs more than SQLite's). The batch holds SQLite's single write lock
    since remember_batch, so no other writer can store these ids in between — and if one ever did, the
    row count says so and the whole batch fails (to be resent) rather than count an event twice."""
    ids = [row["event_id"] for row in rows]
    known = set(session.scalars(select(RECEIVED.c.event_id).where(RECEIVED.c.event_id.in_(ids))))
    new = [row for row in rows if row["event_id"] not in known]
    if new:
        received_at = _sqlite_time(new[0]["received_at"])  # one time for the whole batch
        records = [_sqlite_record(row, received_at) for row in new]
        stored = session.connection().exec_driver_sql(SQLITE_STORE, records).rowcount
        if stored != len(new):
            raise RuntimeError(f"sync_received: {len(new) - stored} of {len(new)} events stored meanwhile by "
                               "another writer; the batch is refused and will be resent")
    return {row["event_id"] for row in new}


def _sqlite_record(row: Row, received_at: str) -> tuple[Any, ...]:
    """A row as SQLAlchemy would store it in SQLite: JSON as text, times in UTC as text."""
    plain = tuple(row[name] for name in SQLITE_COLUMNS[:-3])
    return (*plain, protocol.json_text(row["payload"]), _sqlite_time(row["occurred_at"]), received_at)


def _sqlite_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


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
             "tenant_code": _text_field(event, "tenant_code", 40), "reason": storable(reason), "event": event,
             "received_at": now} for event, reason in rejected]
    session.execute(REJECTED.insert(), rows)


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
                "last_seq": row["aggregate_seq"], "last_type": row["type"], "snapshot": row["payload"]["case"],
                "updated_at": now} for number, row in sorted(latest.items())]
    bulk = Bulk(session, CASE_INDEX, list(entries[0]))
    newer = bulk.insert.excluded
    statement = bulk.insert.on_conflict_do_update(
        index_elements=["number"], set_={name: newer[name] for name in entries[0] if name != "number"},
        where=CASE_INDEX.c.last_seq < newer.last_seq,
    )
    bulk.execute(statement, entries)


def count_place_days(session: Session, rows: Iterable[Row]) -> None:
    """Add each newly stored event to its (place, China day, type) count."""
    counts = Counter((row["tenant_code"], protocol.china_day(row["occurred_at"]), row["type"]) for row in rows)
    if not counts:
        return
    bulk = Bulk(session, DAY_COUNTS, ("tenant_code", "day", "type", "count"))
    statement = bulk.insert.on_conflict_do_update(index_elements=["tenant_code", "day", "type"],
                                                  set_={"count": DAY_COUNTS.c.count + bulk.insert.excluded.count})
    bulk.execute(statement, [{"tenant_code": code, "day": day, "type": kind, "count": count}
                             for (code, day, kind), count in sorted(counts.items())])


def relay(session: Session, rows: Sequence[Row]) -> None:
    """Queue newly stored events for this node's own upstream, with their global id and aggregate sequence
    as they came (`outbox.emit` would make them this node's events and number them anew)."""
    if not rows:
        return
    bulk = Bulk(session, OUTBOX, RELAYED_COLUMNS)
    bulk.execute(bulk.insert, [{**row, "sent_at": None, "upstream_status": "", "upstream_reason": ""}
                               for row in rows])


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


def cell_summaries(cells: dict[Cell, list[str]]) -> list[dict[str, Any]]:
    return [{"tenant_code": code, "day": day.isoformat(), "count": len(ids), "checksum": protocol.cell_checksum(ids)}
            for (code, day), ids in sorted(cells.items())]
