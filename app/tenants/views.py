"""Staff pages: home, the tenant tree, a place's page, adding a window, onboarding a county."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from app.catalog.models import Category
from app.core.errors import Forbidden, UserError
from app.core.i18n import translate
from app.core.tenancy import system_scope
from app.core.web import db, login_required, principal, require_principal, require_role_at, settings
from app.halls import services as halls
from app.tenants import queries, services
from app.tenants.forms import CountyForm, WindowForm
from app.tenants.onboarding import render_places

bp = Blueprint("tenants", __name__, template_folder="templates")
ADMIN_ROLES = ("city_admin", "county_admin")


@bp.route("/")
def index() -> Any:
    if principal() is None:
        return redirect(url_for("portal.index"))
    return redirect(url_for("tenants.home"))


@bp.route("/home")
@login_required
def home() -> Any:
    """A clerk's start page: their own place, its windows and item count, their roles."""
    who = require_principal()
    session = db()
    place = queries.tenant_or_404(session, who.home_code)
    return render_template(
        "tenants/home.html", who=who, place=place, windows=queries.place_windows(session, place.code),
        counts=queries.counts_by_tenant(session, [place.code])[place.code],
    )


@bp.route("/tree")
@login_required
def tree() -> Any:
    return render_template("tenants/tree.html", tops=queries.visible_tree(db()))


@bp.route("/places/<code>")
@login_required
def place(code: str) -> Any:
    session = db()
    tenant = queries.tenant_or_404(session, code)
    who = require_principal()
    children = queries.children_of(session, code)
    return render_template(
        "tenants/place.html", place=tenant, breadcrumb=queries.breadcrumb(session, code),
        children=children, child_counts=queries.counts_by_tenant(session, [c.code for c in children]),
        items=queries.place_items(session, code), windows=queries.place_windows(session, code),
        staff=queries.place_staff(session, code), can_admin=who.has_role_at(code, *ADMIN_ROLES),
        window_form=WindowForm(), categories=list(session.scalars(select(Category).order_by(Category.code))),
    )


@bp.route("/places/<code>/windows", methods=["POST"])
@login_required
def add_window(code: str) -> Any:
    require_role_at(code, *ADMIN_ROLES)
    form = WindowForm()
    if not form.validate_on_submit():
        raise UserError(translate("窗口信息有误：{fields}", fields=", ".join(form.errors)), place="window")
    halls.add_window(db(), code, form.number.data or "", form.name.data or "", form.kind.data or "",
                     request.form.getlist("categories"))
    flash(translate("窗口已添加。"), "ok")
    return redirect(url_for("tenants.place", code=code))


def _require_city_admin() -> None:
    who = require_principal()
    if not who.has_role_at(settings().root_tenant, "city_admin"):
        raise Forbidden(translate("只有市级管理员可以接入县区。"))


@bp.route("/onboard", methods=["GET"])
@login_required
def onboard() -> Any:
    _require_city_admin()
    counties = queries.counties_for_onboarding(db(), settings().root_tenant)
    return render_template("tenants/onboard.html", counties=counties, form=CountyForm())


@bp.route("/onboard/preview", methods=["POST"])
@login_required
def onboard_preview() -> Any:
    _require_city_admin()
    county = _county_from_form()
    # The same view of the database as the apply below (the city admin's own scope may be narrower).
    with system_scope(db()) as session:
        plan, places = services.plan_onboarding(session, county, Path(settings().tenants_dir), settings().root_tenant)
    return render_template("tenants/onboard_preview.html", county=county, plan=plan, places=places,
                           yaml_text=render_places(places), form=CountyForm(county_code=county))


@bp.route("/onboard/apply", methods=["POST"])
@login_required
def onboard_apply() -> Any:
    _require_city_admin()
    county = _county_from_form()
    # Onboarding writes thousands of rows in bulk, which only the system scope may do; the
    # city-admin check above is the authorization, and the planner keeps every row under the root.
    with system_scope(db()) as session:
        plan = services.apply_onboarding(session, county, Path(settings().tenants_dir), settings().root_tenant)
    flash(translate("已接入：{summary}", summary=translate("新增 {add} 项，修改 {change} 项，删除 {remove} 项。",
                                                        **plan.counts())), "ok")
    return redirect(url_for("tenants.tree"))


def _county_from_form() -> str:
    form = CountyForm()
    if not form.validate_on_submit():
        raise UserError(translate("请选择一个县区。"), place="county_code")
    return str(form.county_code.data)
