"""Reading a year's schedule file (tenants/calendar/README.md): every problem with its place in the file.

Dates stay text until checked here (the YAML timestamp type is switched off), so a bad date such as
2027-02-30 is reported at its place instead of failing inside the YAML parser.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from app.calendar.clock import HOLIDAY, ONE_DAY, WORKDAY
from app.calendar.services import YearSchedule
from app.core.errors import UserError
from app.core.yamlfiles import read_yaml

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CalendarFileError(UserError):
    """One or more problems in a calendar file; nothing has been written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems), place="calendar file")
        self.problems = problems


class _TextDatesLoader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: 2027-01-01 reads as the string '2027-01-01'."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _iso_date(value: Any) -> date:
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a date") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Text = Annotated[str, Field(min_length=1), BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)]


class HolidayRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, Field(max_length=100)]
    first: IsoDate = Field(alias="from")
    last: IsoDate | None = Field(default=None, alias="to")  # omitted: a one-day holiday


class CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    source: Annotated[Text, Field(max_length=300)]
    holidays: list[HolidayRange] = Field(min_length=1)
    workdays: list[IsoDate] = Field(default_factory=list)


def read_calendar_file(path: Path) -> YearSchedule:
    """Parse and check one year's file; raise CalendarFileError naming every problem's place."""
    label = str(path)
    parsed = _parse(_read_yaml(path, label), label)
    schedule = YearSchedule(parsed.year, parsed.source)
    problems = _holiday_problems(parsed, schedule) + _workday_problems(parsed, schedule)
    if problems:
        raise CalendarFileError([f"{label}: {problem}" for problem in problems])
    return schedule


def _read_yaml(path: Path, label: str) -> Any:
    return read_yaml(path, label, _TextDatesLoader, CalendarFileError)


def _parse(data: Any, label: str) -> CalendarFile:
    try:
        return CalendarFile.model_validate(data)
    except ValidationError as exc:
        raise CalendarFileError([f"{label}: {_where(error['loc'])}: {_message(error)}"
                                 for error in exc.errors()]) from None


def _where(loc: tuple[Any, ...]) -> str:
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    return where or "top level"


def _message(error: Any) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _holiday_problems(parsed: CalendarFile, schedule: YearSchedule) -> list[str]:
    """Fill `schedule` with the holiday days; return what is wrong, each with its place."""
    problems: list[str] = []
    claimed: dict[date, str] = {}
    for i, holiday in enumerate(parsed.holidays):
        where = f"holidays[{i}] ({holiday.name})"
        last = holiday.last or holiday.first
        problems += [f"{where}.{key}: {day} is not in {parsed.year}"
                     for key, day in (("from", holiday.first), ("to", holiday.last))
                     if day is not None and day.year != parsed.year]
        if last < holiday.first:
            problems.append(f"{where}: 'to' {last} is before 'from' {holiday.first}")
        day = holiday.first
        while day <= last and day.year == parsed.year:
            if day in claimed:
                problems.append(f"{where}: {day} is already in {claimed[day]}")
            claimed[day] = where
            schedule.days[day] = (HOLIDAY, holiday.name)
            day += ONE_DAY
    return problems


def _workday_problems(parsed: CalendarFile, schedule: YearSchedule) -> list[str]:
    problems: list[str] = []
    for i, day in enumerate(parsed.workdays):
        where = f"workdays[{i}]: {day}"
        if day.year != parsed.year:
            problems.append(f"{where} is not in {parsed.year}")
        elif day.weekday() < 5:
            problems.append(f"{where} is a {WEEKDAYS[day.weekday()]}; only a Saturday or Sunday can be "
                            "declared a working day (a weekday is one already)")
        elif day in schedule.days:
            kind, name = schedule.days[day]
            problems.append(f"{where} is also a holiday ({name})" if kind == HOLIDAY else f"{where} is listed twice")
        else:
            schedule.days[day] = (WORKDAY, "")
    return problems
