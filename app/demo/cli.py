"""`govhall demo load`: the Jinan demo; `govhall demo cases`: case history at scale."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.cases.demo import CHUNK_SIZE, DemoError, Summary, generate_cases
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


@demo_group.command("cases", help=(
    "Generate N cases (办件) of the past 18 months over the towns (or all places) of this node, in bulk: "
    "numbers continue each place's daily sequence, due dates follow the working-day calendar, states range "
    "from applied to issued. Generated history has NO audit events (the audit chains are left untouched "
    "and still verify). Demo nodes only."))
@click.option("--count", type=click.IntRange(min=1), required=True, help="How many cases to generate.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed and database: same cases.")
@click.option("--places", type=click.Choice(["town", "all"]), default="town", show_default=True,
              help="Towns (乡镇/街道) only, or every place that offers items (county and city halls too).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=CHUNK_SIZE, show_default=True,
              help="Cases per transaction (each holds the database's write lock while it is written).")
def cases(count: int, seed: int, places: str, chunk_size: int) -> None:
    if not settings().demo_mode:
        raise click.ClickException("demo cases writes invented applicants and cases: only on a demo node "
                                   "(set demo_mode: true, or GOVHALL_DEMO_MODE=true)")

    def progress(done: Summary) -> None:
        click.echo(f"  {done.cases:>10,} / {count:,} cases  {done.seconds:6.1f} s  {done.rate:8,.0f} cases/s")

    click.echo(f"generating {count:,} cases (seed {seed}, places: {places}); no audit events are written")
    try:
        summary = generate_cases(current_app.extensions["govhall.engine"], count, seed=seed, places=places,
                                 chunk_size=chunk_size, progress=progress)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    states = ", ".join(f"{state} {n:,}" for state, n in summary.states.most_common())
    click.echo(f"{summary.cases:,} cases over {summary.places:,} places, accepted {summary.first_day} to "
               f"{summary.last_day}, in {summary.seconds:.1f} s ({summary.rate:,.0f} cases/s)")
    click.echo(f"  with {summary.materials:,} materials, {summary.tasks:,} review tasks, {summary.pauses:,} pauses")
    click.echo(f"  states: {states}")
    click.echo("  audit events written: 0 (generated history has none; `govhall audit verify` still passes)")
