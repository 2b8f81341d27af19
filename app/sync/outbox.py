"""The transactional outbox: a reportable change and its event commit together or not at all.

`emit` flushes nothing and commits nothing; it adds one outbox row and bumps the aggregate's
sequence in the caller's transaction. The aggregate head row is locked by that bump until the
transaction ends, so two transactions touching one case number its events 1, 2, 3 … in commit order.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, Text, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from app.core.audit import canonical_json
from app.core.db import insert_on_conflict, utcnow
from app.core.tenancy import ScopeViolation, check_core_write, get_scope
from app.sync.models import AggregateHead, OutboxEvent, OutboxPayload

if TYPE_CHECKING:
    from app.cases.models import Case

HEADS = cast(Table, AggregateHead.__table__)
OUTBOX = cast(Table, OutboxEvent.__table__)
PAYLOADS = cast(Table, OutboxPayload.__table__)
CASE_PAYLOAD_VERSION = 1
TENANT_PAYLOAD_VERSION = 1


def emit(session: Session, *, tenant_code: str, aggregate_type: str, aggregate_id: str, type: str,
         payload: dict[str, Any], payload_version: int, occurred_at: dt.datetime | None = None) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction."""
    check_core_write(session, tenant_code, "reporting events")  # the sequence head is a Core upsert
    event = OutboxEvent(
        tenant_code=tenant_code, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
        aggregate_seq=_next_seq(session, aggregate_type, aggregate_id), type=type,
        payload_version=payload_version, payload=json.loads(canonical_json(payload)),
        occurred_at=occurred_at or utcnow(),
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class NewEvent:
    tenant_code: str
    aggregate_type: str
    aggregate_id: str
    type: str
    payload: dict[str, Any]
    payload_version: int


def emit_many(session: Session, events: list[NewEvent], chunk: int = 500) -> None:
    """Bulk `emit` for system work (tenant-file apply over a whole province: thousands of places):
    a few statements per chunk instead of two per event. Only in the system scope, whose callers
    (the applier) are serialised by the database's write lock or their own transaction."""
    if not get_scope(session).unrestricted:
        raise ScopeViolation("bulk reporting needs the system scope")
    now = utcnow()
    for start in range(0, len(events), chunk):
        part = events[start:start + chunk]
        seqs = _bump_heads(session, [(e.aggregate_type, e.aggregate_id) for e in part])
        ids = session.scalars(insert(OutboxEvent).returning(OutboxEvent.id, sort_by_parameter_order=True), [
            {"tenant_code": e.tenant_code, "aggregate_type": e.aggregate_type, "aggregate_id": e.aggregate_id,
             "aggregate_seq": seq, "type": e.type, "payload_version": e.payload_version, "occurred_at": now,
             "upstream_status": "", "upstream_reason": ""}
            for e, seq in zip(part, seqs, strict=True)
        ]).all()
        session.execute(insert(OutboxPayload), [{"id": event_id, "payload": json.loads(canonical_json(e.payload))}
                                                for event_id, e in zip(ids, part, strict=True)])


def _bump_heads(session: Session, keys: list[tuple[str, str]]) -> list[int]:
    """The next sequence number of each aggregate in `keys` (distinct keys), heads updated in bulk."""
    if len(set(keys)) != len(keys):
        raise ValueError("one event per aggregate per bulk chunk")
    query = (select(HEADS.c.aggregate_type, HEADS.c.aggregate_id, HEADS.c.last_seq)
             .where(HEADS.c.aggregate_type.in_({k[0] for k in keys}), HEADS.c.aggregate_id.in_({k[1] for k in keys})))
    wanted = set(keys)
    existing = {(t, i): seq for t, i, seq in session.execute(query) if (t, i) in wanted}
    known = [{"t": k[0], "i": k[1], "s": existing[k] + 1} for k in keys if k in existing]
    if known:
        session.execute(
            update(HEADS).where(HEADS.c.aggregate_type == bindparam("t"), HEADS.c.aggregate_id == bindparam("i"))
            .values(last_seq=bindparam("s")), known)
    new = [{"aggregate_type": k[0], "aggregate_id": k[1], "last_seq": 1} for k in keys if k not in existing]
    if new:
        session.execute(insert(HEADS), new)
    return [existing.get(k, 0) + 1 for k in keys]


def _next_seq(session: Session, aggregate_type: str, aggregate_id: str) -> int:
    """One statement: create the head at 1 or add 1, and read the result back (RETURNING)."""
    # On the session's connection: the same transaction, without the ORM's statement handling, which
    # cost four times the statement itself (every case step runs this).
    connection = session.connection()
    statement = _bump_head(connection.dialect.name)
    return int(connection.execute(statement, {"t": aggregate_type, "i": aggregate_id}).scalar_one())


@cache
def _bump_head(dialect: str) -> Any:
    """Built once per dialect: every case step runs it, and building it costs more than running it."""
    return (
        insert_on_conflict(dialect, HEADS).values(aggregate_type=bindparam("t"), aggregate_id=bindparam("i"),
                                                  last_seq=1)
        .on_conflict_do_update(index_elements=["aggregate_type", "aggregate_id"],
                               set_={"last_seq": HEADS.c.last_seq + 1})
        .returning(HEADS.c.last_seq)
    )


# ----------------------------------------------------------------- cases ---

def emit_case_event(session: Session, case: Case, kind: str, actor: str, data: dict[str, Any]) -> int:
    """A case stage as the provincial spec reports it (DOMAIN §4): the case as it now stands, and
    the step that brought it there (step name, handler, time, opinion …); the event's row id.

    Every case step runs this, so it writes with Core on the session's connection (the ORM's flush cost
    more than the statements): on PostgreSQL one statement bumps the case's sequence and writes the
    event and its payload; SQLite, in-process, runs the three."""
    check_core_write(session, case.tenant_code, "reporting events")
    now = utcnow()
    payload = {"case": case_snapshot(case), "step": {"name": kind, "handler": actor, "at": now, "data": data}}
    values = {"t": case.tenant_code, "i": case.number, "type": f"case.{kind}", "v": CASE_PAYLOAD_VERSION,
              "at": now, "payload": canonical_json(payload)}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return int(connection.execute(CASE_EVENT_POSTGRESQL, values).scalar_one())
    seq = _next_seq(session, "case", case.number)
    event_id = int(connection.execute(_case_event_row(), values | {"seq": seq}).scalar_one())
    connection.execute(_payload_row(), {"id": event_id, "payload": values["payload"]})
    return event_id


CASE_EVENT_POSTGRESQL = text("""
    WITH head AS (
        INSERT INTO sync_aggregate_heads (aggregate_type, aggregate_id, last_seq) VALUES ('case', :i, 1)
        ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last_seq = sync_aggregate_heads.last_seq + 1
        RETURNING last_seq),
    event AS (
        INSERT INTO sync_outbox (tenant_code, aggregate_type, aggregate_id, aggregate_seq, type, payload_version,
                                 occurred_at, upstream_status, upstream_reason)
        SELECT :t, 'case', :i, head.last_seq, :type, :v, :at, '', '' FROM head RETURNING id)
    INSERT INTO sync_outbox_payloads (id, payload) SELECT id, CAST(:payload AS JSON) FROM event RETURNING id
""")


@cache
def _case_event_row() -> Any:
    return insert(OUTBOX).values(
        tenant_code=bindparam("t"), aggregate_type="case", aggregate_id=bindparam("i"), aggregate_seq=bindparam("seq"),
        type=bindparam("type"), payload_version=bindparam("v"), occurred_at=bindparam("at"), upstream_status="",
        upstream_reason="").returning(OUTBOX.c.id)


@cache
def _payload_row() -> Any:
    """The payload as the canonical JSON text already made (the column type would encode it again)."""
    return insert(PAYLOADS).values(id=bindparam("id"), payload=bindparam("payload", type_=Text))


def case_snapshot(case: Case) -> dict[str, Any]:
    """The reported fields of a case. The ID number goes up unmasked: the provincial spec requires it
    and the upstream is the same government system; screens and logs mask it everywhere."""
    return {
        "number": case.number, "state": case.state, "channel": case.channel,
        "item_code": case.implementation_code, "item_name": case.item_name,
        "applicant": {"kind": case.applicant_kind, "name": case.applicant_name, "id_type": case.applicant_id_type,
                      "id_number": case.applicant_id_number, "contact_name": case.contact_name,
                      "contact_phone": case.contact_phone, "agent_name": case.agent_name},
        "accepted_at": case.accepted_at, "accepted_by": case.accepted_by, "window": case.window_number,
        "promised_days": case.promised_days, "promised_unit": case.promised_unit,
        "due_date": case.due_date, "statutory_due_date": case.statutory_due_date,
        "decided_at": case.decided_at, "result_code": case.result_code, "refusal_reason": case.refusal_reason,
        "satisfaction": case.satisfaction, "evaluation_refused": case.evaluation_refused,
        "issued_at": case.issued_at, "delivery": case.delivery, "tracking_number": case.tracking_number,
    }
