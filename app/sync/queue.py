"""The sender's queue: unsent outbox events read one batch at a time, encoded for the wire, and
marked once the upstream has answered.

Encoding is the sender's hot path (a city drains a backlog of 100,000 events to the province), so
the payload goes out as the JSON text the database holds — `CAST(payload AS TEXT)`, not decoded into
Python and encoded again — and each event is written as a JSON object by hand from fields that are
encoded one by one. The result is the object `protocol.event_json` describes (tests compare them).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, case, cast, func, select, type_coerce, update
from sqlalchemy.orm import Session

from app.sync import protocol
from app.sync.models import OutboxEvent

UNSENT = OutboxEvent.sent_at.is_(None)
# occurred_at as stored (SQLite: text; PostgreSQL: the driver's datetime): SQLAlchemy's SQLite
# datetime parser costs ~40 µs an event, more than all the rest of the encoding.
QUEUE_COLUMNS = (OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.tenant_code, OutboxEvent.aggregate_type,
                 OutboxEvent.aggregate_id, OutboxEvent.aggregate_seq, OutboxEvent.type, OutboxEvent.payload_version,
                 cast(OutboxEvent.payload, Text).label("payload_text"),
                 type_coerce(OutboxEvent.occurred_at, Text).label("occurred_raw"))
SQLITE_TIME_LENGTH = len("2026-11-27 04:12:00.123456")  # SQLAlchemy's SQLite DATETIME storage format
PLAIN = re.compile(r"[A-Za-z0-9._:+-]*")  # text that is its own JSON string body
EVENT_TEMPLATE = ('{"event_id":%s,"tenant_code":%s,"aggregate_type":%s,"aggregate_id":%s,"aggregate_seq":%d,'
                  '"type":%s,"payload_version":%d,"payload":%s,"occurred_at":%s}')


@dataclass(frozen=True)
class Batch:
    ids: list[int]
    event_ids: list[str]
    events: list[str]  # each event's JSON text, in id order
    next_oldest_at: dt.datetime | None  # the first unsent event after this batch, if any

    @property
    def more(self) -> bool:
        return self.next_oldest_at is not None


def read_batch(session: Session, node_id: str, size: int) -> Batch:
    """Up to `size` unsent events in id order, plus one more to learn what is left (memory is one
    batch, however long the queue)."""
    query = select(*QUEUE_COLUMNS).where(UNSENT).order_by(OutboxEvent.id).limit(size + 1)
    rows = session.execute(query).all()
    extra = rows[size] if len(rows) > size else None
    rows = rows[:size]
    event_ids = [row.event_id or protocol.local_event_id(node_id, row.id) for row in rows]
    return Batch(ids=[row.id for row in rows], event_ids=event_ids,
                 events=[event_text(row, event_id) for row, event_id in zip(rows, event_ids, strict=True)],
                 next_oldest_at=utc_moment(extra.occurred_raw) if extra is not None else None)


def event_text(row: Any, event_id: str) -> str:
    """One event as JSON text: protocol.event_json's object, with the payload passed through as stored."""
    return EVENT_TEMPLATE % (
        _string(event_id), _string(row.tenant_code), _string(row.aggregate_type), _string(row.aggregate_id),
        row.aggregate_seq, _string(row.type), row.payload_version, row.payload_text, _wire_time(row.occurred_raw),
    )


def _wire_time(value: str | dt.datetime) -> str:
    """occurred_at as a JSON string, ISO 8601 in UTC with microseconds (as protocol.event_json writes it)."""
    if isinstance(value, str) and len(value) == SQLITE_TIME_LENGTH and value[10] == " ":
        return f'"{value[:10]}T{value[11:]}+00:00"'  # SQLite's storage format, already UTC: no parsing
    return _string(utc_moment(value).isoformat(timespec="microseconds"))


def encode_body(batch_id: str, batch: Batch, backlog: int) -> bytes:
    """The request body; `sender` is this node's backlog once this batch is through."""
    oldest = batch.next_oldest_at.isoformat() if batch.next_oldest_at else None
    sender = json.dumps({"backlog": backlog, "oldest_unsent_at": oldest}, separators=(",", ":"))
    return f'{{"batch_id":"{batch_id}","events":[{",".join(batch.events)}],"sender":{sender}}}'.encode()


def utc_moment(value: str | dt.datetime) -> dt.datetime:
    """A stored time in UTC: SQLite gives 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, no zone), PostgreSQL a datetime."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _string(value: str) -> str:
    """A JSON string; ids, codes and type names need no escaping, so they skip the encoder."""
    return f'"{value}"' if PLAIN.fullmatch(value) else json.dumps(value, ensure_ascii=False)


# --- after the answer ---

def mark_sent(session: Session, ids: list[int], results: list[tuple[str, str]], now: dt.datetime) -> None:
    """Accepted and duplicate events in one UPDATE; each rejected event with its reason."""
    delivered = [i for i, (status, _r) in zip(ids, results, strict=True) if status != protocol.REJECTED]
    duplicates = [i for i, (status, _r) in zip(ids, results, strict=True) if status == protocol.DUPLICATE]
    if delivered:
        status: Any = protocol.ACCEPTED
        if duplicates and len(duplicates) < len(delivered):
            status = case((OutboxEvent.id.in_(duplicates), protocol.DUPLICATE), else_=protocol.ACCEPTED)
        elif duplicates:
            status = protocol.DUPLICATE
        session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(delivered))
                        .values(sent_at=now, upstream_status=status, upstream_reason="")
                        .execution_options(synchronize_session=False))
    for event_id, (status, reason) in zip(ids, results, strict=True):
        if status == protocol.REJECTED:
            session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id)
                            .values(sent_at=now, upstream_status=protocol.REJECTED, upstream_reason=reason)
                            .execution_options(synchronize_session=False))


def count_unsent(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxEvent).where(UNSENT)) or 0)
