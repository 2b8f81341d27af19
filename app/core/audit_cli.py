"""`govhall audit …`: check the audit trail's hash chains."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.cli import command_session
from app.core import audit
from app.core.tenancy import CODE_PATTERN


@click.group("audit", cls=AppGroup, help="The audit trail (全程留痕): verify its hash chains.")
def audit_group() -> None:
    pass


def _place(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not CODE_PATTERN.fullmatch(value):
        raise click.BadParameter(f"'{value}' is not a 12-digit division code")
    return value


@audit_group.command("verify", help="Walk every place's chain (or one) and report the first break in each; "
                                    "exits 1 on any problem.")
@click.option("--place", metavar="CODE", callback=_place, help="Verify only this place's chain.")
def verify(place: str | None) -> None:
    with command_session() as session:
        report = audit.verify(session, tenant_code=place)
        session.rollback()  # read only
    for name in report.missing_guards:
        click.echo(f"append-only trigger missing: {name}")
    for problem in report.problems:
        click.echo(str(problem))
    counts = f"{report.chains} chain(s), {report.events} event(s)"
    if report.ok:
        click.echo(f"OK: {counts} verified")
        return
    click.echo(f"FAILED: {len(report.problems)} broken chain(s), {len(report.missing_guards)} missing trigger(s); "
               f"{counts} checked")
    click.get_current_context().exit(1)
