"""The sender's queue: unsent outbox events read one batch at a time, encoded for the wire, and
marked once the upstream has answered.

Encoding is the sender's hot path (a city drains a backlog of 100,000 events to the province), so the
database writes each event's JSON text in the query that reads the batch: the payload as the text it
holds (not decoded into Python and encoded again), the other fields quoted by the database's own JSON
functions, only the time appended here. The result is the object `protocol.event_json` describes
(tests compare them).
"""

from __future__ import annotations

import datetime as dt
import json
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Dialect, Integer, Table, Text, bindparam, cast, func, literal, select, type_coerce, update
from sqlalchemy.orm import Session

from app.core.db import SQLITE_TIME_LENGTH
from app.sync import protocol
from app.sync.models import OutboxEvent, OutboxPayload

UNSENT = OutboxEvent.sent_at.is_(None)


@dataclass(frozen=True)
class Batch:
    ids: list[int]
    event_ids: list[str]
    events: list[str]  # each event's JSON text, in id order
    next_oldest_at: dt.datetime | None  # the first unsent event after this batch, if any

    @property
    def more(self) -> bool:
        return self.next_oldest_at is not None


def read_batch(session: Session, node_id: str, size: int, after: int = 0) -> Batch:
    """Up to `size` unsent events in id order after id `after` (earlier ones may be on the wire), plus
    one more to learn what is left (memory is one batch, however long the queue)."""
    sql, names, values = _batch_query(session.get_bind().dialect, node_id)
    values = values | {"after": after, "limit": size + 1}
    params: Any = tuple(values[name] for name in names) if names else values
    rows = session.connection().exec_driver_sql(sql, params).all()
    extra = rows[size] if len(rows) > size else None
    rows = rows[:size]
    return Batch(ids=[row.id for row in rows], event_ids=[row.event_id for row in rows],
                 events=[row.head + _wire_time(row.occurred_raw) + "}" for row in rows],
                 next_oldest_at=utc_moment(extra.occurred_raw) if extra is not None else None)


@lru_cache(maxsize=16)  # per engine's dialect: a test suite makes many engines
def _batch_query(dialect: Dialect, node_id: str) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """The batch query compiled once per process: SQL, the order of its parameters (positional drivers)
    and their values. Building and compiling the expression costs five times running it."""
    query = (select(*wire_columns(dialect.name, node_id))
             .join_from(OutboxEvent, OutboxPayload, OutboxPayload.id == OutboxEvent.id)
             .where(UNSENT, OutboxEvent.id > bindparam("after", type_=Integer)).order_by(OutboxEvent.id)
             .limit(bindparam("limit", type_=Integer)))
    compiled = query.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params)


def wire_columns(dialect: str, node_id: str) -> tuple[Any, ...]:
    """id, the global event id, the event's JSON text up to its time (`head`), and the time as stored
    (SQLite: text; PostgreSQL: the driver's datetime — SQLAlchemy's SQLite datetime parser would cost
    more than all the rest)."""
    def quoted(value: Any) -> Any:  # a JSON string, escaped by the database
        return func.json_quote(value) if dialect == "sqlite" else cast(func.to_json(value), Text)

    event_id = func.coalesce(OutboxEvent.event_id, literal(f"{node_id}:") + cast(OutboxEvent.id, Text))
    head = (literal('{"event_id":') + quoted(event_id) + literal(',"tenant_code":') + quoted(OutboxEvent.tenant_code)
            + literal(',"aggregate_type":') + quoted(OutboxEvent.aggregate_type)
            + literal(',"aggregate_id":') + quoted(OutboxEvent.aggregate_id)
            + literal(',"aggregate_seq":') + cast(OutboxEvent.aggregate_seq, Text)
            + literal(',"type":') + quoted(OutboxEvent.type)
            + literal(',"payload_version":') + cast(OutboxEvent.payload_version, Text)
            + literal(',"payload":') + cast(OutboxPayload.payload, Text) + literal(',"occurred_at":'))
    return (OutboxEvent.id, event_id.label("event_id"), head.label("head"),
            type_coerce(OutboxEvent.occurred_at, Text).label("occurred_raw"))


def _wire_time(value: str | dt.datetime) -> str:
    """occurred_at as a JSON string, ISO 8601 in UTC with microseconds (as protocol.event_json writes it)."""
    if isinstance(value, str) and len(value) == SQLITE_TIME_LENGTH and value[10] == " ":
        return f'"{value[:10]}T{value[11:]}+00:00"'  # SQLite's storage format, already UTC: no parsing
    return json.dumps(utc_moment(value).isoformat(timespec="microseconds"))


def encode_body(batch_id: str, batch: Batch, backlog: int) -> bytes:
    """The request body; `sender` is this node's backlog once this batch is through."""
    oldest = batch.next_oldest_at.isoformat() if batch.next_oldest_at else None
    sender = json.dumps({"backlog": backlog, "oldest_unsent_at": oldest}, separators=(",", ":"))
    return f'{{"batch_id":"{batch_id}","events":[{",".join(batch.events)}],"sender":{sender}}}'.encode()


def utc_moment(value: str | dt.datetime) -> dt.datetime:
    """A stored time in UTC: SQLite gives 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, no zone), PostgreSQL a datetime."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


# --- after the answer ---

def mark_sent(session: Session, ids: list[int], results: list[tuple[str, str]], now: dt.datetime) -> None:
    """One UPDATE per answer (accepted, duplicate, each reason of refusal), on the session's connection:
    usually one for the whole batch."""
    groups: dict[tuple[str, str], list[int]] = {}
    for row_id, (status, reason) in zip(ids, results, strict=True):
        groups.setdefault((status, reason if status == protocol.REJECTED else ""), []).append(row_id)
    connection = session.connection()
    for (status, reason), group in groups.items():
        connection.execute(MARK, {"ids": group, "at": now, "status": status, "reason": reason})


OUTBOX = typing.cast(Table, OutboxEvent.__table__)
MARK = (update(OUTBOX).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
        .values(sent_at=bindparam("at"), upstream_status=bindparam("status"), upstream_reason=bindparam("reason")))


def count_unsent(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxEvent).where(UNSENT)) or 0)
