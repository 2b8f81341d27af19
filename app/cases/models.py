"""The case (办件) and its parts. Every row carries the accepting place's code, so the tenant
scope applies to materials, review tasks and pauses as much as to the case itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, orm_insert_sentinel, relationship

from app.cases.states import CaseState
from app.core.db import Base, UTCDateTime, utcnow
from app.core.tenancy import TenantOwned


def batch_sentinel() -> Any:
    """A column that lets one INSERT write all of a case's materials (or review tasks) on SQLite too.

    The ORM matches the ids an INSERT … RETURNING gives back to its objects by a sentinel: PostgreSQL
    numbers new ids in order, SQLite does not promise it, so without this column SQLAlchemy writes
    one row per statement there (an acceptance: 4 materials, 2 tasks = 6 INSERTs instead of 2). The
    ORM fills it with the row's place in its batch; it means nothing after the INSERT."""
    return orm_insert_sentinel("insert_sentinel")


class Case(TenantOwned, Base):
    """One application for one item at one place, from submission or acceptance to hand-over."""

    __tablename__ = "cases"
    __table_args__ = (
        # The worklist: cases in a state, at a place or a range of places, by due date. With the id the
        # page is chosen from the index alone (measured at 1M cases: scripts/bench --only cases).
        Index("ix_cases_state_place_due", "state", "tenant_code", "due_date", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(26), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default=CaseState.SUBMITTED)
    channel: Mapped[str] = mapped_column(String(10))  # window | online
    tenant_item_id: Mapped[int] = mapped_column(ForeignKey("tenant_items.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    implementation_code: Mapped[str] = mapped_column(String(36))
    item_name: Mapped[str] = mapped_column(String(200))

    applicant_kind: Mapped[str] = mapped_column(String(12))  # person | organisation
    applicant_name: Mapped[str] = mapped_column(String(100))
    applicant_id_type: Mapped[str] = mapped_column(String(3))  # 111 resident ID, 001 credit code
    applicant_id_number: Mapped[str] = mapped_column(String(18))
    contact_name: Mapped[str] = mapped_column(String(60))
    contact_phone: Mapped[str] = mapped_column(String(30))
    agent_name: Mapped[str] = mapped_column(String(60), default="")
    agent_id_number: Mapped[str] = mapped_column(String(18), default="")

    window_number: Mapped[str] = mapped_column(String(10), default="")
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)
    accepted_by: Mapped[str] = mapped_column(String(60), default="")
    promised_days: Mapped[int] = mapped_column(Integer)
    promised_unit: Mapped[str] = mapped_column(String(10))
    statutory_days: Mapped[int] = mapped_column(Integer)
    statutory_unit: Mapped[str] = mapped_column(String(10))
    paused_days: Mapped[int] = mapped_column(Integer, default=0)  # working days in closed pauses
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    statutory_due_date: Mapped[dt.date | None] = mapped_column(Date)
    calendar_missing: Mapped[str] = mapped_column(String(40), default="")  # years without data, e.g. "2027"

    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result_code: Mapped[str] = mapped_column(String(2), default="")
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    evaluation_refused: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(String(60), default="")
    delivery: Mapped[str] = mapped_column(String(10), default="")  # collect | mail
    collected_by: Mapped[str] = mapped_column(String(60), default="")
    tracking_number: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # Optimistic locking: two clerks acting at once → the second flush finds a newer version.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads this mapping as is

    materials: Mapped[list[CaseMaterial]] = relationship(
        back_populates="case", order_by="CaseMaterial.position", cascade="all, delete-orphan"
    )
    tasks: Mapped[list[ReviewTask]] = relationship(
        back_populates="case", order_by="ReviewTask.id", cascade="all, delete-orphan"
    )
    pauses: Mapped[list[CasePause]] = relationship(
        back_populates="case", order_by="CasePause.id", cascade="all, delete-orphan"
    )

    @property
    def case_state(self) -> CaseState:
        return CaseState(self.state)


class CaseMaterial(TenantOwned, Base):
    """One line of the item's material checklist as received for this case."""

    __tablename__ = "case_materials"
    __table_args__ = (UniqueConstraint("case_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    necessity: Mapped[str] = mapped_column(String(12))  # required | optional | deferrable
    status: Mapped[str] = mapped_column(String(12))  # paper | electronic | missing | deferred
    due_on: Mapped[dt.date | None] = mapped_column(Date)  # for 容缺 (deferred) materials
    _sentinel: Mapped[int | None] = batch_sentinel()

    case: Mapped[Case] = relationship(back_populates="materials")


class ReviewTask(TenantOwned, Base):
    """One department's review of a case (推送相关、同步审核): all of a case's tasks run in parallel."""

    __tablename__ = "review_tasks"
    __table_args__ = (
        UniqueConstraint("case_id", "department_code"),
        Index("ix_review_tasks_inbox", "department_code", "state", "tenant_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    department_code: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending | approved | refused
    opinion: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(60), default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    _sentinel: Mapped[int | None] = batch_sentinel()

    case: Mapped[Case] = relationship(back_populates="tasks")


class CasePause(TenantOwned, Base):
    """A stretch when the clock stops: a special procedure (特别程序) or a correction during review."""

    __tablename__ = "case_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # special | correction
    procedure: Mapped[str] = mapped_column(String(20), default="")  # hearing | inspection | expert | …
    reason: Mapped[str] = mapped_column(Text)
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    working_days: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship(back_populates="pauses")


class CaseCounter(Base):
    """The last case number issued per place and day (system bookkeeping, not tenant data)."""

    __tablename__ = "case_counters"

    tenant_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
