"""Window and staff services. They flush; the request commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Category
from app.core.errors import UserError
from app.halls.models import WINDOW_KINDS, Window
from app.tenants.queries import tenant_or_404


def add_window(session: Session, tenant_code: str, number: str, name: str, kind: str,
               categories: list[str]) -> Window:
    """Add a window at a place the caller can see; the scope's flush check refuses foreign places."""
    tenant_or_404(session, tenant_code)
    if kind not in WINDOW_KINDS:
        raise UserError(f"kind must be one of {', '.join(WINDOW_KINDS)}", place="kind")
    known = set(session.scalars(select(Category.code)))
    unknown = [c for c in categories if c not in known]
    if unknown:
        raise UserError(f"unknown categories: {', '.join(unknown)}", place="categories")
    taken = session.scalar(select(Window.id).where(Window.tenant_code == tenant_code, Window.number == number))
    if taken is not None:
        raise UserError(f"window {number} exists already at this place", place="number")
    window = Window(tenant_code=tenant_code, number=number, name=name, kind=kind, categories=categories)
    session.add(window)
    session.flush()
    return window
