"""The audit trail (全程留痕): append-only, one hash chain per place.

Every state change records an `AuditEvent` in the caller's transaction. Events of one place
(tenant code) form a chain: event n stores the hash of event n-1 (`prev_hash`) and its own hash
over a canonical encoding of all its fields. A per-place head row holds the chain's last seq and
hash; appending locks that row, so appends to one chain serialise while places never contend.

The database refuses UPDATE and DELETE on the events (triggers, see migration 0003); `verify`
walks the chains and names the first break in each. Someone able to drop the triggers and
rewrite a whole chain with its head can still forge it: anchoring heads elsewhere (upward sync)
is what closes that, not this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    Index,
    Integer,
    Row,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.db import Base, UTCDateTime, insert_on_conflict, utcnow
from app.core.tenancy import Scoped, TenantOwned, check_core_write

GENESIS = "0" * 64  # prev_hash of the first event of every chain
SYSTEM_ACTOR = "system"
BATCH_SIZE = 2000


class AuditEvent(TenantOwned, Base):
    """One recorded state change. Never updated or deleted (the database refuses both)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("tenant_code", "seq"),
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Redeclared without its own index: the (tenant_code, seq) unique index serves every lookup
    # by place and subtree range, and this table takes a write per state change.
    tenant_code: Mapped[str] = mapped_column(String(12))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Scoped, Base):
    """A place's chain head: the last seq and hash. Locked by every append to that chain."""

    __tablename__ = "audit_heads"

    tenant_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


HEADS = cast(Table, AuditHead.__table__)


# ----------------------------------------------------------------- hashing ---

def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text as is (not \\u escapes), no NaN."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"audit data cannot hold {type(value).__name__} values: {value!r}")


def canonical_encoding(event: Any) -> bytes:
    """Every field but `id` (assigned by the database, after hashing) and `hash`, as canonical
    JSON in UTF-8; `at` in UTC ISO 8601 with microseconds. `event` is an `AuditEvent` or a row
    with the same attribute names."""
    payload = {
        "tenant_code": event.tenant_code, "seq": event.seq,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": event.actor, "kind": event.kind, "subject_type": event.subject_type,
        "subject_id": event.subject_id, "subject_ref": event.subject_ref, "data": event.data,
        "prev_hash": event.prev_hash,
    }
    return canonical_json(payload).encode("utf-8")


def event_hash(event: Any) -> str:
    return hashlib.sha256(canonical_encoding(event)).hexdigest()


# ------------------------------------------------------------------ record ---

