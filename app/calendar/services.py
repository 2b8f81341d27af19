"""Loading the calendar from the database, replacing a year, seeding from `chinese-calendar`.

Services flush; the request or the CLI command commits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import delete, select
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


def load_calendar(session: Session, since: date | int) -> WorkingCalendar:
    """Every year from `since` on, in one query. Years after the newest loaded one are simply absent,
    so the calendar can tell "missing" from "not loaded" without a second query."""
    first_year = since if isinstance(since, int) else since.year
    rows = session.execute(
        select(CalendarYear.year, CalendarDay.day, CalendarDay.kind, CalendarDay.name)
        .outerjoin(CalendarDay, CalendarDay.year == CalendarYear.year)
        .where(CalendarYear.year >= first_year)
    ).all()
    holidays = {row.day: row.name for row in rows if row.kind == HOLIDAY}
    workdays = {row.day: row.name for row in rows if row.kind == WORKDAY}
    return WorkingCalendar(first_year, frozenset(row.year for row in rows), holidays, workdays)


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
    existing.source, existing.loaded_at = schedule.source, utcnow()
    session.execute(delete(CalendarDay).where(CalendarDay.year == schedule.year))
    _insert_days(session, schedule)
    return REPLACED


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
