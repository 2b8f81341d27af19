"""The transitions the case forms post: POST /cases/<number>/<action>, each through the workflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.cases import forms, services, workflow
from app.cases.models import Case
from app.cases.views.blueprint import bp, refused_input, today
from app.cases.views.pages import case_page, inbox_page, issuance_page
from app.catalog.models import Item
from app.core.auth import Principal
from app.core.errors import NotFound, UserError
from app.core.i18n import translate
from app.core.web import db, login_required, require_principal

# Each action is POST /cases/<number>/<path>: `run(session, case, actor, **path parts)` parses the
# form, calls the workflow and returns the message to show; `_act` does the rest.

Action = Callable[..., str]


def action(path: str) -> Callable[[Action], Action]:
    """Register `run` as the POST route /cases/<number>/<path>, its endpoint named after it."""
    def register(run: Action) -> Action:
        def view(number: str, **parts: Any) -> Any:
            return _act(number, lambda session, case, who: run(session, case, who, **parts))
        bp.add_url_rule(f"/<number>/{path}", run.__name__, login_required(view), methods=["POST"])
        return run
    return register


def _act(number: str, run: Callable[[Session, Case, Principal], str]) -> Any:
    """Run one transition on the case; on success back to the page the form was on, with a message;
    refused, that page again with the reason beside the case (and the refusal's status: nothing is kept)."""
    session, who = db(), require_principal()
    case = services.case_or_404(session, number)
    try:
        message = run(session, case, who)
        session.flush()  # a concurrent change shows here, as 409, not at the commit after the response
    except UserError as exc:
        error = (case.number, forms.describe(refused_input(exc)))
        back = request.form.get("back")
        if back == "inbox":
            return inbox_page(error, exc.status)
        if back == "issuance":
            return issuance_page(case.tenant_code, error, exc.status)
        return case_page(case, error, exc.status)
    flash(message, "ok")
    return redirect(_back_url(case))


def _back_url(case: Case) -> str:
    back = request.form.get("back")
    if back == "inbox":
        return url_for("cases.inbox")
    if back == "issuance":
        return url_for("cases.issuance", place=case.tenant_code)
    return url_for("cases.show", number=case.number)


def _reviewdepartments(session: Session, case: Case) -> list[str]:
    item = session.get(Item, case.item_id)
    return list(item.review_departments) if item else []


def _supply_materials(session: Session, case: Case) -> None:
    """Set the checklist lines the form names (`material_<n>`, `deferred_<n>`), checked as at acceptance."""
    item = session.scalars(select(Item).where(Item.id == case.item_id).options(selectinload(Item.materials))).one()
    errors: dict[str, str] = {}
    statuses, deferred = forms.material_statuses(request.form, item, errors)
    if errors:
        field, message = next(iter(errors.items()))
        raise UserError(message, place=field)
    application = services.WindowApplication(item.basic_code, services.Applicant("", "", "", "", ""),
                                             statuses, deferred)
    checked = {m.position: m for m in services.checked_materials(item.materials, application, today())}
    for material in case.materials:
        supplied = checked.get(material.position)
        if supplied is not None and f"material_{material.position}" in request.form:  # the rest stay as they are
            material.status, material.due_on = supplied.status, supplied.due_on


@action("pre-accept")
def pre_accept(session: Session, case: Case, who: Principal) -> str:
    workflow.pre_accept(session, case, who)
    return translate("已预受理。")


@action("accept")
def accept(session: Session, case: Case, who: Principal) -> str:
    """受理 of an application submitted online: tick the materials, then accept."""
    _supply_materials(session, case)
    workflow.accept(session, case, who, today(), _reviewdepartments(session, case))
    return translate("已受理。")


@action("correct")
def correct(session: Session, case: Case, who: Principal) -> str:
    """补正受理: tick what the applicant brought, then accept (or resume the review)."""
    _supply_materials(session, case)
    workflow.correct(session, case, who, today(), _reviewdepartments(session, case))
    return translate("补正材料已收齐，办件进入审查。")


@action("refuse")
def refuse(session: Session, case: Case, who: Principal) -> str:
    form = forms.ReasonForm()
    forms.checked(form)
    workflow.refuse(session, case, who, form.reason.data or "")
    return translate("已作出不予受理决定。")


@action("withdraw")
def withdraw(session: Session, case: Case, who: Principal) -> str:
    form = forms.ReasonForm()
    forms.checked(form)
    workflow.withdraw(session, case, who, (form.reason.data or "").strip())
    return translate("办件已撤回。")


@action("request-correction")
def request_correction(session: Session, case: Case, who: Principal) -> str:
    """补正告知: the ticked checklist lines become missing; each line of 'other' is listed too."""
    form = forms.CorrectionRequestForm()
    forms.checked(form)
    ticked = set(request.form.getlist("missing"))
    listed = [m for m in case.materials if str(m.position) in ticked]
    other = [line.strip() for line in (form.other.data or "").splitlines() if line.strip()]
    workflow.request_correction(session, case, who, today(), [m.name for m in listed] + other)
    for material in listed:
        material.status, material.due_on = "missing", None
    return translate("已出具一次性告知书。")


@action("decide")
def decide(session: Session, case: Case, who: Principal) -> str:
    workflow.decide_at_window(session, case, who)
    return translate("即办件已当场办结，请到出件窗口出件。")


@action("tasks/<int:task_id>/review")
def review(session: Session, case: Case, who: Principal, task_id: int) -> str:
    task = next((t for t in case.tasks if t.id == task_id), None)
    if task is None:
        raise NotFound("no such review task")
    form = forms.ReviewForm()
    forms.checked(form)
    if form.decision.data not in ("approve", "refuse"):
        raise UserError(translate("请选择同意或不同意。"), place="decision")
    workflow.review(session, task, who, form.decision.data == "approve", form.opinion.data or "")
    return translate("审查意见已提交：{number}", number=case.number)


@action("suspend")
def suspend(session: Session, case: Case, who: Principal) -> str:
    form = forms.SuspendForm()
    forms.checked(form)
    if form.procedure.data not in forms.PROCEDURE_CODES:
        raise UserError(translate("请选择特别程序类型。"), place="procedure")
    workflow.suspend(session, case, who, today(), form.procedure.data or "", form.reason.data or "")
    return translate("特别程序已开始，办理时限暂停计算。")


@action("resume")
def resume(session: Session, case: Case, who: Principal) -> str:
    form = forms.ResumeForm()
    forms.checked(form)
    workflow.resume(session, case, who, today(), (form.result.data or "").strip())
    return translate("特别程序已结束，恢复计时。")


@action("evaluate")
def evaluate(session: Session, case: Case, who: Principal) -> str:
    level = forms.EvaluationForm().level.data or ""
    if level not in ("1", "2", "3", "4", "5", "none"):
        raise UserError(translate("请选择评价等级。"), place="level")
    workflow.evaluate(session, case, who, None if level == "none" else int(level))
    return translate("评价已记录，可以出件。")


@action("issue")
def issue(session: Session, case: Case, who: Principal) -> str:
    form = forms.IssueForm()
    forms.checked(form)
    workflow.issue(session, case, who, form.delivery.data or "", form.collected_by.data or "",
                   form.tracking_number.data or "")
    return translate("已出件，办件办结：{number}", number=case.number)
