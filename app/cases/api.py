"""/api/v1/cases: create, transition, get and list cases for department systems (bearer tokens).

Scoped like every other route: a case of a place the token's staff member does not see is 404,
for reads and writes alike, before anything in the body is looked at. Views check the shape of the
input, call `services` or a `workflow` verb (which hold the rules) and answer with the case; the
request commits once. Errors: 400 bad input (`place` names the field), 403 wrong role, 404 not
found, 409 not possible in the case's state or the case changed meanwhile (`version`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.calendar.clock import CalendarMissing
from app.calendar.services import load_calendar
from app.cases import deadlines, idempotency, queries, services, workflow
from app.cases.models import Case
from app.cases.serializers import case_json, case_row_json, event_json
from app.cases.states import CaseState
from app.catalog.models import Item
from app.core.audit import events_for
from app.core.auth import Principal
from app.core.errors import NotFound, UserError
from app.core.security import csrf
from app.core.tenancy import CODE_PATTERN
from app.core.web import db, login_required, require_principal

bp = Blueprint("cases_api", __name__, url_prefix="/api/v1/cases")
csrf.exempt(bp)  # bearer tokens only, like the rest of /api/

TEXT_MAX = 2000  # free text (reasons, opinions): the columns are TEXT, this keeps them readable
DUE_SOON_MAX = 60
STATES = [s.value for s in CaseState]
DEPARTMENT = re.compile(r"[0-9A-Za-z_-]{1,10}")
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
FLAGS = {"true": True, "1": True, "false": False, "0": False}


# --- reading ----------------------------------------------------------------------------------------

@bp.route("")
@login_required
def list_cases() -> Any:
    """The worklist: one page of cases soonest due first, with the filters of `queries.WorklistFilter`."""
    worklist = _worklist_filter(require_principal())
    _conditions, order = queries.worklist_query(worklist)
    query = (select(Case, Item.basic_code).join(Item, Item.id == Case.item_id)
             .where(Case.id.in_(queries.page_ids(worklist))).order_by(*order))
    rows = db().execute(query).all()
    total = queries.worklist_count(db(), worklist)
    return jsonify({"cases": [case_row_json(case, code) for case, code in rows], "page": worklist.page,
                    "page_size": queries.PAGE_SIZE, "total": total, "pages": math.ceil(total / queries.PAGE_SIZE)})


@bp.route("/<number>")
@login_required
def get_case(number: str) -> Any:
    return jsonify(_case_json(services.case_or_404(db(), number)))


@bp.route("/<number>/events")
@login_required
def case_events(number: str) -> Any:
    """The case's audit timeline (全程留痕), oldest first."""
    case = services.case_or_404(db(), number)
    return jsonify({"number": case.number, "events": [event_json(e) for e in events_for(db(), "case", case.id)]})


# --- creating ---------------------------------------------------------------------------------------

@bp.route("", methods=["POST"])
@login_required
def create_case() -> Any:
    """Accept an application at a place (一窗受理). A retry with the same Idempotency-Key and body
    answers with the case the first request made."""
    who = require_principal()
    body = request.get_json(silent=True)
    key = idempotency.checked_key(request.headers.get(idempotency.HEADER))
    channel = services.channel_from_json(body)
    place, application = services.application_from_json(body)
    body_hash = idempotency.fingerprint(body) if key else ""
    if key and (earlier := idempotency.earlier_case(db(), who, key, body_hash)) is not None:
        return _replay(earlier)
    case = (_open(who, place, application) if channel == "window"
            else services.submit_online(db(), who, place, application, deadlines.china_today()))
    if key:
        try:
            idempotency.remember(db(), who, key, body_hash, case)
        except IntegrityError:
            db().rollback()  # a concurrent request with this key committed first: answer with its case
            earlier = idempotency.earlier_case(db(), who, key, body_hash)
            if earlier is None:
                raise workflow.TransitionRefused(f"this {idempotency.HEADER} is in use",
                                                 place=idempotency.HEADER) from None
            return _replay(earlier)
    return jsonify(_case_json(case, application.basic_code)), 201


def _open(who: Principal, place: str, application: services.WindowApplication) -> Case:
    try:
        return services.open_at_window(db(), who, place, application, deadlines.china_today())
    except workflow.TransitionRefused as refused:
        # The only verb open_at_window can find impossible is deciding a promised item at once.
        if application.decide_now:
            raise UserError(refused.message, place="decide_now") from None
        raise


def _replay(case: Case) -> Any:
    response = jsonify(_case_json(case))
    response.status_code = 201
    response.headers["Idempotent-Replayed"] = "true"
    return response


# --- transitions ------------------------------------------------------------------------------------

