"""Errors the UI and API turn into clear responses."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from app.core.tenancy import ScopeViolation


class UserError(Exception):
    """Bad input or a refused action: shown to the user, nothing written."""

    status = 400

    def __init__(self, message: str, place: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.place = place

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.message, "place": self.place} if self.place else {"error": self.message}


class NotFound(UserError):
    """Also used for objects outside the caller's scope: foreign places do not exist for them."""

    status = 404


class Forbidden(UserError):
    status = 403


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _respond(status: int, message: str, body: dict[str, Any] | None = None) -> Any:
    if _wants_json():
        return jsonify(body or {"error": message}), status
    return render_template("error.html", status=status, message=message), status


CONFLICT = "someone else has just changed this; reload and try again"


def conflict_response() -> Response:
    """Optimistic locking lost: another request changed the record between this one's read and write."""
    return make_response(_respond(409, CONFLICT))


def init_errors(app: Flask) -> None:
    @app.errorhandler(UserError)
    def _user_error(exc: UserError) -> Any:
        return _respond(exc.status, exc.message, exc.as_dict())

    @app.errorhandler(ScopeViolation)
    def _scope_violation(_exc: ScopeViolation) -> Any:
        # A write aimed outside the caller's places: answer as if the place did not exist.
        return _respond(404, "not found")

    @app.errorhandler(StaleDataError)
    def _conflict(_exc: StaleDataError) -> Any:
        return conflict_response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        return _respond(exc.code or 500, exc.description or exc.name)
