"""Pages of what was reported to this node (上报汇总): for the admins of the node's root only —
nodes and refused events are not tenant data, and the counts are those of the whole subtree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template, request

from app.cases.states import RESULT_TITLES, CaseState
from app.core.i18n import translate
from app.core.web import db, login_required, require_role_at, settings
from app.sync import hall
from app.sync.protocol import CHINA

bp = Blueprint("reports", __name__, template_folder="templates", url_prefix="/reports")
DEFAULT_DAYS = 30


def _require_root_admin() -> None:
    require_role_at(settings().root_tenant, "city_admin")


@bp.route("/nodes")
@login_required
def nodes() -> Any:
    _require_root_admin()
    return render_template("reports/nodes.html", rows=hall.nodes(db()), now=dt.datetime.now(dt.UTC))


@bp.route("/counts")
@login_required
def counts() -> Any:
    _require_root_admin()
    levels = hall.levels_below(settings().root_tenant)
    level = request.args.get("level") or (levels[0] if levels else "")
    until, since, error = _date_range()
    rows: list[hall.CountRow] = []
    if level not in levels:
        error = translate("请选择统计层级。")
    elif not error:
        rows = hall.counts_by_place(db(), level, since, until)
    return render_template("reports/counts.html", rows=rows, levels=levels, level=level, since=since, until=until,
                           types=hall.COUNTED_TYPES, error=error), 400 if error else 200


def _date_range() -> tuple[dt.date, dt.date, str]:
    """(until, since, error): the last DEFAULT_DAYS China days unless the query names others."""
    today = dt.datetime.now(CHINA).date()
    try:
        until = _date_arg("until") or today
        since = _date_arg("since") or until - dt.timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        return today, today - dt.timedelta(days=DEFAULT_DAYS - 1), translate("日期格式应为YYYY-MM-DD。")
    if since > until or (until - since).days >= hall.MAX_DAYS:
        return until, since, translate("起止日期须按先后顺序，且不超过{n}天。", n=hall.MAX_DAYS)
    return until, since, ""


def _date_arg(name: str) -> dt.date | None:
    value = request.args.get(name, "").strip()
    return dt.date.fromisoformat(value) if value else None


@bp.route("/cases")
@login_required
def case_lookup() -> Any:
    _require_root_admin()
    number = request.args.get("number", "").strip()
    if number and not hall.CASE_NUMBER.fullmatch(number):
        error = translate("办件编号为26位数字：地点代码、日期和序号。")
        return render_template("reports/cases.html", number=number, entry=None, error=error), 400
    entry = hall.find_case(db(), number) if number else None
    return render_template("reports/cases.html", number=number, entry=entry, error="")


@bp.context_processor
def _case_labels() -> dict[str, Any]:
    return {"case_states": {state.value: state.label for state in CaseState}, "result_titles": RESULT_TITLES}


@bp.route("/rejected")
@login_required
def rejected() -> Any:
    _require_root_admin()
    node_id = request.args.get("node", "").strip()
    return render_template("reports/rejected.html", rows=hall.rejected(db(), node_id), node_id=node_id)
