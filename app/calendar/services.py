"""Loading the calendar from the database, replacing a year, seeding from `chinese-calendar`.

Services flush; the request or the CLI command commits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, bindparam, delete, select
from sqlalchemy.orm import Session

from app.calendar.clock import HOLIDAY, WORKDAY, Due, WorkingCalendar
from app.calendar.models import CalendarDay, CalendarYear
from app.core.db import utcnow

PACKAGE_SOURCE_PREFIX = "chinese-calendar "
ADDED, REPLACED, UNCHANGED, KEPT = "added", "replaced", "unchanged", "kept"
# The package abbreviates three names; the notices (and so `calendar show`) use the full ones.
NOTICE_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}


@dataclass(frozen=True)
class YearSchedule:
    """One year as the State Council's notice declares it: day -> (kind, holiday name)."""

    year: int
    source: str
    days: dict[date, tuple[str, str]] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return sum(1 for day_kind, _name in self.days.values() if day_kind == kind)


# What a cached calendar was read at: (year, loaded_at) of every year it covers. `replace_year`
# gives a year it adds or replaces a new `loaded_at`, so any change to the days changes this.
Version = tuple[tuple[int, datetime], ...]

YEARS = CalendarYear.__table__.c
DAYS = CalendarDay.__table__.c
# Built once (constructing a statement costs more than running these). National data: no tenant scope.
VERSION_ROWS = select(YEARS.year, YEARS.loaded_at).where(YEARS.year >= bindparam("first_year"))
CALENDAR_ROWS = (
    select(YEARS.year, YEARS.loaded_at, DAYS.day, DAYS.kind, DAYS.name)
    .outerjoin(CalendarDay.__table__, DAYS.year == YEARS.year)
    .where(YEARS.year >= bindparam("first_year"))
)

# Per process and database: the calendar from each first year, with the version it was read at.
# The calendar changes a few times a year (`govhall calendar load`, maybe in another process), so
# every use checks the small version instead of reading every declared day again (scripts/bench:
# each acceptance and each worklist page needs the calendar).
_cached: WeakKeyDictionary[Engine, dict[int, tuple[Version, WorkingCalendar]]] = WeakKeyDictionary()


def load_calendar(session: Session, since: date | int) -> WorkingCalendar:
    """Every year from `since` on, in one query: a check of the version of a calendar this process
    has already read (the usual case), or a read of all its days. Years after the newest loaded one
    are simply absent, so the calendar can tell "missing" from "not loaded" without a second query.

    The reads go through the session's connection, in its transaction: the calendar is what this
    transaction sees. `replace_year` flushes what it changes, so nothing pending is missed."""
    first_year = since if isinstance(since, int) else since.year
    connection = session.connection()
    known = _cached.setdefault(connection.engine, {})
    cached = known.get(first_year)
    if cached is not None and _version(connection, first_year) == cached[0]:
        return cached[1]
    version, calendar = _read_calendar(connection, first_year)
    known[first_year] = (version, calendar)
    return calendar


def _version(connection: Connection, first_year: int) -> Version:
    rows = connection.execute(VERSION_ROWS, {"first_year": first_year})
    return tuple(sorted((row.year, row.loaded_at) for row in rows))


def _read_calendar(connection: Connection, first_year: int) -> tuple[Version, WorkingCalendar]:
    rows = connection.execute(CALENDAR_ROWS, {"first_year": first_year}).all()
    version = tuple(sorted({(row.year, row.loaded_at) for row in rows}))
    # Read-only views: one calendar object serves every request of this process.
    holidays = MappingProxyType({row.day: row.name for row in rows if row.kind == HOLIDAY})
    workdays = MappingProxyType({row.day: row.name for row in rows if row.kind == WORKDAY})
    return version, WorkingCalendar(first_year, frozenset(year for year, _loaded in version), holidays, workdays)


def due_date(session: Session, accepted_on: date, days: int, unit: str, paused_working_days: int = 0) -> Due:
    """One due date, in one query. For many, load the calendar once and call its `due_date`."""
    return load_calendar(session, accepted_on).due_date(accepted_on, days, unit, paused_working_days)


def replace_year(session: Session, schedule: YearSchedule) -> str:
    """Add or replace one year; ADDED, REPLACED or UNCHANGED (same source and days: nothing written)."""
    existing = session.get(CalendarYear, schedule.year)
    if existing is None:
        session.add(CalendarYear(year=schedule.year, source=schedule.source, loaded_at=utcnow()))
        session.flush()
        _insert_days(session, schedule)
        return ADDED
    if existing.source == schedule.source and _stored_days(session, schedule.year) == schedule.days:
        return UNCHANGED
    existing.source, existing.loaded_at = schedule.source, _restamped(existing.loaded_at)
    session.execute(delete(CalendarDay).where(CalendarDay.year == schedule.year))
    _insert_days(session, schedule)
    return REPLACED


def _restamped(previous: datetime) -> datetime:
    """A new `loaded_at` for a replaced year: never its old one (cached calendars compare it)."""
    now = utcnow()
    return now if now != previous else now + timedelta(microseconds=1)


def _stored_days(session: Session, year: int) -> dict[date, tuple[str, str]]:
    rows = session.execute(select(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
                           .where(CalendarDay.year == year))
    return {row.day: (row.kind, row.name) for row in rows}


def _insert_days(session: Session, schedule: YearSchedule) -> None:
    session.add_all(CalendarDay(day=day, year=schedule.year, kind=kind, name=name)
                    for day, (kind, name) in sorted(schedule.days.items()))
    session.flush()


def package_schedules() -> list[YearSchedule]:
    """Every year `chinese-calendar` ships, with the Chinese holiday names. All declared days off are
    kept (weekend ones too), so `calendar show` lists each holiday period whole, as the notice does."""
    import chinese_calendar
    from chinese_calendar.constants import Holiday, holidays, workdays

    source = PACKAGE_SOURCE_PREFIX + chinese_calendar.__version__
    schedules: dict[int, YearSchedule] = {}
    for kind, days in ((HOLIDAY, holidays), (WORKDAY, workdays)):
        for day, english in days.items():
            schedule = schedules.setdefault(day.year, YearSchedule(day.year, source))
            chinese = Holiday(english).chinese
            schedule.days[day] = (kind, NOTICE_NAMES.get(chinese, chinese))
    return [schedules[year] for year in sorted(schedules)]


def seed_from_chinese_calendar(session: Session) -> Counter[str]:
    """Load every year the package covers; idempotent. A year loaded from a notice file (another
    source) is KEPT: the admin's file wins over the package."""
    outcome: Counter[str] = Counter()
    sources = {row.year: row.source for row in session.execute(select(CalendarYear.year, CalendarYear.source))}
    for schedule in package_schedules():
        source = sources.get(schedule.year)
        if source is not None and not source.startswith(PACKAGE_SOURCE_PREFIX):
            outcome[KEPT] += 1
        else:
            outcome[replace_year(session, schedule)] += 1
    return outcome


def year_with_days(session: Session, year: int) -> tuple[CalendarYear | None, list[CalendarDay]]:
    """A year's row and its declared days in date order (for `calendar show`)."""
    days = session.scalars(select(CalendarDay).where(CalendarDay.year == year).order_by(CalendarDay.day)).all()
    return session.get(CalendarYear, year), list(days)
