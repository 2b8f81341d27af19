"""The working-day clock: pure functions over a calendar already in memory (no queries here).

Rules (DOMAIN.md §5):
- A working day is a declared workday (调休), or a Mon–Fri day that is not a declared holiday.
- 民法典 §201: the day of acceptance is not counted. A limit of N working days ends on the N-th working
  day strictly after acceptance, also when acceptance falls on a holiday.
- 民法典 §203: a limit in natural days that ends on a non-working day moves to the next working day.
- 行政许可法 §45: working days spent paused (hearing, testing, expert review …) are added.
- A day in a year without data raises `CalendarMissing`; `due_date` turns that into a flagged result.
  The clock never falls back to the plain Mon–Fri rule.

Build a `WorkingCalendar` with `app.calendar.services.load_calendar` (one query) and reuse it for
every computation of a request or a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

WORKING = "working"
NATURAL = "natural"
UNITS = (WORKING, NATURAL)
HOLIDAY = "holiday"
WORKDAY = "workday"
ONE_DAY = timedelta(days=1)


class CalendarMissing(LookupError):
    """A computation needs a year that has no calendar data."""

    def __init__(self, years: Iterable[int]) -> None:
        self.years = tuple(sorted(set(years)))
        super().__init__(f"no working-day calendar for {', '.join(map(str, self.years))}")


@dataclass(frozen=True)
class Due:
    """A computed due date, or the years whose calendar is missing (then `day` is None)."""

    day: date | None
    missing_years: tuple[int, ...] = ()

    @property
    def calendar_missing(self) -> bool:
        return self.day is None

    def __str__(self) -> str:
        if self.day is None:
            return f"calendar missing for {', '.join(map(str, self.missing_years))}"
        return self.day.isoformat()


@dataclass(frozen=True)
class WorkingCalendar:
    """The declared days of every year from `first_year` on that has data (`years`).

    A year at or after `first_year` that is not in `years` is missing. Asking about a year before
    `first_year` is a programming error (the calendar was loaded from too late a year).
    """

    first_year: int
    years: frozenset[int]
    holidays: Mapping[date, str] = field(default_factory=dict)
    workdays: Mapping[date, str] = field(default_factory=dict)

    def has_year(self, year: int) -> bool:
        return year in self.years

    def is_working_day(self, day: date) -> bool:
        self._require(day)
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the first working day after it (§203)."""
        while not self.is_working_day(day):
            day += ONE_DAY
        return day

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day strictly after `start` (§201); `start` itself when n is 0 (即办)."""
        if n < 0:
            raise ValueError(f"cannot count {n} working days")
        day = start
        while n:
            day += ONE_DAY
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in [start, end): the day a pause began counts as paused, the day it ended
        does not (the clock runs again that day). A pause begun and ended on the same day counts 0."""
        if end < start:
            raise ValueError(f"{end} is before {start}")
        count, day = 0, start
        while day < end:
            count += self.is_working_day(day)
            day += ONE_DAY
        return count

    def due_date(self, accepted_on: date, days: int, unit: str, paused_working_days: int = 0) -> Due:
        """When a limit of `days` in `unit` ('working' or 'natural'), accepted on `accepted_on` and
        paused for `paused_working_days`, ends. Pauses extend the limit in working days for both units."""
        try:
            return Due(self._due_day(accepted_on, days, unit, paused_working_days))
        except CalendarMissing as missing:
            return Due(None, missing.years)

    def _due_day(self, accepted_on: date, days: int, unit: str, paused: int) -> date:
        if unit == WORKING:
            return self.add_working_days(accepted_on, days + paused)
        if unit == NATURAL:
            if days < 0:
                raise ValueError(f"cannot count {days} natural days")
            end = accepted_on + timedelta(days=days)
            end = self.next_working_day(end) if days else end
            return self.add_working_days(end, paused)
        raise ValueError(f"unknown unit '{unit}' (expected one of {', '.join(UNITS)})")

    def working_days_left(self, due: date, today: date) -> int:
        """Working days in (today, due]: 0 on the due day itself; negative when overdue."""
        if today > due:
            return -self.working_days_between(due + ONE_DAY, today + ONE_DAY)
        return self.working_days_between(today + ONE_DAY, due + ONE_DAY)

    def due_soon(self, due: date, today: date, warn_days: int = 1) -> bool:
        """Not overdue, and at most `warn_days` working days left (the due day itself included)."""
        return not self.overdue(due, today) and self.working_days_left(due, today) <= warn_days

    @staticmethod
    def overdue(due: date, today: date) -> bool:
        """Past the due day. The due day itself is still in time (the limit ends with that day)."""
        return today > due

    def _require(self, day: date) -> None:
        if day.year < self.first_year:
            raise ValueError(f"this calendar was loaded from {self.first_year}; it cannot answer for {day}")
        if day.year not in self.years:
            raise CalendarMissing([day.year])
