"""`govhall staff …`: passwords and API tokens for staff accounts."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from app.cli import command_session
from app.core.auth import find_staff, hash_password, issue_token
from app.core.web import settings


@click.group("staff", cls=AppGroup, help="Staff accounts: passwords and API tokens.")
def staff_group() -> None:
    pass


@staff_group.command("token", help="Issue an API bearer token for USERNAME (printed once).")
@click.argument("username")
def token(username: str) -> None:
    with command_session() as session:
        staff = find_staff(session, username)
        if staff is None:
            raise click.ClickException(f"no active staff account {username!r}")
        value = issue_token(session, staff, timedelta(days=settings().token_ttl_days))
    click.echo(value)


@staff_group.command("password", help="Set USERNAME's password (asked twice, never echoed).")
@click.argument("username")
@click.password_option()
def password(username: str, password: str) -> None:
    if len(password) < 10:
        raise click.ClickException("a password needs at least 10 characters")
    with command_session() as session:
        staff = find_staff(session, username)
        if staff is None:
            raise click.ClickException(f"no active staff account {username!r}")
        staff.password_hash = hash_password(password)
    click.echo(f"password set for {username}")
