"""Helpers for case tests: acting as a demo staff member in a scoped session, filing applications."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy.orm import Session

from app.cases.services import Applicant, WindowApplication, open_at_window
from app.core.auth import Principal, find_staff
from app.core.tenancy import Scope, set_scope

TOWN = "370102001000"      # 历下区解放路街道: lx_jfl_clerk is clerk and issuer there
HOUSING = "050090004000"   # 公共租赁住房保障申请: ZJ and MZ review in parallel, 20 working days, one 容缺 material
RESIDENCE = "070060002000"  # 居住证申领: GA reviews, promised 5 working days at this town
ELDERLY_CARD = "210070007000"  # 老年人优待证办理: 即办件
PERSON = Applicant("person", "张三", "11010519491231002X", "张三", "13800000000")


@contextmanager
def acting_as(app: Flask, username: str) -> Iterator[tuple[Session, Principal]]:
    """A session scoped like a request by `username`, committed at the end like a request."""
    session: Session = app.extensions["govhall.sessions"]()
    try:
        set_scope(session, Scope.system())
        staff = find_staff(session, username)
        assert staff is not None, username
        who = Principal.load(session, staff)
        set_scope(session, who.scope)
        yield session, who
        session.commit()
    finally:
        session.rollback()
        session.close()


def file_case(app: Flask, basic_code: str = HOUSING, today: dt.date = dt.date(2026, 11, 27),
              materials: dict[int, str] | None = None, **options: object) -> str:
    """Accept an application at 解放路街道 as its clerk (every material on paper unless `materials`
    says otherwise); returns the case number."""
    with acting_as(app, "lx_jfl_clerk") as (session, clerk):
        statuses = dict.fromkeys(_positions(session, basic_code), "paper") | (materials or {})
        application = WindowApplication(basic_code, PERSON, statuses, **options)  # type: ignore[arg-type]
        return open_at_window(session, clerk, TOWN, application, today).number


def _positions(session: Session, basic_code: str) -> list[int]:
    from sqlalchemy import select

    from app.catalog.models import Item, Material

    query = select(Material.position).join(Item).where(Item.basic_code == basic_code).order_by(Material.position)
    return list(session.scalars(query))
