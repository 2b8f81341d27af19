"""Windows, staff accounts and role grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime, utcnow
from app.core.tenancy import TenantOwned

WINDOW_KINDS = ("comprehensive", "issuance", "dedicated")
ROLES = ("city_admin", "county_admin", "clerk", "reviewer", "issuer", "auditor")


class Window(TenantOwned, Base):
    """A service window: comprehensive acceptance (综合受理), issuance (统一出件) or dedicated."""

    __tablename__ = "windows"
    __table_args__ = (UniqueConstraint("tenant_code", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "file": managed by the tenant files (apply may change or remove it); "ui": added by an admin.
    source: Mapped[str] = mapped_column(String(4), default="ui")


class Staff(TenantOwned, Base):
    """A staff account; `tenant_code` is the place the person belongs to."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Copied into the session cookie at login; raising it (logout, new password, deactivation)
    # makes every cookie issued before unusable, copies included.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grants: Mapped[list[RoleGrant]] = relationship(back_populates="staff", cascade="all, delete-orphan")


class RoleGrant(TenantOwned, Base):
    """A role held at a place; `subtree` extends it to every place below."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("staff_id", "tenant_code", "role", "department_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    # "" rather than NULL so the unique constraint also holds for roles without a department.
    department_code: Mapped[str] = mapped_column(String(10), default="")
    subtree: Mapped[bool] = mapped_column(Boolean, default=False)

    staff: Mapped[Staff] = relationship(back_populates="grants")
