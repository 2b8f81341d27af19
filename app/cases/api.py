"""/api/v1/cases: create, transition, get and list cases for department systems (bearer tokens)."""

from __future__ import annotations

from flask import Blueprint

from app.core.security import csrf

bp = Blueprint("cases_api", __name__, url_prefix="/api/v1/cases")
csrf.exempt(bp)  # bearer tokens only, like the rest of /api/
