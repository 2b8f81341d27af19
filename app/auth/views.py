"""Sign-in with throttling, sign-out, language switch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask import session as cookie_session

from app.auth.forms import LoginForm
from app.core.auth import LoginThrottled, Throttle, authenticate, end_sessions
from app.core.i18n import COOKIE, LANGUAGES, translate
from app.core.web import db, principal, settings, sign_in

bp = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would help phishing. Browsers read a backslash as a
    slash and drop tabs and newlines, so a path that starts "/" plus a backslash, or "/" plus a tab
    and "/", would leave the site: refuse backslashes and control characters."""
    if (
        target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
        and not any(char == "\\" or not char.isprintable() for char in target)
    ):
        return target
    return url_for("tenants.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        throttle = Throttle(settings().login_max_failures, timedelta(minutes=settings().login_lockout_minutes))
        try:
            staff = authenticate(db(), throttle, form.username.data or "", form.password.data or "",
                                 request.remote_addr or "")
        except LoginThrottled as exc:
            flash(translate("登录失败次数过多，请{minutes}分钟后再试。", minutes=exc.retry_after_minutes), "error")
            retry_after = {"Retry-After": str(exc.retry_after_minutes * 60)}
            return render_template("auth/login.html", form=form), 429, retry_after
        if staff is not None:
            sign_in(staff)
            return redirect(_safe_next(request.args.get("next")))  # commits the recorded success
        flash(translate("用户名或密码错误。"), "error")
        # 200 with the form again; the failed attempt must be committed to count.
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """Sign out everywhere: clearing this browser's cookie is not enough, since a copy of it
    (another tab on a shared PC, or a stolen one) would stay valid until it expires."""
    who = principal()
    if who is not None:
        end_sessions(db(), who.staff_id)
    cookie_session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def switch_language(code: str) -> Any:
    response = make_response(redirect(_safe_next(request.args.get("next"))))
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=settings().session_cookie_secure)
    return response
