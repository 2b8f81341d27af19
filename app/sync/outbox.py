"""The transactional outbox: a reportable change and its event commit together or not at all.

`emit` flushes nothing and commits nothing; it adds one outbox row and bumps the aggregate's
sequence in the caller's transaction. The aggregate head row is locked by that bump until the
transaction ends, so two transactions touching one case number its events 1, 2, 3 … in commit order.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.core.audit import canonical_json
from app.core.db import utcnow
from app.core.tenancy import CODE_PATTERN, ScopeViolation, get_scope
from app.sync.models import AggregateHead, OutboxEvent

if TYPE_CHECKING:
    from app.cases.models import Case

HEADS = cast(Table, AggregateHead.__table__)
CASE_PAYLOAD_VERSION = 1
TENANT_PAYLOAD_VERSION = 1


def emit(session: Session, *, tenant_code: str, aggregate_type: str, aggregate_id: str, type: str,
         payload: dict[str, Any], payload_version: int, occurred_at: dt.datetime | None = None) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction."""
    _check_may_write(session, tenant_code)
    event = OutboxEvent(
        tenant_code=tenant_code, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
        aggregate_seq=_next_seq(session, aggregate_type, aggregate_id), type=type,
        payload_version=payload_version, payload=json.loads(canonical_json(payload)),
        occurred_at=occurred_at or utcnow(),
    )
    session.add(event)
    return event


def _next_seq(session: Session, aggregate_type: str, aggregate_id: str) -> int:
    """One statement: create the head at 1 or add 1, and read the result back (RETURNING)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(HEADS).values(aggregate_type=aggregate_type, aggregate_id=aggregate_id, last_seq=1)
        .on_conflict_do_update(index_elements=["aggregate_type", "aggregate_id"],
                               set_={"last_seq": HEADS.c.last_seq + 1})
        .returning(HEADS.c.last_seq)
    )
    return int(session.execute(statement).scalar_one())


def _check_may_write(session: Session, tenant_code: str) -> None:
    """The head bump is a Core statement the flush hook does not see: check the place here."""
    if not CODE_PATTERN.fullmatch(tenant_code):
        raise ValueError(f"'{tenant_code}' is not a 12-digit division code")
    scope = get_scope(session)
    if not scope.writable or not scope.contains(tenant_code):
        raise ScopeViolation(f"reporting events of tenant {tenant_code} is outside this scope")


# ----------------------------------------------------------------- cases ---

def emit_case_event(session: Session, case: Case, kind: str, actor: str, data: dict[str, Any]) -> OutboxEvent:
    """A case stage as the provincial spec reports it (DOMAIN §4): the case as it now stands, and
    the step that brought it there (step name, handler, time, opinion …)."""
    now = utcnow()
    payload = {"case": case_snapshot(case), "step": {"name": kind, "handler": actor, "at": now, "data": data}}
    return emit(session, tenant_code=case.tenant_code, aggregate_type="case", aggregate_id=case.number,
                type=f"case.{kind}", payload=payload, payload_version=CASE_PAYLOAD_VERSION, occurred_at=now)


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
