"""Basic catalogue (基本目录) rows and each place's implementation list (实施清单)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base
from app.core.tenancy import TenantOwned


class Category(Base):
    """A theme (主题分类) items are grouped by; dedicated windows serve categories."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Department(Base):
    """A competent or reviewing department (部门)."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(150))


class Item(Base):
    """A basic-catalogue item with the elements of DOMAIN §3. Shared by every place."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    basic_code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    type_code: Mapped[str] = mapped_column(String(2))
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    review_departments: Mapped[list[str]] = mapped_column(JSON)
    levels: Mapped[list[str]] = mapped_column(JSON)
    legal_basis: Mapped[str] = mapped_column(Text)
    statutory_days: Mapped[int] = mapped_column(Integer)
    statutory_unit: Mapped[str] = mapped_column(String(10))
    promised_days: Mapped[int] = mapped_column(Integer)
    promised_unit: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    visits: Mapped[int] = mapped_column(Integer)
    onsite_reason: Mapped[str] = mapped_column(String(200), default="")
    online_depth: Mapped[int] = mapped_column(Integer)
    mail_allowed: Mapped[bool] = mapped_column(Boolean)
    bookable: Mapped[bool] = mapped_column(Boolean)
    # Fee (收费) as columns, not JSON: the items API reads them for every row it serves.
    fee_charged: Mapped[bool] = mapped_column(Boolean)
    fee_standard: Mapped[str] = mapped_column(String(200), default="")
    fee_basis: Mapped[str] = mapped_column(Text, default="")
    fee_waivable: Mapped[bool] = mapped_column(Boolean, default=False)
    result_name: Mapped[str] = mapped_column(String(200))
    result_type: Mapped[str] = mapped_column(String(20))

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)
    materials: Mapped[list[Material]] = relationship(order_by="Material.position", cascade="all, delete-orphan")


class Material(Base):
    """One entry of an item's material list (申请材料)."""

    __tablename__ = "materials"
    __table_args__ = (UniqueConstraint("item_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    necessity: Mapped[str] = mapped_column(String(12))
    type: Mapped[int] = mapped_column(Integer)
    source: Mapped[int] = mapped_column(Integer)
    form: Mapped[str] = mapped_column(String(12))
    copies: Mapped[int] = mapped_column(Integer)

    @property
    def replaceable_by_licence(self) -> bool:
        """Issued by a government department (source 20): a shared e-licence can stand in."""
        return self.source == 20


class TenantItem(TenantOwned, Base):
    """An entry of one place's implementation list: which items it offers, with its promise."""

    __tablename__ = "tenant_items"
    __table_args__ = (UniqueConstraint("tenant_code", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    implementation_code: Mapped[str] = mapped_column(String(36), unique=True)
    promised_days: Mapped[int] = mapped_column(Integer)
    # Dropped entries are retired, not deleted: cases accepted under them keep their reference.
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    item: Mapped[Item] = relationship(lazy="joined", innerjoin=True)
