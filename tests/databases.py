"""Test databases: SQLite by default, PostgreSQL when GOVHALL_TEST_DATABASE_URL points at one.

A migrated database with the Jinan demo is built once per run as a template; each test that
needs isolation gets its own copy (a file copy on SQLite, CREATE DATABASE … TEMPLATE on
PostgreSQL), so tests exercise real commits without seeing each other's data.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

REPO = Path(__file__).resolve().parents[1]
_counter = itertools.count()


class SqliteDatabases:
    kind = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template: str | None = None

    def blank(self) -> str:
        return f"sqlite:///{self.directory / f'db{next(_counter)}.sqlite'}"

    def build_template(self, populate: Callable[[str], None]) -> None:
        url = self.blank()
        populate(url)
        self.template = url

    def copy_of_template(self) -> str:
        assert self.template is not None
        url = self.blank()
        shutil.copyfile(make_url(self.template).database or "", make_url(url).database or "")
        return url

    def drop(self, url: str) -> None:
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


class PostgresDatabases:
    kind = "postgresql"

    def __init__(self, base_url: str, admin_url: str) -> None:
        self.base: URL = make_url(base_url)
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.prefix = f"ght{os.getpid()}_"
        self.template: str | None = None

    def _create(self, template: str | None = None) -> str:
        name = f"{self.prefix}{next(_counter)}"
        clause = f" TEMPLATE {make_url(template).database}" if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        return self.base.set(database=name).render_as_string(hide_password=False)

    def blank(self) -> str:
        return self._create()

    def build_template(self, populate: Callable[[str], None]) -> None:
        url = self._create()
        populate(url)
        self.template = url

    def copy_of_template(self) -> str:
        return self._create(self.template)

    def drop(self, url: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))

    def close(self) -> None:
        with self.admin.connect() as connection:
            names = connection.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": self.prefix + "%"}
            ).all()
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()
