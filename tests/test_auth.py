"""Sign-in, throttling, CSRF, cookies, password hashes, redirects, sign-out, caching and security headers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import create_app
from app.core.auth import (
    ADDRESS_MAX_FAILURES,
    LoginAttempt,
    Principal,
    PrincipalCache,
    find_staff,
    hash_password,
)
from app.core.db import utcnow
from app.core.security import SECURITY_HEADERS
from app.demo.loader import DEMO_PASSWORD
from app.halls.models import Window
from tests.conftest import CSRF_INPUT, LIXIA, bearer, csrf_token, login, make_settings, post_form

SESSION_COOKIE = "govhall_session"
ATTACKER, REAL_USER = "203.0.113.9", "198.51.100.20"  # documentation addresses (RFC 5737)


def sign_in(client: FlaskClient, username: str, password: str, url: str = "/login") -> object:
    """Post the login form with a valid CSRF token and return the response, whatever it is."""
    token = csrf_token(client)
    return client.post(url, data={"username": username, "password": password, "csrf_token": token})


def failures_of(session: Session, username: str) -> int:
    session.expire_all()
    query = select(func.count()).where(LoginAttempt.username == username, LoginAttempt.success.is_(False))
    return session.scalar(query) or 0


def client_at(app: Flask, address: str) -> FlaskClient:
    """A browser connecting from `address` (the TCP peer the app sees)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def copy_of_cookie(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (a stolen or shared-PC copy)."""
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    other = app.test_client()
    other.set_cookie(SESSION_COOKIE, cookie.value)
    return other


def is_signed_in(client: FlaskClient) -> bool:
    response = client.get("/home")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def cookie_header(response, name: str) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert headers, f"no {name} cookie set; got {response.headers.getlist('Set-Cookie')}"
    return headers[-1]


def max_failures(app: Flask) -> int:
    return int(app.config["GOVHALL_SETTINGS"].login_max_failures)


# --- signing in ---------------------------------------------------------------------------------------

def test_right_password_signs_in(client):
    """Does a county admin with the right password get a session and their work page?"""
    response = sign_in(client, "lx_admin", DEMO_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    page = client.get("/home")
    assert page.status_code == 200
    assert "孙海涛" in page.get_data(as_text=True)


@pytest.mark.parametrize("username", ["lx_admin", "no_such_user"])
def test_wrong_password_or_unknown_user_is_refused_alike(client, system_session, username):
    """Is a wrong password refused with the same message as an unknown name, and counted?"""
    response = sign_in(client, username, "wrong-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert not is_signed_in(client)
    assert failures_of(system_session, username) == 1


def test_account_without_password_cannot_sign_in(client, system_session):
    """Can an account that has no password set (jn_clerk in the demo) sign in with the demo password?"""
    assert find_staff(system_session, "jn_clerk").password_hash is None
    assert sign_in(client, "jn_clerk", DEMO_PASSWORD).status_code == 200
    assert not is_signed_in(client)
    assert sign_in(client, "lx_admin", DEMO_PASSWORD).status_code == 302  # control: the form works


def test_deactivated_account_cannot_sign_in(app, client, system_session):
    """Can a deactivated staff member still sign in with the right password?"""
    staff = find_staff(system_session, "lc_admin")
    assert staff is not None
    staff.active = False
    system_session.commit()
    assert sign_in(client, "lc_admin", DEMO_PASSWORD).status_code == 200
    assert not is_signed_in(client)
    assert sign_in(client, "lx_admin", DEMO_PASSWORD).status_code == 302


# --- throttling ---------------------------------------------------------------------------------------

def test_one_failure_below_the_limit_still_lets_the_right_password_in(app, client, system_session):
    """After one failure fewer than the limit, does the right password still work?"""
    for _ in range(max_failures(app) - 1):
        assert sign_in(client, "lx_admin", "wrong-password").status_code == 200
    assert failures_of(system_session, "lx_admin") == max_failures(app) - 1
    assert sign_in(client, "lx_admin", DEMO_PASSWORD).status_code == 302


def test_too_many_failures_lock_the_account_until_the_window_passes(app, client, system_session):
    """After the limit of failures, is even the right password refused with 429 until the window has passed?"""
    settings = app.config["GOVHALL_SETTINGS"]
    for _ in range(max_failures(app)):
        assert sign_in(client, "lx_admin", "wrong-password").status_code == 200
    locked = sign_in(client, "lx_admin", DEMO_PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(settings.login_lockout_minutes * 60)
    assert "登录失败次数过多" in locked.get_data(as_text=True)
    assert not is_signed_in(client)
    assert failures_of(system_session, "lx_admin") == max_failures(app)  # refused attempts are not counted

    other = app.test_client()  # the lock is per account and address, not for everyone
    assert sign_in(other, "lc_admin", DEMO_PASSWORD).status_code == 302

    almost = utcnow() - timedelta(minutes=settings.login_lockout_minutes) + timedelta(minutes=1)
    system_session.execute(update(LoginAttempt).values(at=almost))
    system_session.commit()
    assert sign_in(client, "lx_admin", DEMO_PASSWORD).status_code == 429  # still inside the window

    passed = utcnow() - timedelta(minutes=settings.login_lockout_minutes, seconds=1)
    system_session.execute(update(LoginAttempt).values(at=passed))
    system_session.commit()
    assert sign_in(client, "lx_admin", DEMO_PASSWORD).status_code == 302
    assert is_signed_in(client)


def test_an_attacker_address_locks_only_its_own_pair(app, system_session):
    """Can someone failing from their own address lock the real user out? Only their (user, address) pair is locked."""
    attacker, real_user = client_at(app, ATTACKER), client_at(app, REAL_USER)
    for _ in range(max_failures(app)):
        assert sign_in(attacker, "lx_admin", "wrong-password").status_code == 200
    assert sign_in(attacker, "lx_admin", DEMO_PASSWORD).status_code == 429  # the pair is locked, right password or not
    assert sign_in(real_user, "lx_admin", DEMO_PASSWORD).status_code == 302  # the person at their desk is not
    assert is_signed_in(real_user)
    assert sign_in(attacker, "lc_admin", DEMO_PASSWORD).status_code == 302  # nor that address for other names
    system_session.expire_all()
    addresses = set(system_session.scalars(select(LoginAttempt.remote_addr).where(LoginAttempt.success.is_(False))))
    assert addresses == {ATTACKER}


def test_one_address_failing_across_many_usernames_is_capped(app):
    """Can one address try a password on every account (spraying) by staying under each account's limit?"""
    per_name = max_failures(app) - 1
    names = [f"spray{i}" for i in range(ADDRESS_MAX_FAILURES // per_name + 1)]
    sprayer = client_at(app, ATTACKER)
    failures = 0
    for name in names:
        for _ in range(min(per_name, ADDRESS_MAX_FAILURES - 1 - failures)):
            assert sign_in(sprayer, name, "Spring2026!").status_code == 200
            failures += 1
    assert failures == ADDRESS_MAX_FAILURES - 1
    assert sign_in(sprayer, "lx_admin", DEMO_PASSWORD).status_code == 302  # control: one below the cap
    assert sign_in(sprayer, "spray-last", "Spring2026!").status_code == 200  # the 20th failure
    locked = sign_in(sprayer, "lc_admin", DEMO_PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(app.config["GOVHALL_SETTINGS"].login_lockout_minutes * 60)
    assert sign_in(client_at(app, REAL_USER), "lc_admin", DEMO_PASSWORD).status_code == 302  # other addresses are fine


def test_failures_before_a_successful_login_do_not_count(app, system_session):
    """Does a clerk who mistyped a few times, then signed in, start afresh, while new failures still count?"""
    desk = client_at(app, REAL_USER)
    below = max_failures(app) - 1
    for _ in range(below):
        assert sign_in(desk, "lx_admin", "wrong-password").status_code == 200
    assert sign_in(desk, "lx_admin", DEMO_PASSWORD).status_code == 302
    for _ in range(below):
        assert sign_in(desk, "lx_admin", "wrong-password").status_code == 200
    assert failures_of(system_session, "lx_admin") >= max_failures(app)  # all kept, not all counted
    assert sign_in(desk, "lx_admin", DEMO_PASSWORD).status_code == 302
    for _ in range(max_failures(app)):  # control: failures after the last success still lock
        assert sign_in(desk, "lx_admin", "wrong-password").status_code == 200
    assert sign_in(desk, "lx_admin", DEMO_PASSWORD).status_code == 429


@pytest.fixture
def proxied_app(demo_url: str) -> Iterator[Flask]:
    """The app as deployed behind one reverse proxy (proxy_hops: 1), on the test's database."""
    app = create_app(make_settings(demo_url, proxy_hops=1))
    app.config["TESTING"] = True
    yield app
    app.extensions["govhall.engine"].dispose()


def via_proxy(app: Flask, forwarded_for: str) -> FlaskClient:
    client = client_at(app, "127.0.0.1")  # every request arrives from the proxy
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client


def test_behind_a_proxy_the_forwarded_address_is_throttled(proxied_app, system_session):
    """With proxy_hops: 1, is the client address taken from X-Forwarded-For, so one client's lockout spares the rest?"""
    attacker = via_proxy(proxied_app, f"6.6.6.6, {ATTACKER}")  # a forged first entry is not trusted
    for _ in range(max_failures(proxied_app)):
        assert sign_in(attacker, "lx_admin", "wrong-password").status_code == 200
    assert sign_in(attacker, "lx_admin", DEMO_PASSWORD).status_code == 429
    assert sign_in(via_proxy(proxied_app, REAL_USER), "lx_admin", DEMO_PASSWORD).status_code == 302
    system_session.expire_all()
    assert set(system_session.scalars(select(LoginAttempt.remote_addr))) == {ATTACKER, REAL_USER}


def test_without_proxy_hops_forwarded_headers_are_ignored(app, system_session):
    """With the default proxy_hops: 0, can a client dodge its lockout by sending a new X-Forwarded-For each time?"""
    for number in range(max_failures(app)):
        assert sign_in(via_proxy(app, f"10.0.0.{number}"), "lx_admin", "wrong-password").status_code == 200
    assert sign_in(via_proxy(app, REAL_USER), "lx_admin", DEMO_PASSWORD).status_code == 429
    system_session.expire_all()
    assert set(system_session.scalars(select(LoginAttempt.remote_addr))) == {"127.0.0.1"}


# --- CSRF ---------------------------------------------------------------------------------------------

def test_login_without_csrf_token_is_refused(client, system_session):
    """Is a login post without a CSRF token refused before the password is even checked?"""
    client.get("/login")
    response = client.post("/login", data={"username": "lx_admin", "password": "wrong-password"})
    assert response.status_code == 400
    assert failures_of(system_session, "lx_admin") == 0
    response = client.post("/login", data={"username": "lx_admin", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert not is_signed_in(client)


def count_windows(session: Session, code: str) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Window).where(Window.tenant_code == code)) or 0


def test_form_post_without_or_with_a_foreign_csrf_token_changes_nothing(app, client, system_session):
    """Can a signed-in admin be made to add a window by a post without their session's CSRF token?"""
    login(client, "lx_admin")
    before = count_windows(system_session, LIXIA)
    form = {"number": "77", "name": "跨站窗口", "kind": "comprehensive"}
    assert client.post(f"/places/{LIXIA}/windows", data=form).status_code == 400
    stranger = app.test_client()
    foreign_token = csrf_token(stranger)
    assert client.post(f"/places/{LIXIA}/windows", data={**form, "csrf_token": foreign_token}).status_code == 400
    assert count_windows(system_session, LIXIA) == before

    assert post_form(client, f"/places/{LIXIA}/windows", form).status_code == 302  # control: with the token
    assert count_windows(system_session, LIXIA) == before + 1


def test_logout_needs_the_csrf_token(client):
    """Can another site sign a clerk out with a bare POST /logout?"""
    login(client, "lx_jfl_clerk")
    assert client.post("/logout").status_code == 400
    assert is_signed_in(client)


# --- cookies ------------------------------------------------------------------------------------------

def test_session_cookie_is_httponly_and_samesite_lax(client):
    """Is the session cookie hidden from scripts and not sent on cross-site posts?"""
    response = sign_in(client, "lx_admin", DEMO_PASSWORD)
    assert response.status_code == 302
    cookie = cookie_header(response, SESSION_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test settings turn Secure off: the control for the next test


@pytest.fixture
def secure_app(demo_url: str) -> Iterator[Flask]:
    app = create_app(make_settings(demo_url, session_cookie_secure=True))
    app.config["TESTING"] = True
    yield app
    app.extensions["govhall.engine"].dispose()


def test_session_cookie_is_secure_when_configured(secure_app):
    """With session_cookie_secure, are the session and language cookies sent over HTTPS only?"""
    client = secure_app.test_client()
    page = client.get("/login", base_url="https://localhost")
    assert page.status_code == 200
    match = CSRF_INPUT.search(page.get_data(as_text=True))
    assert match
    # Over HTTPS Flask-WTF also checks the Referer (browsers send it: Referrer-Policy same-origin).
    response = client.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"}, data={
        "username": "lx_admin", "password": DEMO_PASSWORD, "csrf_token": match.group(1) or match.group(2)})
    assert response.status_code == 302
    cookie = cookie_header(response, SESSION_COOKIE)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    language = cookie_header(client.get("/lang/en", base_url="https://localhost"), "govhall_lang")
    assert "Secure" in language


def test_language_cookie_is_not_secure_when_not_configured(client):
    """Without session_cookie_secure (plain-HTTP demo), does the language switch still stick?"""
    assert "Secure" not in cookie_header(client.get("/lang/en"), "govhall_lang")


# --- password storage ---------------------------------------------------------------------------------

def test_passwords_are_stored_as_argon2id_hashes(system_session):
    """Is a staff password stored as a salted Argon2id hash that verifies, never as the password?"""
    stored = find_staff(system_session, "lx_admin").password_hash
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert DEMO_PASSWORD not in stored
    assert PasswordHasher().verify(stored, DEMO_PASSWORD)
    first, second = hash_password("same-password"), hash_password("same-password")
    assert first.startswith("$argon2id$") and first != second


# --- redirects ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "\\\\evil.example",
    "javascript:alert(1)", "http:/evil.example", "",
])
def test_login_does_not_redirect_off_site(client, target):
    """Can ?next= after a login send the browser to another site?"""
    response = sign_in(client, "lx_admin", DEMO_PASSWORD, url="/login?" + _query(target))
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"


def test_login_follows_a_same_site_next(client):
    """Does ?next= with a path on this site bring the clerk back where they were?"""
    response = sign_in(client, "lx_admin", DEMO_PASSWORD, url="/login?" + _query(f"/places/{LIXIA}?x=1"))
    assert response.headers["Location"] == f"/places/{LIXIA}?x=1"


@pytest.mark.parametrize(("target", "location"), [("//evil.example", "/home"), ("/\\evil.example", "/home"),
                                                  ("/guide/", "/guide/")])
def test_language_switch_does_not_redirect_off_site(client, target, location):
    """Can the language switch's ?next= send the browser to another site?"""
    response = client.get("/lang/en?" + _query(target))
    assert response.status_code == 302
    assert response.headers["Location"] == location


def _query(target: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": target})


# --- logout -------------------------------------------------------------------------------------------

def test_logout_clears_the_session(client):
    """After signing out, does the browser lose access to the staff pages?"""
    login(client, "lx_admin")
    assert is_signed_in(client)
    response = post_form(client, "/logout", {})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not is_signed_in(client)
    with client.session_transaction() as session:
        assert "staff_id" not in session


def test_a_copied_cookie_stops_working_after_logout(app, client):
    """Does a copy of the session cookie (another tab, a stolen copy) stop working once its owner signs out?"""
    login(client, "lx_admin")
    copy = copy_of_cookie(app, client)
    assert is_signed_in(copy)  # control: the copy is as good as the original until then
    assert post_form(client, "/logout", {}).status_code == 302
    assert not is_signed_in(copy)
    assert not is_signed_in(client)
    login(client, "lx_admin")  # signing in again gives a fresh, working session
    assert is_signed_in(client)


def test_a_cookie_without_a_session_version_is_refused(client, system_session):
    """Is a cookie naming a staff member but not their session version (issued before versions) refused?"""
    staff_id = find_staff(system_session, "lx_admin").id
    with client.session_transaction() as session:
        session["staff_id"] = staff_id
    assert not is_signed_in(client)
    with client.session_transaction() as session:
        session["staff_id"], session["session_version"] = staff_id, 1
    assert is_signed_in(client)  # control: the same cookie with the current version


def test_an_auditor_with_a_read_only_scope_can_sign_out(app, client, system_session):
    """Can someone whose grants only let them read (an auditor) still sign out, ending their sessions?"""
    find_staff(system_session, "jn_auditor").password_hash = hash_password(DEMO_PASSWORD)
    system_session.commit()
    login(client, "jn_auditor")
    copy = copy_of_cookie(app, client)
    assert is_signed_in(copy)
    assert post_form(client, "/logout", {}).status_code == 302
    assert not is_signed_in(copy)


# --- caching on shared hall PCs -----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/home", f"/places/{LIXIA}", "/guide/", "/no-such-page"])
def test_pages_of_a_signed_in_person_are_not_stored(client, path):
    """On a shared hall PC, could the back button after sign-out show a page the clerk saw? (no-store)"""
    assert "no-store" not in client.get(path).headers.get("Cache-Control", "")  # control: anonymous
    login(client, "lx_admin")
    assert client.get(path).headers.get("Cache-Control") == "no-store"


def test_public_guide_stays_cacheable_for_visitors(client):
    """Does an anonymous visitor's public guide (and the style sheet) come without no-store?"""
    for path in ("/guide/", "/login", "/static/style.css"):
        with client.get(path) as response:  # a file response holds the file open until closed
            assert response.status_code == 200
            assert "no-store" not in response.headers.get("Cache-Control", ""), path


def test_api_answers_are_not_stored(app, client):
    """Is JSON read with a bearer token marked no-store too?"""
    response = client.get("/api/v1/tenants", headers=bearer(app, "lx_admin"))
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") == "no-store"
    assert "no-store" not in client.get("/api/v1/openapi.json").headers.get("Cache-Control", "")


# --- the API and cookies ------------------------------------------------------------------------------

def test_api_ignores_the_browser_session(app, client):
    """Can a page on another site use a signed-in browser's cookie to read the API?"""
    login(client, "lx_admin")
    assert client.get(f"/places/{LIXIA}").status_code == 200  # the cookie is good for the UI
    response = client.get("/api/v1/tenants")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(f"/api/v1/tenants/{LIXIA}").status_code == 401
    assert client.get("/api/v1/tenants", headers=bearer(app, "lx_admin")).status_code == 200


def test_api_window_post_with_only_a_cookie_writes_nothing(client, system_session):
    """Can a cross-site form post a window through the API riding on the session cookie (the API skips CSRF)?"""
    login(client, "lx_admin")
    before = count_windows(system_session, LIXIA)
    response = client.post(f"/api/v1/tenants/{LIXIA}/windows",
                           json={"number": "78", "name": "跨站窗口", "kind": "comprehensive"})
    assert response.status_code == 401
    assert count_windows(system_session, LIXIA) == before


# --- headers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/login", "/guide/", "/healthz", "/api/v1/openapi.json", "/api/v1/tenants",
                                  "/home", "/guide/999999999999", "/no-such-page"])