@bp.route("/<number>/transitions", methods=["POST"])
@login_required
def transition(number: str) -> Any:
    """{"action": …, "version"?: n, …fields}: one workflow verb on the case."""
    who = require_principal()
    case = services.case_or_404(db(), number)
    body = _body()
    action = body.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise UserError(f"action must be one of: {', '.join(ACTIONS)} (reviews: POST …/tasks/<department>/review)",
                        place="action")
    act, fields = ACTIONS[action]
    _only(body, {"action", "version", *fields})
    _check_version(case, body)
    _guard(getattr(workflow, f"can_{action}")(case, who))
    act(case, who, body)
    db().flush()
    return jsonify(_case_json(case))


@bp.route("/<number>/tasks/<department>/review", methods=["POST"])
@login_required
def review(number: str, department: str) -> Any:
    """{"approve": bool, "opinion": text, "version"?: n}: one department's opinion (同步审核)."""
    who = require_principal()
    case = services.case_or_404(db(), number)
    body = _body()
    task = next((t for t in case.tasks if t.department_code == department), None)
    if task is None:
        raise NotFound(f"case {case.number} has no review task for department {department}")
    _only(body, {"approve", "opinion", "version"})
    _check_version(case, body)
    _guard(workflow.can_review(task, who))
    approve = body.get("approve")
    if not isinstance(approve, bool):
        raise UserError("approve is true or false", place="approve")
    workflow.review(db(), task, who, approve, _text(body, "opinion"))
    db().flush()
    return jsonify(_case_json(case))


def _guard(refused: workflow.Refusal | None) -> None:
    """Wrong state (409) or role (403) before the fields are read; a verb's own conditions (400)
    are left to the verb, after the fields (received materials) may have met them."""
    if refused is not None and refused.kind != "condition":
        refused.raise_()


def _check_version(case: Case, body: dict[str, Any]) -> None:
    """Compare-and-set: a client that says which version it saw acts only on that version."""
    if "version" not in body:
        return
    seen = body["version"]
    if not isinstance(seen, int) or isinstance(seen, bool):
        raise UserError("version is the case version you saw (a whole number)", place="version")
    if seen != case.version:
        raise workflow.TransitionRefused(
            f"the case changed since version {seen} (it is at version {case.version}); reload it and try again",
            place="version")


def _pre_accept(case: Case, who: Principal, _body: dict[str, Any]) -> None:
    workflow.pre_accept(db(), case, who)


def _accept(case: Case, who: Principal, body: dict[str, Any]) -> None:
    _receive(case, body)
    workflow.accept(db(), case, who, deadlines.china_today(), _departments(case))


def _correct(case: Case, who: Principal, body: dict[str, Any]) -> None:
    _receive(case, body)
    workflow.correct(db(), case, who, deadlines.china_today(), _departments(case))


def _refuse(case: Case, who: Principal, body: dict[str, Any]) -> None:
    workflow.refuse(db(), case, who, _text(body, "reason"))


def _request_correction(case: Case, who: Principal, body: dict[str, Any]) -> None:
    missing = body.get("missing")
    if (not isinstance(missing, list) or not missing or len(missing) > 50
            or not all(isinstance(m, str) and m.strip() and len(m) <= 200 for m in missing)):
        raise UserError("missing lists the missing materials by name (1 to 50 names)", place="missing")
    workflow.request_correction(db(), case, who, deadlines.china_today(), [m.strip() for m in missing])


def _withdraw(case: Case, who: Principal, body: dict[str, Any]) -> None:
    workflow.withdraw(db(), case, who, _text(body, "reason"))


def _suspend(case: Case, who: Principal, body: dict[str, Any]) -> None:
    workflow.suspend(db(), case, who, deadlines.china_today(), _text(body, "procedure", 20), _text(body, "reason"))


def _resume(case: Case, who: Principal, body: dict[str, Any]) -> None:
    workflow.resume(db(), case, who, deadlines.china_today(), _text(body, "result"))


def _evaluate(case: Case, who: Principal, body: dict[str, Any]) -> None:
    level = body.get("level", "absent")
    if level is not None and (not isinstance(level, int) or isinstance(level, bool)):
        raise UserError("level is 1 (非常不满意) to 5 (非常满意), or null when the applicant declines", place="level")
    workflow.evaluate(db(), case, who, level)


def _issue(case: Case, who: Principal, body: dict[str, Any]) -> None:
    workflow.issue(db(), case, who, _text(body, "delivery", 10), _text(body, "collected_by", 60),
                   _text(body, "tracking_number", 40))


def _decide_at_window(case: Case, who: Principal, _body: dict[str, Any]) -> None:
    workflow.decide_at_window(db(), case, who)