def record(session: Session, *, tenant_code: str, kind: str, actor: str, subject_type: str,
           subject_id: int | str, subject_ref: str = "", data: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event to `tenant_code`'s chain in the caller's transaction (writes, never commits).

    Waits for other transactions appending to the same place (they hold its head row), so a chain
    never forks. `data` must be JSON (dates become ISO strings); it is stored exactly as hashed.
    The event and the head are written with Core statements on the session's connection (every
    case step appends, and the ORM's flush cost several times the statements): the returned
    event carries its id but is not in the session, and pending ORM changes are not flushed."""
    check_core_write(session, tenant_code, "recording audit events")  # covers the event and its head
    if not kind or not actor or not subject_type:
        raise ValueError("an audit event needs a kind, an actor and a subject type")
    # What is stored must read back equal to what was hashed: tuples, int keys and dates do not.
    stored_data = json.loads(canonical_json(data or {}))
    connection = session.connection()
    last_seq, last_hash = _locked_head(connection, tenant_code)
    event = AuditEvent(
        tenant_code=tenant_code, seq=last_seq + 1, at=utcnow(), actor=actor, kind=kind,
        subject_type=subject_type, subject_id=str(subject_id), subject_ref=subject_ref,
        data=stored_data, prev_hash=last_hash,
    )
    event.hash = event_hash(event)
    values = {name: getattr(event, name) for name in EVENT_FIELDS}
    event.id = _append(connection, values)
    return event


EVENTS = cast(Table, AuditEvent.__table__)
EVENT_FIELDS = ("tenant_code", "seq", "at", "actor", "kind", "subject_type", "subject_id", "subject_ref", "data",
                "prev_hash", "hash")
# LOCK_HEAD locks the head until the transaction ends (SQLite has no FOR UPDATE: there the INSERT
# of `_locked_head` takes the write lock). The place is the parameter `place`: one named like a
# column of the head would become part of the UPDATE's SET clause.
LOCK_HEAD = (select(HEADS.c.last_seq, HEADS.c.last_hash).where(HEADS.c.tenant_code == bindparam("place"))
             .with_for_update())
MOVE_HEAD = (update(HEADS).where(HEADS.c.tenant_code == bindparam("place"))
             .values(last_seq=bindparam("seq"), last_hash=bindparam("hash")))
INSERT_EVENT = insert(EVENTS).returning(EVENTS.c.id)


def _locked_head(connection: Connection, tenant_code: str) -> tuple[int, str]:
    """(last seq, last hash) of the place's head, created if missing, locked until the caller's
    transaction ends.

    PostgreSQL: SELECT … FOR UPDATE waits for the holder; only a missing head costs the INSERT
    (which waits for a concurrent creator) and a second SELECT. SQLite: the INSERT comes first
    every time, as it takes the database's single write lock before the head is read (a read
    first could append on a stale head and fail at the write)."""
    params = {"place": tenant_code}
    if connection.dialect.name == "postgresql":
        row = connection.execute(LOCK_HEAD, params).first()
        if row is not None:
            return row.last_seq, row.last_hash
    connection.execute(_create_head(connection.dialect.name), params)
    row = connection.execute(LOCK_HEAD, params).one()
    return row.last_seq, row.last_hash


@cache
def _create_head(dialect: str) -> Any:
    """Built once per dialect (building it cost more than running it)."""
    return (insert_on_conflict(dialect, HEADS)
            .values(tenant_code=bindparam("place"), last_seq=0, last_hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["tenant_code"]))


def _append(connection: Connection, values: dict[str, Any]) -> int:
    """Insert the event and move the head onto it; the event's id. PostgreSQL does both in one
    statement (the head's UPDATE as a data-modifying WITH), SQLite in two."""
    if connection.dialect.name == "postgresql":
        return int(connection.execute(_append_with_head(), _with_place(values)).scalar_one())
    event_id = int(connection.execute(INSERT_EVENT, values).scalar_one())
    connection.execute(MOVE_HEAD, {"place": values["tenant_code"], "seq": values["seq"], "hash": values["hash"]})
    return event_id


def _with_place(values: dict[str, Any]) -> dict[str, Any]:
    """The event's values with its tenant_code named `place` (see MOVE_HEAD)."""
    named = dict(values)
    named["place"] = named.pop("tenant_code")
    return named


@cache
def _append_with_head() -> Any:
    """Built once: WITH moved_head AS (UPDATE audit_heads …) INSERT INTO audit_events … RETURNING id.
    The event's place, seq and hash are the head's new values too (shared parameters)."""
    values: dict[str, Any] = {name: bindparam("place" if name == "tenant_code" else name) for name in EVENT_FIELDS}
    return insert(EVENTS).values(values).add_cte(MOVE_HEAD.cte("moved_head")).returning(EVENTS.c.id)


# -------------------------------------------------------------------- read ---

def events_for(session: Session, subject_type: str, subject_id: int | str) -> list[AuditEvent]:
    """The timeline of one subject (a case, a window …), oldest first, within the session's scope."""
    query = (select(AuditEvent)
             .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == str(subject_id))
             .order_by(AuditEvent.at, AuditEvent.tenant_code, AuditEvent.seq))
    return list(session.scalars(query))


# ------------------------------------------------------------------ verify ---

