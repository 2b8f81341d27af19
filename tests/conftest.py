"""Shared fixtures: databases (SQLite or PostgreSQL), apps, clients, logins and tokens."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app import create_app
from app.core.auth import find_staff, issue_token
from app.core.db import make_engine, make_session_factory, session_scope
from app.core.migrate import upgrade
from app.core.settings import Settings
from app.core.tenancy import Scope, install_scoping, set_scope
from app.demo.loader import DEMO_PASSWORD, load_demo
from tests.databases import REPO, PostgresDatabases, SqliteDatabases

# The live server fixture (browser and sync e2e tests) as a plugin of the whole suite: registered here,
# before any test module imports tests.live_server, so pytest can rewrite its asserts whatever the order.
pytest_plugins = ["tests.live_server"]

ROOT = "370100000000"
TENANTS_DIR = REPO / "tenants"
# Places used throughout the cross-tenant tests (all in the shipped Jinan files).
CITY = "370100000000"
LIXIA = "370102000000"            # county A
LIXIA_JIEFANGLU = "370102001000"  # town A (under county A)
LIXIA_QIANFOSHAN = "370102002000"  # sibling town of A
LICHENG = "370112000000"          # sibling county B
LICHENG_SHANDALU = "370112001000"  # a town of county B


def pytest_report_header() -> str:
    url = os.environ.get("GOVHALL_TEST_DATABASE_URL")
    return f"govhall database: {'PostgreSQL ' + url if url else 'SQLite (temporary files)'}"


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteDatabases | PostgresDatabases]:
    url = os.environ.get("GOVHALL_TEST_DATABASE_URL")
    if url:
        admin = os.environ.get("GOVHALL_TEST_PG_ADMIN_URL") or url
        dbs: SqliteDatabases | PostgresDatabases = PostgresDatabases(url, admin)
    else:
        dbs = SqliteDatabases(tmp_path_factory.mktemp("databases"))
    dbs.build_template(populate_demo)
    yield dbs
    if isinstance(dbs, PostgresDatabases):
        dbs.close()


def populate_demo(url: str) -> None:
    """Migrate and load the Jinan demo, as `scripts/demo` does."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        install_scoping()
        with session_scope(make_session_factory(engine)) as session:
            set_scope(session, Scope.system())
            load_demo(session, TENANTS_DIR, ROOT)
    finally:
        engine.dispose()


def make_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url, "secret_key": "test-secret-key-0123456789", "root_tenant": ROOT,
        "session_cookie_secure": False, "tenants_dir": str(TENANTS_DIR),
        "token_cache_seconds": 0,  # tests change accounts between requests; the cache has its own test
    }
    return Settings(**(values | overrides))


@pytest.fixture
def demo_url(databases: SqliteDatabases | PostgresDatabases) -> Iterator[str]:
    """A private copy of the demo database for one test."""
    url = databases.copy_of_template()
    yield url
    databases.drop(url)


@pytest.fixture
def blank_url(databases: SqliteDatabases | PostgresDatabases) -> Iterator[str]:
    """An empty database (no tables) for one test."""
    url = databases.blank()
    yield url
    databases.drop(url)


def _app_for(url: str) -> Iterator[Flask]:
    app = create_app(make_settings(url))
    app.config["TESTING"] = True
    yield app
    app.extensions["govhall.engine"].dispose()


@pytest.fixture
def app(demo_url: str) -> Iterator[Flask]:
    yield from _app_for(demo_url)


@pytest.fixture(scope="module")
def shared_app(databases: SqliteDatabases | PostgresDatabases) -> Iterator[Flask]:
    """One demo database for a whole module of tests that only read."""
    url = databases.copy_of_template()
    yield from _app_for(url)
    databases.drop(url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def system_session(app: Flask) -> Iterator[Session]:
    """A system-scope session on the test's database (for setting up and checking state)."""
    session = set_scope(app.extensions["govhall.sessions"](), Scope.system())
    yield session
    session.rollback()
    session.close()


CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    html = client.get(page).get_data(as_text=True)
    match = CSRF_INPUT.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, username: str, password: str = DEMO_PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, f"login of {username} failed: {response.status_code}"


def post_form(client: FlaskClient, url: str, data: dict[str, Any], page: str = "/home") -> Any:
    """Submit a form the way a browser does: with the session's CSRF token."""
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page)})


def bearer(app: Flask, username: str) -> dict[str, str]:
    """Authorization header with a fresh API token for `username` (as `govhall staff token`)."""
    with session_scope(app.extensions["govhall.sessions"]) as session:
        set_scope(session, Scope.system())
        staff = find_staff(session, username)
        assert staff is not None, username
        token = issue_token(session, staff, timedelta(days=1))
    return {"Authorization": f"Bearer {token}"}


def repo_path(*parts: str) -> Path:
    return REPO.joinpath(*parts)


class QueryCounter:
    """Counts SQL statements an app's engine runs while active (catches N+1 loops)."""

    def __init__(self, app: Flask) -> None:
        self.engine = app.extensions["govhall.engine"]
        self.statements: list[str] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        from sqlalchemy import event

        self.statements.clear()
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def count(self) -> int:
        return len(self.statements)