def test_security_headers_on_every_kind_of_response(client, path):
    """Do pages, JSON, redirects and errors all carry the security headers?"""
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{path}: {name}"
    assert SECURITY_HEADERS["Content-Security-Policy"].startswith("default-src 'self'")
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"


# --- the per-worker principal cache ------------------------------------------------------------------

WHO = Principal(1, "lx_admin", "孙海涛", LIXIA, ((LIXIA, "county_admin", "", True),))


def test_principal_cache_reads_and_writes_under_its_lock():
    """Does the cache look at and change its entries only while holding its lock (threads share it)?

    Deterministic: the clock is consulted in the middle of each get and put and reports whether
    the lock is held at that moment. (Under CPython's GIL the race is rarely observable, so a
    stress test alone could pass without the lock.)"""
    held: list[bool] = []
    cache = PrincipalCache(ttl=60, size=2, clock=lambda: held.append(cache._lock.locked()) or 1000.0)
    cache.put("k", WHO, utcnow() + timedelta(days=1))
    assert cache.get("k") is WHO
    assert held == [True, True]  # once in put, once in get
    assert not cache._lock.locked()  # control: released afterwards


def test_principal_cache_stays_bounded_under_many_threads():
    """With gthread workers hammering one cache, do puts and gets raise nothing and keep the size bound?"""
    cache, errors = PrincipalCache(ttl=60, size=8), []
    expires = utcnow() + timedelta(days=1)

    def hammer(offset: int) -> None:
        try:
            for n in range(3000):
                key = str((n + offset) % 32)
                cache.put(key, WHO, expires)
                assert cache.get(key) in (WHO, None)
        except Exception as exc:  # an exception in a thread would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert 0 < len(cache._entries) <= cache.size