class Tampering(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    HEAD_MISMATCH = "head mismatch"


@dataclass(frozen=True)
class Problem:
    """The first break found in one place's chain, and the event where it shows."""

    tenant_code: str
    tampering: Tampering
    detail: str
    event_id: int | None = None
    seq: int | None = None
    event_kind: str | None = None

    def __str__(self) -> str:
        where = f"place {self.tenant_code}"
        if self.event_id is not None:
            where += f", event id {self.event_id} seq {self.seq} ({self.event_kind})"
        return f"{where}: {self.tampering}: {self.detail}"


@dataclass
class Report:
    chains: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    missing_guards: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.missing_guards


_COLUMNS = (AuditEvent.id, AuditEvent.tenant_code, AuditEvent.seq, AuditEvent.at, AuditEvent.actor,
            AuditEvent.kind, AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.subject_ref,
            AuditEvent.data, AuditEvent.prev_hash, AuditEvent.hash)
EventRow = Row[Any]


def verify(session: Session, tenant_code: str | None = None, batch_size: int = BATCH_SIZE) -> Report:
    """Walk every chain the session can see (or one place's) in seq order, in batches, and report
    the first problem of each, plus any append-only trigger that is missing."""
    report = Report(missing_guards=missing_guards(session))
    for code in _chains(session, tenant_code):
        count, problem = _verify_chain(session, code, batch_size)
        report.chains += 1
        report.events += count
        if problem is not None:
            report.problems.append(problem)
    return report


def _chains(session: Session, tenant_code: str | None) -> list[str]:
    """Places with a head or with events (a chain whose head row vanished still gets walked)."""
    heads = select(AuditHead.tenant_code)
    events = select(AuditEvent.tenant_code).distinct()
    if tenant_code is not None:
        heads = heads.where(AuditHead.tenant_code == tenant_code)
        events = select(AuditEvent.tenant_code).where(AuditEvent.tenant_code == tenant_code).limit(1)
    return sorted(set(session.scalars(heads)) | set(session.scalars(events)))


def _verify_chain(session: Session, tenant_code: str, batch_size: int) -> tuple[int, Problem | None]:
    head = _head_state(session, tenant_code)
    # Stop at the head read first: events appended while we walk are for the next run.
    up_to = head[0] if head is not None else None
    previous: EventRow | None = None
    count = 0
    for row in _chain_rows(session, tenant_code, up_to, batch_size):
        count += 1
        problem = _check_link(session, row, previous)
        if problem is not None:
            return count, problem
        previous = row
    return count, _check_head(session, tenant_code, head, previous)


def _head_state(session: Session, tenant_code: str) -> tuple[int, str] | None:
    query = select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.tenant_code == tenant_code)
    row = session.execute(query).one_or_none()
    return (row.last_seq, row.last_hash) if row is not None else None


def _chain_rows(session: Session, tenant_code: str, up_to: int | None, batch_size: int) -> Iterator[EventRow]:
    """Keyset pages in seq order: memory stays flat however long the chain is."""
    after = 0
    while True:
        query = (select(*_COLUMNS).where(AuditEvent.tenant_code == tenant_code, AuditEvent.seq > after)
                 .order_by(AuditEvent.seq).limit(batch_size))
        if up_to is not None:
            query = query.where(AuditEvent.seq <= up_to)
        rows = session.execute(query).all()
        yield from rows
        if len(rows) < batch_size:
            return
        after = rows[-1].seq


def _problem(row: EventRow, tampering: Tampering, detail: str) -> Problem:
    return Problem(row.tenant_code, tampering, detail, row.id, row.seq, row.kind)


