"""`govhall cases …`: deadline maintenance (and demo data, in app.cases.demo)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.cases.deadlines import reschedule
from app.cli import command_session


@click.group("cases", cls=AppGroup, help="Cases (办件): deadline maintenance.")
def cases_group() -> None:
    pass


@cases_group.command("reschedule", help="Recompute deadlines flagged 'calendar missing' (after calendar load).")
def reschedule_command() -> None:
    with command_session() as session:
        fixed = reschedule(session)
    click.echo(f"{fixed} case(s) now have a due date")
