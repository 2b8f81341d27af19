"""`govhall cases …`: deadline maintenance, a count of cases by state, and a check that every place's
number counter is ahead of the numbers already issued (after a bulk load: `govhall demo cases`,
an import from another system). Demo data itself is `govhall demo cases` (app.cases.demo)."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup
from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from app.cases.deadlines import china_today, reschedule
from app.cases.models import Case, CaseCounter
from app.cases.queries import OPEN_STATES
from app.cli import command_session
from app.core.tenancy import CODE_PATTERN, subtree_range


@click.group("cases", cls=AppGroup, help="Cases (办件): deadline maintenance, counts, number counters.")
def cases_group() -> None:
    pass


@cases_group.command("reschedule", help="Recompute deadlines flagged 'calendar missing' (after calendar load).")
def reschedule_command() -> None:
    with command_session() as session:
        fixed = reschedule(session)
    click.echo(f"{fixed} case(s) now have a due date")


@cases_group.command("stats", help="Cases by state at PLACE and below (default: the whole node), with the "
                                   "open ones overdue or waiting for a calendar year.")
@click.argument("place", required=False, default="")
def stats_command(place: str) -> None:
    if place and not CODE_PATTERN.fullmatch(place):
        raise click.ClickException("PLACE is a 12-digit division code")
    with command_session() as session:
        within = [Case.tenant_code.between(*subtree_range(place))] if place else []
        by_state = dict(session.execute(select(Case.state, func.count()).where(*within).group_by(Case.state)).all())
        open_now = [*within, Case.state.in_(OPEN_STATES)]
        overdue = session.scalar(select(func.count()).where(*open_now, Case.due_date < china_today())) or 0
        undated = session.scalar(select(func.count()).where(*open_now, Case.calendar_missing != "")) or 0
    click.echo(f"{sum(by_state.values()):,} case(s)" + (f" at {place} and below" if place else ""))
    for state, count in sorted(by_state.items(), key=lambda pair: -pair[1]):
        click.echo(f"  {state:<13} {count:>12,}")
    click.echo(f"open and overdue: {overdue:,}; open without a due date (calendar missing): {undated:,}")


@cases_group.command("check-counters", help="Find places and days whose number counter is behind the numbers "
                                            "their cases already carry (the next acceptance there would fail); "
                                            "--fix moves those counters up.")
@click.option("--fix", is_flag=True, help="Set each lagging counter to the highest sequence issued.")
def check_counters_command(fix: bool) -> None:
    with command_session() as session:
        behind = lagging_counters(session)
        for (place, day), (last, highest) in sorted(behind.items()):
            click.echo(f"  {place} {day}: counter {last}, highest number issued {highest}")
            if fix:
                _raise_counter(session, place, day, highest)
    if behind and not fix:
        raise click.ClickException(f"{len(behind)} counter(s) behind their cases: run with --fix")
    click.echo(f"{len(behind)} counter(s) moved up" if fix else "every counter is ahead of its cases")


def lagging_counters(session: Session) -> dict[tuple[str, dt.date], tuple[int, int]]:
    """(place, day) → (counter, highest sequence among its case numbers), where the counter is behind.
    Reads every case number once (a grouped query): maintenance, not a request path."""
    day_digits, sequence = func.substr(Case.number, 13, 8), cast(func.substr(Case.number, 21, 6), Integer)
    issued = session.execute(select(Case.tenant_code, day_digits, func.max(sequence))
                             .group_by(Case.tenant_code, day_digits)).all()
    counters = {(c.tenant_code, c.day): c.last for c in session.scalars(select(CaseCounter))}
    behind = {}
    for place, digits, highest in issued:
        day = dt.datetime.strptime(digits, "%Y%m%d").date()
        last = counters.get((place, day), 0)
        if last < highest:
            behind[(place, day)] = (last, highest)
    return behind


def _raise_counter(session: Session, place: str, day: dt.date, highest: int) -> None:
    counter = session.get(CaseCounter, (place, day))
    if counter is None:
        session.add(CaseCounter(tenant_code=place, day=day, last=highest))
    else:
        counter.last = max(counter.last, highest)
