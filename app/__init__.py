"""GovHall: a government service hall platform (政务服务平台), built once, deployed to every place."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from app.core.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from validated settings: a short list of init steps, then blueprints."""
    settings = settings or load_settings()
    app = Flask(__name__)
    configure(app, settings)
    from app.core.db_init import init_database
    from app.core.errors import init_errors
    from app.core.i18n import init_i18n
    from app.core.security import init_security
    from app.core.web import init_web

    for init in (init_database, init_security, init_i18n, init_errors, init_web, init_proxies):
        init(app)
    register_blueprints(app)
    return app


def init_proxies(app: Flask) -> None:
    """Behind `proxy_hops` reverse proxies, take the client address and scheme from their
    X-Forwarded-For/-Proto. Without proxies these headers come from the client and could fake the
    address that login throttling counts by, so by default (0) they are ignored."""
    hops = app.config["GOVHALL_SETTINGS"].proxy_hops
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        GOVHALL_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="govhall_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]


def register_blueprints(app: Flask) -> None:
    from app.api.views import bp as api_bp
    from app.auth.views import bp as auth_bp
    from app.cases.api import bp as cases_api_bp
    from app.cases.views import bp as cases_bp
    from app.portal.views import bp as portal_bp
    from app.sync.hall_views import bp as reports_bp
    from app.sync.receiver import bp as sync_receiver_bp
    from app.sync.views import bp as sync_bp
    from app.tenants.views import bp as tenants_bp

    for blueprint in (auth_bp, tenants_bp, portal_bp, cases_bp, api_bp, cases_api_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(reports_bp)  # what was reported to this node (上报汇总)
    app.register_blueprint(sync_receiver_bp)  # batches from the nodes below (HMAC, not cookies or tokens)
    app.register_blueprint(sync_bp)  # this node's own upward sync (数据上报状态)
