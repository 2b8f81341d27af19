"""Wire the database into the app: engine, session factory, scoping hooks, health check."""

from __future__ import annotations

from flask import Flask

from app.core.db import make_engine, make_session_factory
from app.core.tenancy import install_scoping
from app.models import __all__ as _every_model  # noqa: F401 - registers every mapped class


def init_database(app: Flask) -> None:
    settings = app.config["GOVHALL_SETTINGS"]
    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    app.extensions["govhall.engine"] = engine
    app.extensions["govhall.sessions"] = make_session_factory(engine)
    install_scoping()
