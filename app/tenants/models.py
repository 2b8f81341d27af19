"""Division list (reference) and tenants (places onboarded onto the platform)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow
from app.core.tenancy import Scoped

LEVEL_CHECK = "level IN ('province', 'city', 'county', 'town', 'village')"


class Division(Base):
    """One row of the official statistical division list (统计用区划代码), loaded by
    `govhall tenants import-divisions`. Public reference data, not tenant-owned."""

    __tablename__ = "divisions"
    __table_args__ = (CheckConstraint(LEVEL_CHECK, name="level"),)

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)


class Tenant(Scoped, Base):
    """A place served by this node (city, county 县区, town 乡镇, subdistrict 街道 …).

    Scoped by its own code; its subtree is a range on `code` (see app.core.tenancy).
    """

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint(LEVEL_CHECK, name="level"),)
    scope_column_name = "code"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
