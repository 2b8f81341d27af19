"""Tenant scoping, enforced in one place.

Division codes are prefix-hierarchical (province 37…, city 3701…, county 370102…, town
370102001…), so "a place and everything under it" is the range [code, prefix + 9…9] on a
12-character column: one indexed range scan, no joins, no recursion.

Every session carries a `Scope`. An ORM event adds the scope's criteria to every SELECT of a
tenant-owned class (the safety net), and a flush hook refuses to write rows outside the scope.
A session without a scope cannot read tenant-owned rows at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, String, event, false, inspect, or_
from sqlalchemy.orm import (
    InstrumentedAttribute,
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    with_loader_criteria,
)

LEVELS = ("province", "city", "county", "town", "village")
PREFIX_LENGTH = {"province": 2, "city": 4, "county": 6, "town": 9, "village": 12}
CODE_PATTERN = re.compile(r"[0-9]{12}")  # not \d: that also matches full-width digits
SCOPE_KEY = "govhall.scope"
SKIP_SCOPE = "govhall_skip_scope"


class ScopeError(Exception):
    """Base for scoping failures."""


class ScopeMissing(ScopeError):
    """A session touched tenant-owned rows without a scope: a programming error."""


class ScopeViolation(ScopeError):
    """A write to a row outside the session's scope."""


def level_of(code: str) -> str:
    """The level a 12-digit statistical code denotes, from its trailing zeros."""
    if not CODE_PATTERN.fullmatch(code):
        raise ValueError(f"'{code}' is not a 12-digit division code")
    for level in LEVELS[:-1]:
        if set(code[PREFIX_LENGTH[level]:]) == {"0"}:
            return level
    return "village"


def prefix_of(code: str) -> str:
    return code[: PREFIX_LENGTH[level_of(code)]]


def subtree_range(code: str) -> tuple[str, str]:
    """Inclusive bounds of every code at or below `code`."""
    prefix = prefix_of(code)
    return code, prefix + "9" * (12 - len(prefix))


def is_within(code: str, ancestor: str) -> bool:
    low, high = subtree_range(ancestor)
    return low <= code <= high


def ancestors_of(code: str) -> list[str]:
    """Codes of the places above `code`, top first. A town directly under a city without
    counties (Dongguan 441900) has no county ancestor: duplicates collapse."""
    result: list[str] = []
    for level in LEVELS[: LEVELS.index(level_of(code))]:
        ancestor = code[: PREFIX_LENGTH[level]].ljust(12, "0")
        if ancestor != code and ancestor not in result:
            result.append(ancestor)
    return result


@dataclass(frozen=True)
class Scope:
    """The set of tenant codes a session may see: a union of inclusive ranges.

    `unrestricted` is for system work (CLI, migrations, the tenant-file applier).
    """

    ranges: tuple[tuple[str, str], ...] = ()
    unrestricted: bool = False
    writable: bool = True

    @classmethod
    def system(cls) -> Scope:
        return cls(unrestricted=True)

    @classmethod
    def of_places(cls, grants: Iterable[tuple[str, bool]], writable: bool = True) -> Scope:
        """Scope from (code, covers_subtree) pairs."""
        ranges = {subtree_range(code) if subtree else (code, code) for code, subtree in grants}
        return cls(ranges=tuple(sorted(ranges)), writable=writable)

    @classmethod
    def public(cls, code: str) -> Scope:
        """What an anonymous visitor of one place's public pages may read."""
        return cls(ranges=((code, code),), writable=False)

    def contains(self, code: str) -> bool:
        return self.unrestricted or any(low <= code <= high for low, high in self.ranges)

    def criterion(self, column: Any) -> ColumnElement[bool]:
        if not self.ranges:
            return false()
        return or_(*(column.between(low, high) if low != high else column == low
                     for low, high in self.ranges))


SCOPED_CLASSES: list[type[Scoped]] = []


class Scoped:
    """Mixin for mapped classes whose rows belong to a place; registers them for the safety net."""

    scope_column_name: ClassVar[str] = "tenant_code"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__:
            SCOPED_CLASSES.append(cls)

    @classmethod
    def scope_column(cls) -> InstrumentedAttribute[str]:
        column: InstrumentedAttribute[str] = getattr(cls, cls.scope_column_name)
        return column


