"""The cases blueprint, its template filters and what the page and action views share."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases import deadlines
from app.catalog.models import Department
from app.core.auth import Principal
from app.core.errors import Forbidden, NotFound, UserError
from app.core.i18n import translate
from app.core.identity import mask

# Named after the feature package, so its templates are app/cases/templates/cases/.
bp = Blueprint("cases", "app.cases", url_prefix="/cases", template_folder="templates")


def today() -> dt.date:
    return deadlines.china_today()


@bp.app_template_filter("china_time")
def china_time(value: dt.datetime | None) -> str:
    """A stored UTC time as the hall's local time."""
    return value.astimezone(deadlines.CHINA).strftime("%Y-%m-%d %H:%M") if value else ""


@bp.app_template_filter("long_date")
def long_date(value: dt.date | dt.datetime | None) -> str:
    """2026年11月27日 (the documents' date style); a stored UTC time counts by its local date."""
    if value is None:
        return ""
    day = value.astimezone(deadlines.CHINA).date() if isinstance(value, dt.datetime) else value
    return translate("{year}年{month}月{day}日", year=day.year, month=day.month, day=day.day)


@bp.app_template_filter("masked")
def masked(number: str) -> str:
    return mask(number) if number else ""


def place_for(who: Principal, role: str) -> str:
    """?place=, else the person's home place when they hold `role` there, else their first place with it."""
    requested = request.args.get("place", "")
    if requested:
        return requested
    if who.has_role_at(who.home_code, role):
        return who.home_code
    return next((code for code, granted, _dept, _subtree in who.grants if granted == role), who.home_code)


def departments(session: Session) -> dict[str, Department]:
    return {d.code: d for d in session.scalars(select(Department).order_by(Department.code))}


def refused_input(error: UserError) -> UserError:
    """Re-raise what is about access (403/404: error pages); keep the rest to show beside the form."""
    if isinstance(error, Forbidden | NotFound):
        raise error
    return error
