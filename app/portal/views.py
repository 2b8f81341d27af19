"""The public item guide. Anonymous visitors get a read-only scope: one place, or for the index
the node's places by name only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from app.catalog.models import Category, Item, TenantItem
from app.core.errors import NotFound
from app.core.tenancy import Scope, set_scope, subtree_range
from app.core.web import db, settings, use_public_scope
from app.tenants import queries

bp = Blueprint("portal", __name__, url_prefix="/guide", template_folder="templates")


@bp.route("/")
def index() -> Any:
    session = set_scope(db(), Scope(ranges=(subtree_range(settings().root_tenant),), writable=False))
    return render_template("portal/index.html", tops=queries.visible_tree(session, with_counts=False))


@bp.route("/<code>")
def place_guide(code: str) -> Any:
    use_public_scope(code)
    session = db()
    place = queries.tenant_or_404(session, code)
    items = queries.place_items(session, code)
    categories = {c.code: c for c in session.scalars(select(Category))}
    grouped: dict[str, list[TenantItem]] = {}
    for entry in items:
        grouped.setdefault(entry.item.category_code, []).append(entry)
    return render_template("portal/place.html", place=place, grouped=grouped, categories=categories,
                           windows=queries.place_windows(session, code))


@bp.route("/<code>/items/<basic_code>")
def item_guide(code: str, basic_code: str) -> Any:
    use_public_scope(code)
    session = db()
    place = queries.tenant_or_404(session, code)
    entry = session.scalars(
        select(TenantItem).join(Item)
        .where(TenantItem.tenant_code == code, Item.basic_code == basic_code, TenantItem.active.is_(True))
    ).one_or_none()
    if entry is None:
        raise NotFound("this place does not offer that item")
    return render_template("portal/item.html", place=place, entry=entry, item=entry.item)
