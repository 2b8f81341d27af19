"""The `govhall` command: Flask's CLI plus the feature command groups."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup
from sqlalchemy.orm import Session

from app.core.db import session_scope
from app.core.tenancy import Scope, set_scope


@contextmanager
def command_session() -> Iterator[Session]:
    """A CLI command's unit of work: system scope, one commit at the end."""
    with session_scope(current_app.extensions["govhall.sessions"]) as session:
        yield set_scope(session, Scope.system())


def _create_app() -> Flask:
    from app import create_app
    from app.core.settings import SettingsError

    try:
        return create_app()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def build_cli() -> click.Group:
    from app.calendar.cli import calendar_group
    from app.cases.cli import cases_group
    from app.core.audit_cli import audit_group
    from app.core.cli import db_group
    from app.demo.cli import demo_group
    from app.halls.cli import staff_group
    from app.sync.cli import sync_group
    from app.tenants.cli import tenants_group

    cli = FlaskGroup(create_app=_create_app, add_version_option=False, load_dotenv=False,
                     help="GovHall: the government service hall platform.")
    for group in (db_group, tenants_group, staff_group, demo_group, calendar_group, audit_group, cases_group,
                  sync_group):
        cli.add_command(group)
    return cli


def main() -> None:
    cli = build_cli()
    # Everything imported so far lives as long as the process: moving it out of the collector's
    # view makes bulk work (tenant apply: ~100k short-lived objects) markedly faster (scripts/bench).
    gc.freeze()
    cli(prog_name="govhall")
