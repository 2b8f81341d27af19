"""The case pages: front desk, worklist, reviewer inbox, issuance window, case page, printable documents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.calendar.clock import CalendarMissing, WorkingCalendar
from app.calendar.services import load_calendar
from app.cases import forms, queries, services, workflow
from app.cases.choices import filter_choices
from app.cases.models import Case
from app.cases.states import RESULT_TITLES, CaseState
from app.cases.views.blueprint import bp, departments, place_for, refused_input, today
from app.catalog.models import Category, TenantItem
from app.core.audit import AuditEvent, events_for
from app.core.auth import Principal
from app.core.errors import Forbidden, NotFound, UserError
from app.core.i18n import translate
from app.core.web import db, login_required, require_principal, require_role_at, settings
from app.tenants.models import Tenant
from app.tenants.queries import place_items, place_windows, tenant_or_404

ACCEPTING_WINDOWS = ("comprehensive", "dedicated")


# --- 一窗受理: the front desk --------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    who = require_principal()
    place = place_for(who, "clerk")
    require_role_at(place, "clerk")
    session = db()
    tenant = tenant_or_404(session, place)
    basic_code = request.values.get("item", "")
    offered = _offered(session, place, basic_code)
    if offered is None:
        return _item_picker(session, tenant, basic_code)
    windows = [w for w in place_windows(session, place) if w.kind in ACCEPTING_WINDOWS]
    form = forms.AcceptanceForm()
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            application = forms.window_application(form, request.form, offered.item, [w.number for w in windows])
            case = services.open_at_window(session, who, place, application, today())
            session.flush()
        except forms.FieldErrors as problems:
            errors = problems.errors
        except UserError as exc:
            errors = {forms.field_for(refused_input(exc).place): forms.describe(exc)}
        else:
            if case.case_state is CaseState.CORRECTION:
                flash(translate("材料不齐，已出具一次性告知书。办件编号 {number}", number=case.number), "error")
            else:
                flash(translate("已受理，办件编号 {number}", number=case.number), "ok")
            return redirect(url_for("cases.show", number=case.number))
    positions = [m.position for m in offered.item.materials]
    page = render_template(
        "cases/new.html", place=tenant, offered=offered, item=offered.item, form=form, errors=errors,
        windows=windows, departments=departments(session),
        statuses={p: request.form.get(f"material_{p}", "missing") for p in positions},
        deferred={p: request.form.get(f"deferred_{p}", "") for p in positions},
    )
    return page, (400 if errors else 200)


def _offered(session: Session, place: str, basic_code: str) -> TenantItem | None:
    if not basic_code:
        return None
    try:
        offered = services.offered_item(session, place, basic_code)
    except UserError:
        return None
    return offered if offered.active else None


def _item_picker(session: Session, tenant: Tenant, basic_code: str) -> Any:
    """Step one: the place's implementation list, grouped by category."""
    grouped: dict[str, list[TenantItem]] = {}
    for entry in place_items(session, tenant.code):
        grouped.setdefault(entry.item.category_code, []).append(entry)
    categories = {c.code: c for c in session.scalars(select(Category))}
    error = translate("本地实施清单中没有这个事项。") if basic_code else ""
    page = render_template("cases/pick_item.html", place=tenant, grouped=grouped, categories=categories, error=error)
    return page, (404 if basic_code else 200)


# --- the worklist --------------------------------------------------------------------------------

@bp.route("")
@login_required
def worklist() -> Any:
    require_principal()
    session = db()
    day = today()
    calendar = load_calendar(session, day)
    days = forms.soon_days(request.args, settings().due_soon_working_days)
    soon_until = _working_days_after(calendar, day, days)
    selected = forms.worklist_filter(request.args, day, soon_until)
    if selected.place:
        tenant_or_404(session, selected.place)
    found = queries.worklist(session, selected)
    cases, total = found.rows, found.total
    choices = filter_choices(session)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "cases/worklist.html", cases=cases, total=total, filter=selected, args=args, days=days, today=day,
        soon_until=soon_until, calendar_gap=soon_until is None, places=choices.places, choices=choices,
        pages=max((total + queries.PAGE_SIZE - 1) // queries.PAGE_SIZE, 1), states=list(CaseState),
        # Once per page, not per row: the labels of the states and where a case's page is.
        state_labels={s.value: translate(s.label) for s in CaseState}, case_url=_case_url_prefix(),
    )


def _case_url_prefix() -> str:
    """The URL of a case's page without its number (26 digits, nothing to escape): one url_for
    for the page instead of one per row."""
    return url_for("cases.show", number="0").removesuffix("0")


