"""`govhall calendar …`: seed from the package, load a year's notice, show a year, compute a due date."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click
from flask.cli import AppGroup

from app.calendar import services
from app.calendar.clock import HOLIDAY, UNITS, WORKDAY, WORKING
from app.calendar.loader import CalendarFileError, read_calendar_file
from app.cli import command_session

LOAD_HINT = "load it with `govhall calendar load FILE` (see tenants/calendar/README.md)"
DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group("calendar", cls=AppGroup, help="The working-day calendar: holidays and swapped working days (调休).")
def calendar_group() -> None:
    pass


@calendar_group.command("seed", help="Load every year the chinese-calendar package ships (idempotent).")
def seed() -> None:
    with command_session() as session:
        outcome = services.seed_from_chinese_calendar(session)
    if set(outcome) <= {services.UNCHANGED, services.KEPT}:
        click.echo("No changes.")
    click.echo("calendar years: " + ", ".join(f"{count} {status}" for status, count in sorted(outcome.items())))


@calendar_group.command("load", help="Add or replace one year from a file following the State Council's notice.")
@click.argument("file", type=click.Path(path_type=Path))
def load(file: Path) -> None:
    try:
        schedule = read_calendar_file(file)
    except CalendarFileError as exc:
        raise click.ClickException(f"calendar file refused, nothing loaded:\n{exc}") from None
    with command_session() as session:
        status = services.replace_year(session, schedule)
    click.echo(f"{schedule.year}: {status} ({schedule.count(HOLIDAY)} days off, "
               f"{schedule.count(WORKDAY)} weekend working days; {schedule.source})")


@calendar_group.command("show", help="List a year's holidays and swapped working days.")
@click.argument("year", type=int)
def show(year: int) -> None:
    with command_session() as session:
        row, days = services.year_with_days(session, year)
    if row is None:
        raise click.ClickException(f"no calendar for {year}; {LOAD_HINT}")
    click.echo(f"{year}: {row.source} (loaded {row.loaded_at:%Y-%m-%d %H:%M} UTC)")
    for day in days:
        label = day.name if day.kind == HOLIDAY else f"{day.name} 调休".strip()
        click.echo(f"{day.day.isoformat()} {day.day:%a}  {day.kind:<7}  {label}")


@calendar_group.command("due", help="The due date of a limit of N days accepted on DATE (YYYY-MM-DD).")
@click.argument("accepted_on", metavar="DATE", type=DATE)
@click.argument("days", metavar="N", type=click.IntRange(min=0))
@click.option("--unit", type=click.Choice(UNITS), default=WORKING, show_default=True)
@click.option("--paused", type=click.IntRange(min=0), default=0, show_default=True,
              help="Working days the case was paused (行政许可法 §45).")
def due(accepted_on: datetime, days: int, unit: str, paused: int) -> None:
    accepted: date = accepted_on.date()
    with command_session() as session:
        result = services.due_date(session, accepted, days, unit, paused)
    if result.day is None:
        raise click.ClickException(f"{result}; {LOAD_HINT}")
    click.echo(f"{result.day.isoformat()} {result.day:%a}")
