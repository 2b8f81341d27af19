"""`govhall staff …`: passwords, access and API tokens of staff accounts."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from app.cli import command_session
from app.core.auth import (
    deactivate,
    end_sessions,
    find_account,
    find_staff,
    hash_password,
    issue_token,
    revoke_token,
    tokens_of,
)
from app.core.db import utcnow
from app.core.web import settings
from app.halls.models import Staff


@click.group("staff", cls=AppGroup, help="Staff accounts: passwords, access and API tokens.")
def staff_group() -> None:
    pass


def _active(session: Session, username: str) -> Staff:
    staff = find_staff(session, username)
    if staff is None:
        raise click.ClickException(f"no active staff account {username!r}")
    return staff


def _account(session: Session, username: str) -> Staff:
    staff = find_account(session, username)
    if staff is None:
        raise click.ClickException(f"no staff account {username!r}")
    return staff


@staff_group.command("token", help="Issue an API bearer token for USERNAME (printed once).")
@click.argument("username")
def token(username: str) -> None:
    with command_session() as session:
        value = issue_token(session, _active(session, username), timedelta(days=settings().token_ttl_days))
    click.echo(value)


@staff_group.command("password", help="Set USERNAME's password (asked twice, never echoed); signs them out everywhere.")
@click.argument("username")
@click.password_option()
def password(username: str, password: str) -> None:
    if len(password) < 10:
        raise click.ClickException("a password needs at least 10 characters")
    with command_session() as session:
        staff = _active(session, username)
        staff.password_hash = hash_password(password)
        end_sessions(session, staff.id)
    click.echo(f"password set for {username}; their existing sessions are signed out")


@staff_group.command("deactivate", help="Take away USERNAME's access: no sign-in, sessions ended, API tokens deleted.")
@click.argument("username")
def deactivate_command(username: str) -> None:
    with command_session() as session:
        staff = _account(session, username)
        was_active = staff.active
        deleted = deactivate(session, staff)
    state = "deactivated" if was_active else "was already deactivated"
    click.echo(f"{username} {state}; sessions ended, {deleted} API token(s) deleted "
               f"(running workers forget cached tokens within {settings().token_cache_seconds:g} s)")


@staff_group.command("activate", help="Let USERNAME sign in again (API tokens must be issued anew).")
@click.argument("username")
def activate_command(username: str) -> None:
    with command_session() as session:
        staff = _account(session, username)
        was_active = staff.active
        staff.active = True
    click.echo(f"{username} was already active" if was_active else f"{username} activated")


@staff_group.command("tokens", help="List USERNAME's API tokens: id, created, expires (never the token itself).")
@click.argument("username")
def tokens_command(username: str) -> None:
    with command_session() as session:
        tokens = tokens_of(session, _account(session, username))
        now = utcnow()
        lines = [f"{t.id:>6}  {t.created_at:%Y-%m-%d %H:%M}  {t.expires_at:%Y-%m-%d %H:%M}"
                 + ("  expired" if t.expires_at < now else "") for t in tokens]
    if not lines:
        click.echo(f"{username} has no API tokens")
        return
    click.echo(f"{'id':>6}  {'created (UTC)':<16}  {'expires (UTC)':<16}")
    click.echo("\n".join(lines))


@staff_group.command("revoke-token", help="Delete the API token TOKEN_ID (see `govhall staff tokens`).")
@click.argument("token_id", type=int)
def revoke_token_command(token_id: int) -> None:
    with command_session() as session:
        owner = revoke_token(session, token_id)
        if owner is None:
            raise click.ClickException(f"no API token with id {token_id}")
        username = owner.username
    click.echo(f"token {token_id} of {username} revoked "
               f"(running workers forget it within {settings().token_cache_seconds:g} s)")
