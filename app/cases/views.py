"""Staff pages for cases: front-desk acceptance, worklist, reviewer inbox, issuance window, case page."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cases", __name__, url_prefix="/cases", template_folder="templates")
