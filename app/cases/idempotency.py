"""Idempotency keys for POST /api/v1/cases: a department system that lost the answer to a request
(timeout, dropped connection) sends it again with the same `Idempotency-Key` and gets the case the
first request made, not a second case with a second number.

Keys belong to the staff member whose token sent them and to the place of the case (tenant scope
as everywhere). The same key with a different body is refused: it is a client bug, and guessing
which of the two requests was meant would be worse. Two concurrent requests with one key: the
unique constraint lets one commit; the other rolls back and answers with the winner's case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.cases.models import Case
from app.core.audit import canonical_json
from app.core.auth import Principal
from app.core.db import Base, UTCDateTime, utcnow
from app.core.errors import UserError
from app.core.tenancy import TenantOwned

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,100}")  # visible ASCII, as the IETF draft's examples (UUIDs …)


class KeyReused(UserError):
    """The key was sent before with a different body (422 Unprocessable Content)."""

    status = 422


class CaseRequestKey(TenantOwned, Base):
    """One Idempotency-Key a staff member's system sent, the body's fingerprint and the case it made."""

    __tablename__ = "case_request_keys"
    __table_args__ = (UniqueConstraint("staff_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical JSON body
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def checked_key(value: str | None) -> str | None:
    """The header's key, or None when the client sent none."""
    if value is None:
        return None
    if not KEY_PATTERN.fullmatch(value):
        raise UserError(f"{HEADER} is 1 to 100 visible ASCII characters", place=HEADER)
    return value


def fingerprint(body: object) -> str:
    """The same JSON in any key order or spacing gives the same fingerprint."""
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def earlier_case(session: Session, actor: Principal, key: str, body_hash: str) -> Case | None:
    """The case an earlier request with this key made, if any (and if the caller still sees it)."""
    query = select(CaseRequestKey).where(CaseRequestKey.staff_id == actor.staff_id, CaseRequestKey.key == key)
    earlier = session.scalars(query).one_or_none()
    if earlier is None:
        return None
    if earlier.fingerprint != body_hash:
        raise KeyReused(f"this {HEADER} was used for a different request; use a new key for a new application",
                        place=HEADER)
    return session.get(Case, earlier.case_id)


def remember(session: Session, actor: Principal, key: str, body_hash: str, case: Case) -> None:
    """Store the key with the new case (flushes: a concurrent twin raises IntegrityError here)."""
    session.add(CaseRequestKey(tenant_code=case.tenant_code, staff_id=actor.staff_id, key=key,
                               fingerprint=body_hash, case_id=case.id))
    session.flush()