def _working_days_after(calendar: WorkingCalendar, day: dt.date, days: int) -> dt.date | None:
    try:
        return calendar.add_working_days(day, days)
    except CalendarMissing:
        return None


# --- the reviewer inbox (后台审批) -----------------------------------------------------------------

@bp.route("/inbox")
@login_required
def inbox() -> Any:
    return inbox_page()


def inbox_page(error: tuple[str, str] | None = None, status: int = 200) -> Any:
    who = require_principal()
    if "reviewer" not in who.roles:
        raise Forbidden(translate("只有后台审批人员有审批待办。"))
    session = db()
    tasks = queries.inbox(session, who)
    suspended = queries.suspended_for_reviewer(session, who)
    page = render_template("cases/inbox.html", tasks=tasks, suspended=suspended, departments=departments(session),
                           error=error, today=today())
    return page, status


# --- the issuance window (统一出件) ----------------------------------------------------------------

@bp.route("/issuance")
@login_required
def issuance() -> Any:
    who = require_principal()
    return issuance_page(place_for(who, "issuer"))


def issuance_page(place: str, error: tuple[str, str] | None = None, status: int = 200) -> Any:
    require_role_at(place, "issuer")
    session = db()
    tenant = tenant_or_404(session, place)
    queue = queries.issuance_queue(session, place)
    page = render_template("cases/issuance.html", place=tenant, queue=queue, error=error, result_titles=RESULT_TITLES)
    return page, status


# --- the case page -------------------------------------------------------------------------------

@bp.route("/<number>")
@login_required
def show(number: str) -> Any:
    return case_page(services.case_or_404(db(), number))


def case_page(case: Case, error: tuple[str, str] | None = None, status: int = 200) -> Any:
    who = require_principal()
    session = db()
    events = events_for(session, "case", case.id)
    offered = {verb: _offer(check(case, who)) for verb, check in CHECKS.items()}
    page = render_template(
        "cases/show.html", case=case, place=session.get(Tenant, case.tenant_code), events=events,
        departments=departments(session), offered=offered, error=error, result_titles=RESULT_TITLES,
        my_tasks=[t for t in case.tasks if workflow.can_review(t, who) is None],
        days_left=_days_left(session, case), notice=_notice_event(events) is not None, today=today(),
        material_status={m.position: m.status for m in case.materials},
        material_due={m.position: m.due_on.isoformat() if m.due_on else "" for m in case.materials},
    )
    return page, status


CHECKS: dict[str, Callable[[Case, Principal], workflow.Refusal | None]] = {
    "pre_accept": workflow.can_pre_accept, "accept": workflow.can_accept, "correct": workflow.can_correct,
    "refuse": workflow.can_refuse, "request_correction": workflow.can_request_correction,
    "withdraw": workflow.can_withdraw, "decide": workflow.can_decide_at_window, "suspend": workflow.can_suspend,
    "resume": workflow.can_resume, "evaluate": workflow.can_evaluate, "issue": workflow.can_issue,
}


def _offer(refused: workflow.Refusal | None) -> str:
    """"ok": the viewer may do it now; "condition": may, once the form's condition is met (materials
    ticked, the evaluation recorded), so the form is shown; "": not for this viewer or state."""
    if refused is None:
        return "ok"
    return "condition" if refused.kind == "condition" else ""


def _days_left(session: Session, case: Case) -> int | None:
    if case.due_date is None or case.state not in queries.CLOCK_RUNNING:
        return None
    try:
        return load_calendar(session, min(case.due_date, today())).working_days_left(case.due_date, today())
    except CalendarMissing:
        return None


def _notice_event(events: list[AuditEvent]) -> AuditEvent | None:
    return next((e for e in reversed(events) if e.kind == "case.correction_requested"), None)


# --- printable documents -------------------------------------------------------------------------

@bp.route("/<number>/receipt")
@login_required
def receipt(number: str) -> Any:
    """受理通知书."""
    session = db()
    case = services.case_or_404(session, number)
    if case.accepted_on is None:
        raise NotFound(translate("该办件尚未受理，没有受理通知书。"))
    return render_template("cases/receipt.html", case=case, place=session.get(Tenant, case.tenant_code),
                           departments=departments(session))


@bp.route("/<number>/notice")
@login_required
def notice(number: str) -> Any:
    """一次性告知书: every material the latest correction request listed."""
    session = db()
    case = services.case_or_404(session, number)
    event = _notice_event(events_for(session, "case", case.id))
    if event is None:
        raise NotFound(translate("该办件没有出具过一次性告知书。"))
    return render_template("cases/notice.html", case=case, place=session.get(Tenant, case.tenant_code),
                           missing=event.data.get("missing", []), issued_at=event.at, issued_by=event.actor)
