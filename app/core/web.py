"""The request life cycle: one database session per request, the signed-in principal and its
scope resolved once, and one commit at the end of a successful request.

Two things are called "session" here: the SQLAlchemy session (`db()`) and Flask's signed cookie,
imported as `cookie_session` so the two cannot be mixed up."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, jsonify, redirect, request, url_for
from flask import session as cookie_session
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from app.core.auth import Principal, PrincipalCache, get_staff, principal_for_token
from app.core.errors import Forbidden, NotFound, conflict_response
from app.core.labels import TEMPLATE_LABELS
from app.core.settings import Settings
from app.core.tenancy import CODE_PATTERN, Scope, is_within, set_scope
from app.halls.models import Staff
from app.version import release_version

F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    return cast(Settings, current_app.config["GOVHALL_SETTINGS"])


def db() -> Session:
    """This request's session (opened on first use, scoped to the principal)."""
    if "db" not in g:
        factory: sessionmaker[Session] = current_app.extensions["govhall.sessions"]
        g.db = set_scope(factory(), Scope())  # anonymous: sees no tenant rows until a view widens it
        _resolve_principal(g.db)
    return cast(Session, g.db)


def principal() -> Principal | None:
    db()
    return cast(Principal | None, g.principal)


def require_principal() -> Principal:
    who = principal()
    if who is None:
        raise Forbidden("login required")
    return who


def _resolve_principal(db_session: Session) -> None:
    """Bearer token (API) or session cookie (UI); either way the scope follows the grants."""
    g.principal = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        cache = current_app.extensions["govhall.principals"]
        g.principal = principal_for_token(db_session, header.removeprefix("Bearer ").strip(), cache)
    elif cookie_session.get("staff_id") is not None and not request.path.startswith("/api/"):
        staff = get_staff(db_session, int(cookie_session["staff_id"]))
        if staff is not None and cookie_session.get("session_version") == staff.session_version:
            g.principal = Principal.load(db_session, staff)
        else:
            _forget_stale_cookie()
    if g.principal is not None:
        set_scope(db_session, g.principal.scope)


def _forget_stale_cookie() -> None:
    """The cookie was issued before the person signed out, changed password or was deactivated
    (its version is older than theirs). Drop the sign-in keys only: the CSRF token stays valid."""
    cookie_session.pop("staff_id", None)
    cookie_session.pop("session_version", None)


def sign_in(staff: Staff) -> None:
    """Start a fresh cookie session for `staff` (a new one: no fixation of a pre-login cookie)."""
    cookie_session.clear()
    cookie_session["staff_id"] = staff.id
    cookie_session["session_version"] = staff.session_version
    cookie_session.permanent = True


def is_signed_in() -> bool:
    """Does this request come from a signed-in person (cookie or bearer token)?"""
    return g.get("principal") is not None or cookie_session.get("staff_id") is not None


def use_public_scope(code: str) -> None:
    """Let an anonymous visitor read one place's public data (item guide); only places this node
    serves have public pages here, whatever else its database may hold."""
    served = CODE_PATTERN.fullmatch(code) is not None and is_within(code, settings().root_tenant)
    set_scope(db(), Scope.public(code) if served else Scope())


def require_role_at(code: str, *roles: str) -> Principal:
    """The principal if one of `roles` covers place `code`; a place out of sight is 404."""
    who = require_principal()
    if not who.scope.contains(code):
        raise NotFound("not found")
    if not who.has_role_at(code, *roles):
        raise Forbidden("your role does not allow this here")
    return who


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if principal() is None:
            if request.path.startswith("/api/"):
                return _bearer_challenge()
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _bearer_challenge() -> Response:
    """401 with a Bearer challenge (RFC 6750): no credentials is not the same as no permission (403)."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        message, challenge = "the bearer token is invalid or expired", 'Bearer realm="govhall", error="invalid_token"'
    else:
        message, challenge = "a bearer token is required", 'Bearer realm="govhall"'
    response = jsonify({"error": message})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = challenge
    return response


def _finish(response: Response) -> Response:
    """Commit once when the request succeeded; otherwise roll back whatever was flushed."""
    session_ = g.pop("db", None)
    if session_ is None:
        return response
    try:
        # GET and HEAD never write: closing rolls back, which also keeps them honest.
        if response.status_code < 400 and request.method not in ("GET", "HEAD"):
            session_.commit()
        else:
            session_.rollback()
    except StaleDataError:
        # Someone else changed the same record between this request's read and its commit.
        session_.rollback()
        return conflict_response()
    finally:
        session_.close()
    return response


def _no_store_for_staff(response: Response) -> Response:
    """Hall PCs are shared: after a sign-out, the back button or the browser cache must not show
    the next visitor staff pages, so nothing a signed-in person receives is stored. Static files
    are the same for everyone and stay cacheable; public pages seen anonymously are unaffected."""
    if request.endpoint != "static" and is_signed_in():
        response.headers["Cache-Control"] = "no-store"
    return response


def _teardown(_exc: BaseException | None) -> None:
    session_ = g.pop("db", None)
    if session_ is not None:
        session_.rollback()
        session_.close()


def init_web(app: Flask) -> None:
    app.extensions["govhall.principals"] = PrincipalCache(app.config["GOVHALL_SETTINGS"].token_cache_seconds)
    app.after_request(_finish)
    app.after_request(_no_store_for_staff)
    app.teardown_request(_teardown)
    app.jinja_env.globals.update(
        current_principal=principal, root_tenant=lambda: settings().root_tenant, release_version=release_version,
        **TEMPLATE_LABELS,
    )