class TenantOwned(Scoped):
    """Rows owned by one place. `tenant_code` is the scoping key (indexed)."""

    tenant_code: Mapped[str] = mapped_column(String(12), index=True)


def set_scope(session: Session, scope: Scope) -> Session:
    session.info[SCOPE_KEY] = scope
    return session


@contextmanager
def system_scope(session: Session) -> Iterator[Session]:
    """Run system work (bulk tenant-file apply) inside a request, then restore the caller's scope.

    Only after an explicit authorization check: the caller of this is reviewed like raw SQL."""
    previous = session.info.get(SCOPE_KEY)
    set_scope(session, Scope.system())
    try:
        yield session
    finally:
        session.info[SCOPE_KEY] = previous


def get_scope(session: Session) -> Scope:
    scope = session.info.get(SCOPE_KEY)
    if scope is None:
        raise ScopeMissing("this session has no tenant scope; call set_scope() first")
    return scope


def check_core_write(session: Session, tenant_code: str, what: str) -> None:
    """For rows written by Core statements, which the flush hook does not see (chain heads, outbox
    sequence heads): the place must be a division code inside a writable scope."""
    if not CODE_PATTERN.fullmatch(tenant_code):
        raise ValueError(f"'{tenant_code}' is not a 12-digit division code")
    scope = get_scope(session)
    if not scope.writable or not scope.contains(tenant_code):
        raise ScopeViolation(f"{what} of tenant {tenant_code} is outside this scope")


def _on_execute(state: ORMExecuteState) -> None:
    """Add the scope to every ORM SELECT, UPDATE and DELETE; refuse what cannot be scoped."""
    if state.execution_options.get(SKIP_SCOPE) and state.is_select:
        return
    scope = get_scope(state.session)
    if scope.unrestricted:
        return
    if state.is_insert and _targets_scoped_class(state):
        # Bulk INSERT values are not checked row by row: only system work (tenant files) may use it.
        raise ScopeViolation("bulk inserts of tenant-owned rows need the system scope")
    if (state.is_update or state.is_delete) and not scope.writable:
        raise ScopeViolation("this scope is read-only")
    if state.is_update and _sets_scope_column(state):
        raise ScopeViolation("moving rows to another place needs the system scope")
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(*_criteria_options(scope))


@lru_cache(maxsize=512)
def _criteria_options(scope: Scope) -> tuple[Any, ...]:
    """The loader criteria of a scope, built once per scope (a hot path: every query runs it)."""
    return tuple(
        with_loader_criteria(cls, scope.criterion(cls.scope_column()), include_aliases=True)
        for cls in SCOPED_CLASSES
    )


def core_statement_in_scope(statement: Any, column: Any, scope: Scope) -> Any:
    """A Core statement (run on the session's connection, so the ORM hook does not see it) with the
    scope added explicitly. For hot read paths that need no ORM objects; callers cache the result
    per scope and are reviewed like raw SQL."""
    return statement if scope.unrestricted else statement.where(scope.criterion(column))


def _sets_scope_column(state: ORMExecuteState) -> bool:
    """Does a bulk UPDATE assign the scoping column? (`_values` is SQLAlchemy's own record of the
    SET clause; there is no public accessor.)"""
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, Scoped):
        return False
    assigned = getattr(state.statement, "_values", None) or {}
    names = {getattr(key, "key", getattr(key, "name", key)) for key in assigned}
    return mapper.class_.scope_column_name in names


def _targets_scoped_class(state: ORMExecuteState) -> bool:
    mapper = state.bind_mapper
    return mapper is not None and issubclass(mapper.class_, Scoped)


def _on_flush(session: Session, _context: Any, _instances: Any) -> None:
    scope = get_scope(session)
    if scope.unrestricted:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, Scoped):
            continue
        # The place a row leaves counts as much as the place it lands in.
        history = inspect(obj).attrs[obj.scope_column_name].history
        for code in (getattr(obj, obj.scope_column_name), *history.deleted):
            if not scope.writable or not scope.contains(code):
                raise ScopeViolation(f"writing {type(obj).__name__} of tenant {code} is outside this scope")


def install_scoping() -> None:
    """Register the session hooks once per process (idempotent)."""
    if not event.contains(Session, "do_orm_execute", _on_execute):
        event.listen(Session, "do_orm_execute", _on_execute)
        event.listen(Session, "before_flush", _on_flush)
