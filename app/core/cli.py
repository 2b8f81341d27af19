"""`govhall db …`: migrations."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.core import migrate


@click.group("db", cls=AppGroup, help="Database schema migrations (Alembic).")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Migrate the database to REVISION (default: the newest).")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    migrate.upgrade(current_app.extensions["govhall.engine"], revision)
    click.echo(f"database at {migrate.current_revision(current_app.extensions['govhall.engine'])}")


@db_group.command("downgrade", help="Migrate the database back to REVISION.")
@click.argument("revision")
def downgrade(revision: str) -> None:
    migrate.downgrade(current_app.extensions["govhall.engine"], revision)
    click.echo(f"database at {migrate.current_revision(current_app.extensions['govhall.engine'])}")


@db_group.command("current", help="Print the database's migration revision.")
def current() -> None:
    click.echo(migrate.current_revision(current_app.extensions["govhall.engine"]) or "empty")
