"""The node's own upward sync (数据上报状态): backlog, last success and error, recent attempts.

For admins of the node's root only (the same rule as the reporting pages): the page is about the
node, not about a place, and its numbers cover the whole subtree."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from app.core.web import db, login_required, require_role_at, settings
from app.sync.status import recent_attempts, sync_status

bp = Blueprint("sync", __name__, template_folder="templates")
ROOT_ADMIN_ROLES = ("city_admin", "county_admin")  # a county node's root admin is a county admin
RECENT_ATTEMPTS = 20


@bp.route("/sync")
@login_required
def status_page() -> Any:
    # 404 for anyone who cannot see the root (a county admin or clerk on a city node), 403 for staff
    # of the root without an admin role. The admin's own scope covers every event the node made.
    require_role_at(settings().root_tenant, *ROOT_ADMIN_ROLES)
    session = db()
    return render_template("sync/status.html", state=sync_status(session, settings()),
                           attempts=recent_attempts(session, RECENT_ATTEMPTS),
                           max_lag=settings().sync_max_lag_seconds)
