"""`govhall tenants …`: division list, onboarding, plan and apply of the tenant files."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from app.cli import command_session
from app.core.errors import UserError
from app.core.web import settings
from app.tenants import services
from app.tenants.divisions import DivisionFileError, import_divisions
from app.tenants.files import TenantFileError
from app.tenants.onboarding import write_onboarding_file

DIR_ARGUMENT = click.argument("directory", required=False, type=click.Path(path_type=Path))


@click.group("tenants", cls=AppGroup, help="The tenant tree: divisions, onboarding, tenant files.")
def tenants_group() -> None:
    pass


def _directory(directory: Path | None) -> Path:
    return directory or Path(settings().tenants_dir)


@tenants_group.command("import-divisions", help="Load a division list CSV (code,name,level,parent_code).")
@click.argument("file", type=click.Path(path_type=Path))
def import_divisions_command(file: Path) -> None:
    try:
        with command_session() as session:
            result = import_divisions(session, file)
    except DivisionFileError as exc:
        raise click.ClickException(f"refused, nothing imported:\n{exc}") from None
    click.echo(f"divisions: {result}")


@tenants_group.command("onboard", help="Write the tenant file of a county and its towns, for review.")
@click.argument("county_code")
@click.option("--force", is_flag=True, help="Rewrite the file if it exists.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Tenant files folder.")
def onboard(county_code: str, force: bool, directory: Path | None) -> None:
    try:
        with command_session() as session:
            path = write_onboarding_file(session, county_code, _directory(directory), force=force)
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"wrote {path}; review it, then run `govhall tenants plan` and `govhall tenants apply`")


@tenants_group.command("plan", help="Show what `apply` would change (nothing is written).")
@DIR_ARGUMENT
@click.option("--limit", default=50, show_default=True, help="Lines shown per kind of change.")
def plan(directory: Path | None, limit: int) -> None:
    try:
        with command_session() as session:
            result = services.plan_directory(session, _directory(directory), settings().root_tenant)
            session.rollback()
    except TenantFileError as exc:
        raise click.ClickException(f"tenant files refused:\n{exc}") from None
    click.echo(result.render(limit))


@tenants_group.command("apply", help="Apply the tenant files in one transaction (idempotent).")
@DIR_ARGUMENT
def apply(directory: Path | None) -> None:
    try:
        with command_session() as session:
            result = services.apply_directory(session, _directory(directory), settings().root_tenant)
    except TenantFileError as exc:
        raise click.ClickException(f"tenant files refused, nothing applied:\n{exc}") from None
    click.echo("No changes." if result.empty else f"Applied: {result.summary()}.")
