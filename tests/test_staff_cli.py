"""`govhall staff …`: changing a password ends sessions; deactivating removes every way in; tokens are listed
and revoked by id. Commands run in-process with click's runner on the test's own database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import create_app
from app.core.auth import ApiToken, find_account
from app.core.db import utcnow
from app.demo.loader import DEMO_PASSWORD
from app.halls.cli import staff_group
from tests.conftest import bearer, csrf_token, login, make_settings

NEW_PASSWORD = "a-new-password-2026"


def staff(app: Flask, *args: str) -> Result:
    """Run `govhall staff ARGS…` against the app's database, as ops would."""
    return app.test_cli_runner().invoke(staff_group, list(args))


def copy_of_session(app: Flask, client: FlaskClient) -> FlaskClient:
    cookie = client.get_cookie("govhall_session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("govhall_session", cookie.value)
    return other


def is_signed_in(client: FlaskClient) -> bool:
    return client.get("/home").status_code == 200


def can_read_api(app: Flask, headers: dict[str, str]) -> bool:
    status = app.test_client().get("/api/v1/tenants", headers=headers).status_code
    assert status in (200, 401)
    return status == 200


def token_ids(session: Session, username: str) -> list[int]:
    session.expire_all()
    account = find_account(session, username)
    assert account is not None
    return list(session.scalars(select(ApiToken.id).where(ApiToken.staff_id == account.id).order_by(ApiToken.id)))


def sign_in_status(app: Flask, username: str, password: str) -> int:
    """Status of a fresh browser's login post: 302 signed in, 200 refused."""
    client = app.test_client()
    data = {"username": username, "password": password, "csrf_token": csrf_token(client)}
    return client.post("/login", data=data).status_code


# --- password -----------------------------------------------------------------------------------------

def test_password_change_ends_existing_sessions(app, client):
    """After `staff password`, does a copied cookie stop working, and does only the new password sign in?"""
    login(client, "lx_admin")
    copy = copy_of_session(app, client)
    assert is_signed_in(copy) and is_signed_in(client)  # control: both work before the change
    result = staff(app, "password", "lx_admin", "--password", NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert "password set for lx_admin" in result.output
    assert not is_signed_in(copy)
    assert not is_signed_in(client)
    assert sign_in_status(app, "lx_admin", DEMO_PASSWORD) == 200
    assert sign_in_status(app, "lx_admin", NEW_PASSWORD) == 302


def test_password_for_unknown_user_fails(app):
    """Does `staff password` for a name that does not exist say so and exit non-zero?"""
    result = staff(app, "password", "nobody", "--password", NEW_PASSWORD)
    assert result.exit_code == 1
    assert "no active staff account 'nobody'" in result.output


# --- deactivate / activate ----------------------------------------------------------------------------

def test_deactivate_removes_every_way_in(app, client, system_session):
    """After `staff deactivate`, are the person's session, password and API token all refused?"""
    headers = bearer(app, "lc_admin")
    login(client, "lc_admin")
    other_headers = bearer(app, "lx_admin")
    assert is_signed_in(client) and can_read_api(app, headers)  # control: all good before
    result = staff(app, "deactivate", "lc_admin")
    assert result.exit_code == 0, result.output
    assert "lc_admin deactivated" in result.output and "1 API token(s) deleted" in result.output
    assert not is_signed_in(client)
    assert not can_read_api(app, headers)
    assert sign_in_status(app, "lc_admin", DEMO_PASSWORD) == 200
    assert token_ids(system_session, "lc_admin") == []
    assert can_read_api(app, other_headers)  # control: someone else's token is untouched
    account = find_account(system_session, "lc_admin")
    assert account is not None and not account.active


def test_deactivate_twice_is_harmless(app):
    """Does deactivating an already deactivated account succeed and say so?"""
    assert staff(app, "deactivate", "lc_admin").exit_code == 0
    again = staff(app, "deactivate", "lc_admin")
    assert again.exit_code == 0
    assert "already deactivated" in again.output


def test_activate_lets_the_person_back_in_without_old_tokens_or_sessions(app, client):
    """After `staff activate`, can the person sign in again, while their old token and old cookie stay dead?"""
    headers = bearer(app, "lc_admin")
    login(client, "lc_admin")
    assert staff(app, "deactivate", "lc_admin").exit_code == 0
    assert sign_in_status(app, "lc_admin", DEMO_PASSWORD) == 200
    result = staff(app, "activate", "lc_admin")
    assert result.exit_code == 0 and "lc_admin activated" in result.output
    assert sign_in_status(app, "lc_admin", DEMO_PASSWORD) == 302
    assert not can_read_api(app, headers)
    assert not is_signed_in(client)  # a cookie from before the deactivation does not come back to life
    assert can_read_api(app, bearer(app, "lc_admin"))  # a newly issued token works
    assert "already active" in staff(app, "activate", "lc_admin").output


@pytest.mark.parametrize("command", ["deactivate", "activate", "tokens"])
def test_unknown_user_fails(app, command):
    """Does each account command refuse a name that does not exist, with a message and exit 1?"""
    result = staff(app, command, "nobody")
    assert result.exit_code == 1
    assert "no staff account 'nobody'" in result.output


def test_token_cache_does_not_outlive_deactivation(app, system_session):
    """With the per-worker token cache on, is a deactivated person's token refused once the entry's TTL is over?"""
    cached = create_app(make_settings(app.config["GOVHALL_SETTINGS"].database_url, token_cache_seconds=30))
    try:
        cache = cached.extensions["govhall.principals"]
        now = [1000.0]
        cache.clock = lambda: now[0]
        headers = bearer(cached, "lc_admin")
        assert can_read_api(cached, headers)  # cached from here on
        assert staff(app, "deactivate", "lc_admin").exit_code == 0
        now[0] += 31
        assert not can_read_api(cached, headers)
    finally:
        cached.extensions["govhall.engine"].dispose()


# --- tokens / revoke-token ----------------------------------------------------------------------------

def test_tokens_lists_ids_and_dates_never_the_token(app, system_session):
    """Does `staff tokens` show each token's id, creation and expiry, mark expired ones, and never print a token?"""
    first = bearer(app, "lx_admin")["Authorization"].removeprefix("Bearer ")
    second = bearer(app, "lx_admin")["Authorization"].removeprefix("Bearer ")
    old_id, new_id = token_ids(system_session, "lx_admin")
    system_session.execute(update(ApiToken).where(ApiToken.id == old_id).values(expires_at=utcnow() - timedelta(days=1)))
    system_session.commit()
    result = staff(app, "tokens", "lx_admin")
    assert result.exit_code == 0, result.output
    rows = {int(line.split()[0]): line for line in result.output.splitlines()[1:]}
    assert set(rows) == {old_id, new_id}
    assert rows[old_id].endswith("expired") and not rows[new_id].endswith("expired")
    assert first not in result.output and second not in result.output and "ghk_" not in result.output
    empty = staff(app, "tokens", "lc_admin")
    assert empty.exit_code == 0 and "lc_admin has no API tokens" in empty.output


def test_revoke_token_refuses_that_token_only(app, system_session):
    """After `staff revoke-token ID`, is that token refused while the person's other token still works?"""
    revoked, kept = bearer(app, "lx_admin"), bearer(app, "lx_admin")
    first_id, _second_id = token_ids(system_session, "lx_admin")
    assert can_read_api(app, revoked)
    result = staff(app, "revoke-token", str(first_id))
    assert result.exit_code == 0, result.output
    assert f"token {first_id} of lx_admin revoked" in result.output
    assert not can_read_api(app, revoked)
    assert can_read_api(app, kept)


@pytest.mark.parametrize(("token_id", "exit_code", "message"), [
    ("999999", 1, "no API token with id 999999"), ("abc", 2, "'abc' is not a valid integer"),
])
def test_revoke_unknown_token_fails(app, token_id, exit_code, message):
    """Does revoking an id that does not exist, or is not a number, fail with a message?"""
    result = staff(app, "revoke-token", token_id)
    assert result.exit_code == exit_code
    assert message in result.output