Action = Callable[[Case, Principal, dict[str, Any]], None]
ACTIONS: dict[str, tuple[Action, set[str]]] = {
    "pre_accept": (_pre_accept, set()),
    "accept": (_accept, {"materials"}),
    "correct": (_correct, {"materials"}),
    "refuse": (_refuse, {"reason"}),
    "request_correction": (_request_correction, {"missing"}),
    "withdraw": (_withdraw, {"reason"}),
    "suspend": (_suspend, {"procedure", "reason"}),
    "resume": (_resume, {"result"}),
    "evaluate": (_evaluate, {"level"}),
    "issue": (_issue, {"delivery", "collected_by", "tracking_number"}),
    "decide_at_window": (_decide_at_window, set()),
}


def _receive(case: Case, body: dict[str, Any]) -> None:
    """{"materials": {"2": "paper"}}: materials the clerk has now received (accept, correct)."""
    received = body.get("materials", {})
    if not isinstance(received, dict):
        raise UserError("materials is an object of material numbers and 'paper' or 'electronic'", place="materials")
    by_position = {str(m.position): m for m in case.materials}
    for key, status in received.items():
        if key not in by_position:
            raise UserError(f"the case has no material number {key}", place=f"materials.{key}")
        if status not in ("paper", "electronic"):
            raise UserError("a received material is 'paper' or 'electronic'", place=f"materials.{key}")
    for key, status in received.items():
        by_position[key].status, by_position[key].due_on = status, None


def _departments(case: Case) -> list[str]:
    item = db().get(Item, case.item_id)
    return list(item.review_departments) if item is not None else []


# --- helpers ----------------------------------------------------------------------------------------

def _case_json(case: Case, basic_code: str | None = None) -> dict[str, Any]:
    """The case for the caller; `basic_code`: its item's code when the caller knows it (a new case)."""
    if basic_code is None:
        item = db().get(Item, case.item_id)
        basic_code = item.basic_code if item is not None else ""
    return case_json(case, basic_code, require_principal())


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UserError("the body must be a JSON object", place="body")
    return body


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    """A misspelt field is an error, not silently ignored ("colected_by" must not issue anonymously)."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise UserError(f"unknown field '{unknown[0]}' here (expected: {', '.join(sorted(allowed))})",
                        place=unknown[0])


def _text(body: dict[str, Any], name: str, limit: int = TEXT_MAX) -> str:
    """A text field ('' when absent); the verb decides whether it may be empty."""
    value = body.get(name, "")
    if not isinstance(value, str):
        raise UserError(f"{name} must be a string", place=name)
    if len(value) > limit:
        raise UserError(f"{name} is at most {limit} characters", place=name)
    return value


def _worklist_filter(who: Principal) -> queries.WorklistFilter:
    args = request.args
    states = args.getlist("state")
    for state in states:
        if state not in STATES:
            raise UserError(f"state must be one of: {', '.join(STATES)}", place="state")
    department = args.get("department", "")
    if department and not DEPARTMENT.fullmatch(department):
        raise UserError("department is a department code such as ZJ", place="department")
    today = deadlines.china_today()
    soon_until = _soon_until(args.get("due_soon"), today)
    return queries.WorklistFilter(
        states=tuple(states), item_id=_item_id(args.get("item")), department=department,
        place=_place(who, args.get("place", "")), due_before=soon_until, due_from=today if soon_until else None,
        overdue_on=today if _flag("overdue") else None, page=_whole("page", 1, minimum=1),
    )


def _item_id(basic_code: str | None) -> int | None:
    if basic_code is None:
        return None
    item_id = db().scalar(select(Item.id).where(Item.basic_code == basic_code))
    if item_id is None:
        raise UserError(f"unknown item {basic_code}", place="item")
    return item_id


def _place(who: Principal, code: str) -> str:
    """A place filter: a place out of sight is 404, like a place that does not exist."""
    if code and not CODE_PATTERN.fullmatch(code):
        raise UserError("place is a 12-digit division code", place="place")
    if code and not who.scope.contains(code):
        raise NotFound("not found")
    return code


def _soon_until(raw: str | None, today: dt.date) -> dt.date | None:
    """due_soon=N: the last day of the next N working days (overdue cases are not 'due soon', as in the UI)."""
    if raw is None:
        return None
    days = _whole("due_soon", 0, minimum=0)
    if days > DUE_SOON_MAX:
        raise UserError(f"due_soon is at most {DUE_SOON_MAX} working days", place="due_soon")
    try:
        return load_calendar(db(), today).add_working_days(today, days)
    except CalendarMissing as missing:
        raise UserError(str(missing), place="due_soon") from None


def _flag(name: str) -> bool:
    raw = request.args.get(name, "false")
    if raw not in FLAGS:
        raise UserError(f"{name} is true or false", place=name)
    return FLAGS[raw]


def _whole(name: str, default: int, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not WHOLE_NUMBER.fullmatch(raw) or int(raw) < minimum:
        raise UserError(f"{name} must be a whole number of at least {minimum}, not '{raw}'", place=name)
    return int(raw)
