"""Case numbers (办件编号): unique across the province, readable by a clerk.

Format (26 digits): the accepting place's 12-digit division code, the date (YYYYMMDD, China time)
and a 6-digit sequence per place and day — 370102001000 20261127 000042. Division codes are
unique nationally, so two nodes can never issue the same number.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from app.cases.models import CaseCounter
from app.core.db import insert_on_conflict

MAX_PER_DAY = 999_999


class CaseNumberExhausted(Exception):
    pass


def next_case_number(session: Session, tenant_code: str, day: dt.date) -> str:
    """Reserve the next number in one atomic upsert (safe with concurrent clerks on PostgreSQL)."""
    sequence = _increment(session, tenant_code, day)
    if sequence > MAX_PER_DAY:
        raise CaseNumberExhausted(f"{tenant_code} issued {MAX_PER_DAY} case numbers on {day}")
    return f"{tenant_code}{day:%Y%m%d}{sequence:06d}"


def _increment(session: Session, tenant_code: str, day: dt.date) -> int:
    """On the session's connection, in its transaction: the counter is system bookkeeping (no tenant
    scope to add), and the ORM's handling of an INSERT on a mapped class cost more than the
    statement itself, at the start of the stretch the counter row stays locked (scripts/bench)."""
    connection = session.connection()
    statement = _upsert(connection.dialect.name)
    return int(connection.execute(statement, {"tenant_code": tenant_code, "day": day}).scalar_one())


@cache
def _upsert(dialect: str) -> Any:
    """Built once per dialect: every acceptance runs it, and building it cost more than running it."""
    upsert = insert_on_conflict(dialect, CaseCounter)
    return (
        upsert.values(tenant_code=bindparam("tenant_code"), day=bindparam("day"), last=1)
        .on_conflict_do_update(index_elements=["tenant_code", "day"], set_={"last": CaseCounter.last + 1})
        .returning(CaseCounter.last)
    )


def parse_case_number(number: str) -> tuple[str, dt.date, int] | None:
    """(place code, date, sequence) of a well-formed number, else None."""
    if len(number) != 26 or not number.isascii() or not number.isdigit():
        return None
    try:
        day = dt.datetime.strptime(number[12:20], "%Y%m%d").date()
    except ValueError:
        return None
    return number[:12], day, int(number[20:])


