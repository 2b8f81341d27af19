"""From tenant files to the desired state of the database, checking every cross-reference.

Rules: a place's level matches its code; it lies in the node's subtree; its parent exists (in
the files or the database), sits at a higher level and is a prefix of its code; items, windows,
staff roles and departments it names exist and are allowed at its level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Category, Department, Item
from app.catalog.schema import CatalogueFile
from app.core.tenancy import LEVELS, is_within, level_of
from app.tenants.files import SourcedPlace, TenantConfig, TenantFileError
from app.tenants.schema import DefaultsFile, LevelDefaults, OpeningHours, PlaceSpec, WindowSpec

Grant = tuple[str, str, str, str, bool]  # (username, tenant_code, role, department, subtree)


@dataclass(frozen=True)
class CatalogueIndex:
    """What the place rules need to know about the catalogue, from the file or the database."""

    levels: dict[str, frozenset[str]]
    promised: dict[str, int]
    immediate: frozenset[str]  # 即办件: a promise of 0 days is theirs alone
    categories: frozenset[str]
    departments: frozenset[str]

    @classmethod
    def from_file(cls, catalogue: CatalogueFile) -> CatalogueIndex:
        return cls(
            levels={i.basic_code: frozenset(i.levels) for i in catalogue.items},
            promised={i.basic_code: i.promised_limit.days for i in catalogue.items},
            immediate=frozenset(i.basic_code for i in catalogue.items if i.kind == "immediate"),
            categories=frozenset(c.code for c in catalogue.categories),
            departments=frozenset(d.code for d in catalogue.departments),
        )

    @classmethod
    def from_db(cls, session: Session) -> CatalogueIndex:
        items = session.execute(select(Item.basic_code, Item.levels, Item.promised_days, Item.kind)).all()
        return cls(
            levels={code: frozenset(levels) for code, levels, _, _ in items},
            promised={code: days for code, _, days, _ in items},
            immediate=frozenset(code for code, _, _, kind in items if kind == "immediate"),
            categories=frozenset(session.scalars(select(Category.code))),
            departments=frozenset(session.scalars(select(Department.code))),
        )

    def default_items(self, level: str, defaults: LevelDefaults) -> list[str]:
        if defaults.items == "all":
            return sorted(code for code, levels in self.levels.items() if level in levels)
        return list(defaults.items)


@dataclass
class DesiredState:
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[tuple[str, str], int] = field(default_factory=dict)  # (tenant, basic code) -> promise
    windows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    staff: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: set[Grant] = field(default_factory=set)
    catalogue: CatalogueFile | None = None


class _Builder:
    def __init__(self, config: TenantConfig, catalogue: CatalogueIndex, root: str, known: set[str]) -> None:
        self.config, self.catalogue, self.root, self.known = config, catalogue, root, known
        self.problems: list[str] = []
        self.state = DesiredState(catalogue=config.catalogue)
        self.levels_of = {p.spec.code: p.spec.level for p in config.places}

    def build(self) -> DesiredState:
        self._check_defaults(self.config.defaults)
        seen: dict[str, str] = {}
        for place in self.config.places:
            if place.spec.code in seen:
                self.problems.append(f"{place.where}: code also defined at {seen[place.spec.code]}")
                continue
            seen[place.spec.code] = place.where
            self._place(place)
        if self.problems:
            raise TenantFileError(self.problems)
        return self.state

    def _check_defaults(self, defaults: DefaultsFile) -> None:
        for level, level_defaults in defaults.levels.items():
            where = f"defaults.yaml: levels.{level}"
            if level_defaults.items != "all":
                for code in level_defaults.items:
                    self._check_item_allowed(where, code, level)
            for window in level_defaults.windows:
                self._check_categories(where, window)

    def _place(self, place: SourcedPlace) -> None:
        spec, where = place.spec, place.where
        defaults = self.config.defaults.levels.get(spec.level)
        if defaults is None:
            self.problems.append(f"{where}: defaults.yaml has no defaults for level {spec.level}")
            return
        if not self._check_position(spec, where):
            return
        hours: OpeningHours = spec.opening_hours or defaults.opening_hours
        self.state.tenants[spec.code] = {
            "name": spec.name, "level": spec.level, "parent_code": spec.parent,
            "address": spec.address, "phone": spec.phone, "opening_hours": hours.model_dump(mode="json"),
        }
        self._items(spec, defaults, where)
        self._windows(spec, defaults, where)
        self._staff(spec, defaults, where)

    def _check_position(self, spec: PlaceSpec, where: str) -> bool:
        problems_before = len(self.problems)
        derived = level_of(spec.code)
        if derived != spec.level:
            self.problems.append(f"{where}: level {spec.level} does not match the code, which is a {derived}")
        if not is_within(spec.code, self.root):
            self.problems.append(f"{where}: outside this node's subtree {self.root}")
        if spec.code != self.root:
            self._check_parent(spec, where)
        return len(self.problems) == problems_before

    def _check_parent(self, spec: PlaceSpec, where: str) -> None:
        parent = spec.parent
        if parent is None:
            self.problems.append(f"{where}: parent is required for every place but the node's root")
        elif parent not in self.levels_of and parent not in self.known:
            self.problems.append(f"{where}: parent {parent} is neither in the files nor in the database")
        elif not is_within(spec.code, parent) or parent == spec.code:
            self.problems.append(f"{where}: code does not extend the prefix of parent {parent}")
        elif LEVELS.index(level_of(parent)) >= LEVELS.index(spec.level):
            self.problems.append(f"{where}: parent {parent} is not at a higher level than {spec.level}")

    def _items(self, spec: PlaceSpec, defaults: LevelDefaults, where: str) -> None:
        chosen = self.catalogue.default_items(spec.level, defaults)
        overrides = spec.items
        for code in overrides.drop:
            if code not in chosen:
                self.problems.append(f"{where}: items.drop {code} is not in the {spec.level} defaults")
        for code in overrides.add:
            self._check_item_allowed(f"{where}: items.add", code, spec.level)
        final = [c for c in chosen if c not in overrides.drop] + [c for c in overrides.add if c not in chosen]
        for code in final:
            self.state.items[(spec.code, code)] = self.catalogue.promised.get(code, 0)
        for code, days in overrides.promised.items():
            self._promise(spec.code, code, days, f"{where}: items.promised.{code}")

    def _promise(self, tenant: str, code: str, days: int, where: str) -> None:
        base = self.catalogue.promised.get(code)
        if (tenant, code) not in self.state.items:
            self.problems.append(f"{where}: item is not offered at this place")
        elif base is not None and not (0 if code in self.catalogue.immediate else 1) <= days <= base:
            self.problems.append(f"{where}: {days} days is not a shorter promise than the catalogue's {base}"
                                 + ("" if code in self.catalogue.immediate else " (at least 1 day for 承诺件)"))
        else:
            self.state.items[(tenant, code)] = days

    def _check_item_allowed(self, where: str, code: str, level: str) -> None:
        levels = self.catalogue.levels.get(code)
        if levels is None:
            self.problems.append(f"{where}: unknown item {code}")
        elif level not in levels:
            self.problems.append(f"{where}: item {code} may not be implemented at level {level}")

    def _windows(self, spec: PlaceSpec, defaults: LevelDefaults, where: str) -> None:
        default_numbers = {w.number for w in defaults.windows}
        for number in spec.drop_windows:
            if number not in default_numbers:
                self.problems.append(f"{where}: drop_windows {number} is not a default window")
        windows = [w for w in defaults.windows if w.number not in spec.drop_windows]
        extra_numbers = [w.number for w in spec.windows]
        if len(extra_numbers) != len(set(extra_numbers)):
            self.problems.append(f"{where}: windows: a window number appears twice")
        windows = [w for w in windows if w.number not in extra_numbers] + list(spec.windows)
        for window in windows:
            self._check_categories(where, window)
            self.state.windows[(spec.code, window.number)] = {
                "name": window.name, "kind": window.kind, "categories": list(window.categories),
            }

    def _check_categories(self, where: str, window: WindowSpec) -> None:
        unknown = [c for c in window.categories if c not in self.catalogue.categories]
        if unknown:
            self.problems.append(f"{where}: window {window.number}: unknown categories {', '.join(unknown)}")

    def _staff(self, spec: PlaceSpec, defaults: LevelDefaults, where: str) -> None:
        for person in spec.staff:
            label = f"{where}: staff {person.username}"
            if person.username in self.state.staff:
                self.problems.append(f"{label}: username is used twice")
                continue
            self.state.staff[person.username] = {"name": person.name, "tenant_code": spec.code}
            for grant in person.roles:
                self._check_grant(label, grant.role, grant.department, defaults)
                self.state.grants.add((person.username, spec.code, grant.role, grant.department, grant.subtree))

    def _check_grant(self, label: str, role: str, department: str, defaults: LevelDefaults) -> None:
        if role not in defaults.roles:
            self.problems.append(f"{label}: role {role} is not used at this level")
        if role == "reviewer" and not department:
            self.problems.append(f"{label}: a reviewer needs a department")
        if department and department not in self.catalogue.departments:
            self.problems.append(f"{label}: unknown department {department}")
        if department and role != "reviewer":
            self.problems.append(f"{label}: only a reviewer is tied to a department")


def build_desired(config: TenantConfig, catalogue: CatalogueIndex, root: str, known: set[str]) -> DesiredState:
    """Validate the files against each other and the database; raise with every problem found."""
    return _Builder(config, catalogue, root, known).build()
