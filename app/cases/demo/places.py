"""Where demo cases happen: the places to fill with their active offers and staff, and how many
cases each place gets."""

from __future__ import annotations

import random
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Item, Material, TenantItem
from app.core.tenancy import is_within
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.models import Tenant


class DemoError(Exception):
    """The database cannot take demo cases (no places, no items, no calendar): the message says why."""


@dataclass(frozen=True)
class Offer:
    """One active entry of a place's implementation list, with what a case copies from its item."""

    tenant_item_id: int
    item_id: int
    implementation_code: str
    name: str
    category: str
    promised_days: int
    promised_unit: str
    statutory_days: int
    statutory_unit: str
    departments: tuple[str, ...]
    materials: tuple[tuple[int, str, str], ...]  # position, name, necessity

    @property
    def required(self) -> list[tuple[int, str, str]]:
        return [m for m in self.materials if m[2] == "required"]


@dataclass
class Place:
    code: str
    offers: list[Offer]
    org_prefix: str  # 济南 …: how companies registered here start their names
    windows: list[str]
    clerk: str = "demo_clerk"
    issuer: str = "demo_issuer"
    reviewers: dict[str, str] = field(default_factory=dict)
    reviewed: list[Offer] = field(default_factory=list)  # offers with a review period (not 即办件)

    def __post_init__(self) -> None:
        self.reviewed = [o for o in self.offers if o.promised_days > 0]

    def reviewer(self, department: str) -> str:
        return self.reviewers.get(department) or f"demo_reviewer_{department.lower()}"


def load_places(session: Session, level: str) -> list[Place]:
    """The places to fill (towns, or every place offering items), with their active offers."""
    if level not in ("town", "all"):
        raise DemoError("places is 'town' or 'all'")
    rows = session.execute(select(Tenant.code, Tenant.name, Tenant.level).where(Tenant.active.is_(True))
                           .order_by(Tenant.code)).all()
    cities = {r.code[:4]: r.name.removesuffix("市") for r in rows if r.level == "city"}
    offers = _offers_by_place(session)
    windows: dict[str, list[str]] = defaultdict(list)
    for code, number in session.execute(select(Window.tenant_code, Window.number)
                                        .where(Window.kind == "comprehensive").order_by(Window.number)):
        windows[code].append(number)
    result = [Place(r.code, offers[r.code], cities.get(r.code[:4], "山东"), windows[r.code] or ["1"])
              for r in rows if (level == "all" or r.level == "town") and offers.get(r.code)]
    if not result:
        raise DemoError(f"no {'town' if level == 'town' else 'place'} offers any item: apply the tenant files first")
    _assign_staff(session, result)
    return result


def _offers_by_place(session: Session) -> dict[str, list[Offer]]:
    materials: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for row in session.execute(select(Material.item_id, Material.position, Material.name, Material.necessity)
                               .order_by(Material.item_id, Material.position)):
        materials[row.item_id].append((row.position, row.name, row.necessity))
    query = (select(TenantItem.tenant_code, TenantItem.id, TenantItem.implementation_code, TenantItem.promised_days,
                    Item.id.label("item_id"), Item.name, Item.category_code, Item.promised_unit,
                    Item.statutory_days, Item.statutory_unit, Item.review_departments)
             .join(Item, Item.id == TenantItem.item_id).where(TenantItem.active.is_(True))
             .order_by(TenantItem.tenant_code, TenantItem.id))
    offers: dict[str, list[Offer]] = defaultdict(list)
    for r in session.execute(query):
        if r.review_departments:  # acceptance refuses an item without reviewing departments
            offers[r.tenant_code].append(Offer(
                r.id, r.item_id, r.implementation_code, r.name, r.category_code, r.promised_days, r.promised_unit,
                r.statutory_days, r.statutory_unit, tuple(r.review_departments), tuple(materials[r.item_id])))
    return offers


def _assign_staff(session: Session, places: list[Place]) -> None:
    """Real usernames where the tenant files name staff (the nearest grant wins), else demo_* names."""
    query = (select(RoleGrant.tenant_code, RoleGrant.role, RoleGrant.department_code, RoleGrant.subtree,
                    Staff.username).join(Staff, Staff.id == RoleGrant.staff_id).where(Staff.active.is_(True)))
    # Widest places first, so that nearer grants overwrite them.
    grants = sorted(session.execute(query), key=lambda g: (len(g.tenant_code.rstrip("0")), g.tenant_code, g.username))
    for place in places:
        for g in grants:
            if g.tenant_code != place.code and not (g.subtree and is_within(place.code, g.tenant_code)):
                continue
            if g.role in ("clerk", "issuer"):
                setattr(place, g.role, g.username)
            elif g.role == "reviewer" and g.department_code:
                place.reviewers[g.department_code] = g.username


def spread(rng: random.Random, places: list[Place], count: int) -> list[Place]:
    """The place of each of `count` cases. Each place has a stable weight (busy places stay busy
    whatever the seed); subdistricts (街道: town digit 0) are busier than townships, county and
    city halls busier still."""
    weights = []
    for place in places:
        weight = 0.5 + (zlib.crc32(place.code.encode()) % 1000) / 666
        weight *= 1.5 if place.code[6] == "0" and place.code[9:] == "000" and place.code[6:9] != "000" else 1.0
        weight *= 4.0 if place.code[6:] == "000000" else 1.0
        weights.append(weight)
    return rng.choices(places, weights, k=count)
