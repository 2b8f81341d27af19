"""What the worklist's filters offer — the places in sight, the items offered at any of them, the
departments — kept per process, per scope and language, with their <option>s rendered once.

A city admin's filters list every place of the city and every item offered in it: three queries
and some 270 escaped options, 2 ms of the page's 13 on PostgreSQL (in-process, 1M cases). They
change only when tenant files are applied, so every page runs one small statement instead, a version
of the configuration: a place in sight added, renamed or removed, a new entry in any implementation
list or a new department shows on the next page, in every process. What the version
does not see (a catalogue item or department renamed, an entry deleted) shows within TTL_SECONDS.

The cache is keyed by the session's scope: what one entry holds was read under that scope, so a
county admin is served only what their own county's scope reads (two admins of one county share it).
"""

from __future__ import annotations

import html
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markupsafe import Markup
from sqlalchemy import Connection, exists, func, select
from sqlalchemy.orm import Session

from app.catalog.models import Department, Item, TenantItem
from app.core.i18n import current_language, localized
from app.core.tenancy import Scope, get_scope
from app.tenants.models import Tenant

TTL_SECONDS = 60.0
SIZE = 256  # entries (scope × language) per process, oldest dropped first


class Options:
    """A filter's <option>s, escaped and joined once; the selected one is marked per page."""

    def __init__(self, choices: Iterable[tuple[object, str]]) -> None:
        self.html = "".join(f'<option value="{html.escape(str(value))}">{html.escape(label)}</option>'
                            for value, label in choices)

    def marked(self, selected: object) -> Markup:
        """The options with `selected` (a value, compared as text) marked; None or "" marks none."""
        text = self.html
        if selected is not None and selected != "":
            opening = f'<option value="{html.escape(str(selected))}">'
            text = text.replace(opening, opening[:-1] + " selected>", 1)
        return Markup(text)  # noqa: S704 - every value and label was escaped above


@dataclass(frozen=True)
class FilterChoices:
    """The places in sight (code → name, for the rows too) and the three filters' options."""

    places: dict[str, str]
    place_options: Options
    item_options: Options
    department_options: Options


@dataclass
class _Entry:
    expires: float
    version: tuple[Any, ...]
    choices: FilterChoices


class ChoicesCache:
    """Bounded, per process, shared by its threads (the lock guards eviction and reordering)."""

    def __init__(self, ttl: float = TTL_SECONDS, size: int = SIZE, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], version: tuple[Any, ...]) -> FilterChoices | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version or entry.expires <= self.clock():
                return None
            return entry.choices

    def put(self, key: tuple[Any, ...], version: tuple[Any, ...], choices: FilterChoices) -> None:
        with self._lock:
            self._entries[key] = _Entry(self.clock() + self.ttl, version, choices)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = ChoicesCache()


def filter_choices(session: Session) -> FilterChoices:
    """The choices for the session's scope and the request's language: one statement when cached."""
    connection = session.connection()
    scope = get_scope(session)
    key = (connection.engine, scope, current_language())
    version = tuple(connection.execute(_statements(scope)[0]).one())
    choices = CACHE.get(key, version)
    if choices is None:
        choices = _read(connection, scope)
        CACHE.put(key, version, choices)
    return choices


def _read(connection: Connection, scope: Scope) -> FilterChoices:
    """Three small queries on Core, in the session's transaction. The worklist runs on Core, which the
    ORM's scope hook does not see, so the scope is added by hand (reviewed like raw SQL)."""
    _version, places_query, items_query, departments_query = _statements(scope)
    places = dict(connection.execute(places_query).all())
    return FilterChoices(
        places=places, place_options=Options(places.items()),
        item_options=Options((i.id, localized(i)) for i in connection.execute(items_query)),
        department_options=Options((d.code, localized(d)) for d in connection.execute(departments_query)),
    )


@lru_cache(maxsize=512)
def _statements(scope: Scope) -> tuple[Any, Any, Any, Any]:
    """The version, then the places, items and departments. The version is only compared, never
    shown: the places in scope (count, newest change, on the primary key), the newest entry of any
    implementation list, the number of departments. A city has some 170 places and its
    implementation lists run to thousands of rows, so the items are found with an EXISTS per
    catalogue item, not by collecting every place's list."""
    in_sight = select(func.count(Tenant.code), func.max(Tenant.updated_at))
    offered = exists().where(TenantItem.item_id == Item.id)
    places = select(Tenant.code, Tenant.name).order_by(Tenant.code)
    if not scope.unrestricted:
        in_sight = in_sight.where(scope.criterion(Tenant.scope_column()))
        offered = offered.where(scope.criterion(TenantItem.tenant_code))
        places = places.where(scope.criterion(Tenant.scope_column()))
    version = in_sight.add_columns(select(func.max(TenantItem.id)).scalar_subquery(),
                                   select(func.count(Department.code)).scalar_subquery())
    items = select(Item.id, Item.basic_code, Item.name, Item.name_en).where(offered).order_by(Item.basic_code)
    departments = select(Department.code, Department.name, Department.name_en).order_by(Department.code)
    return version, places, items, departments