def _check_link(session: Session, row: EventRow, previous: EventRow | None) -> Problem | None:
    expected_seq = previous.seq + 1 if previous is not None else 1
    expected_prev = previous.hash if previous is not None else GENESIS
    if row.seq != expected_seq:
        missing = f"seq {expected_seq}" if row.seq == expected_seq + 1 else f"seq {expected_seq}–{row.seq - 1}"
        return _problem(row, Tampering.DELETED, f"{missing} missing before this event")
    hash_ok = event_hash(row) == row.hash
    if row.prev_hash == expected_prev:
        return None if hash_ok else _problem(row, Tampering.EDITED, "its content does not match its hash")
    linked = _event_with_hash(session, row.tenant_code, row.prev_hash)
    if linked is not None:
        place = f"after seq {expected_seq - 1}" if previous is not None else "first"
        return _problem(row, Tampering.REORDERED,
                        f"it was written after seq {linked.seq} (event id {linked.id}), not {place}")
    if hash_ok:
        return _problem(row, Tampering.DELETED,
                        "its predecessor is not in the chain: deleted and the chain renumbered, or rewritten")
    return _problem(row, Tampering.EDITED, "its content does not match its hash and its link is broken")


def _event_with_hash(session: Session, tenant_code: str, value: str) -> Row[int, int] | None:
    """(id, seq) of the chain's event with this hash. Only asked after a broken link, so a lookup
    without an index of its own is fine."""
    query = select(AuditEvent.id, AuditEvent.seq).where(AuditEvent.tenant_code == tenant_code,
                                                        AuditEvent.hash == value)
    return session.execute(query.limit(1)).one_or_none()


def _check_head(session: Session, tenant_code: str, head: tuple[int, str] | None,
                last: EventRow | None) -> Problem | None:
    last_seq = last.seq if last is not None else 0
    if head is None:
        return None if last is None else _head_problem(tenant_code, last, "the chain has no head row")
    head_seq, head_hash = head
    if head_seq > last_seq:
        found = f"the last event is seq {last_seq}: events after it" if last is not None else "no event is left: all"
        return _head_problem(tenant_code, last, f"the head says seq {head_seq} but {found} were deleted")
    if last is not None and head_hash != last.hash:
        return _head_problem(tenant_code, last, "the head's hash differs from the last event's hash")
    return _check_beyond_head(session, tenant_code, head_seq, last)


def _check_beyond_head(session: Session, tenant_code: str, head_seq: int, last: EventRow | None) -> Problem | None:
    """Events past the head read at the start are either appended meanwhile (the head has moved
    on since, in the same commit) or inserted behind `record`'s back."""
    query = select(func.max(AuditEvent.seq)).where(AuditEvent.tenant_code == tenant_code,
                                                   AuditEvent.seq > head_seq)
    beyond = session.execute(query).scalar()
    if beyond is None:
        return None
    fresh = _head_state(session, tenant_code)
    if fresh is not None and fresh[0] >= beyond:
        return None
    return _head_problem(tenant_code, last, f"events up to seq {beyond} lie beyond the head (seq {head_seq}): "
                                            "written without moving the head")


def _head_problem(tenant_code: str, last: EventRow | None, detail: str) -> Problem:
    if last is None:
        return Problem(tenant_code, Tampering.HEAD_MISMATCH, detail)
    return _problem(last, Tampering.HEAD_MISMATCH, detail)


# ------------------------------------------------------------------ guards ---

GUARDS = {
    "postgresql": ("audit_events_append_only", "audit_heads_forward_only", "audit_heads_no_truncate"),
    "sqlite": ("audit_events_no_update", "audit_events_no_delete", "audit_heads_forward_only",
               "audit_heads_no_delete"),
}


def missing_guards(session: Session) -> list[str]:
    """Append-only triggers (migration 0003) absent from the database: a table rebuilt by a later
    batch migration on SQLite, or a trigger dropped by hand, loses them silently."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect not in GUARDS:
        return []
    if dialect == "postgresql":
        query = text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                     "AND tgrelid IN ('audit_events'::regclass, 'audit_heads'::regclass)")
    else:
        query = text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                     "AND tbl_name IN ('audit_events', 'audit_heads')")
    present = set(connection.execute(query).scalars())
    return [name for name in GUARDS[dialect] if name not in present]
