"""`govhall demo load`: the Jinan demo."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from app.cli import command_session
from app.core.web import settings
from app.demo.loader import DEMO_LOGINS, DEMO_PASSWORD, load_demo
from app.tenants.divisions import DivisionFileError
from app.tenants.files import TenantFileError


@click.group("demo", cls=AppGroup, help="Demo data.")
def demo_group() -> None:
    pass


@demo_group.command("load", help="Load the Jinan demo (divisions, tenant files, demo logins).")
def load() -> None:
    if not settings().demo_mode:
        raise click.ClickException("demo load sets published passwords: only on a demo node (set demo_mode: true, "
                                   "or GOVHALL_DEMO_MODE=true)")
    try:
        with command_session() as session:
            result = load_demo(session, Path(settings().tenants_dir), settings().root_tenant)
    except (DivisionFileError, TenantFileError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"divisions: {result.divisions}")
    click.echo("tenant files: " + ("no changes" if result.plan.empty else result.plan.summary()))
    click.echo(f"demo logins (password {DEMO_PASSWORD}):")
    for username, label in DEMO_LOGINS:
        click.echo(f"  {username:<14} {label}")
