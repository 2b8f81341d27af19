"""The case state machine: each transition is a verb with a guard (`can_<verb>` returns the
reason it is refused, or None), writes an audit event and never commits.

Guards check three things: the state (ALLOWED_FROM), the actor's role at the case's place (with
the scope of their grants) and the verb's own conditions. Views and the API call only these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from app.calendar.clock import WorkingCalendar
from app.cases import deadlines
from app.cases.models import Case, CasePause, ReviewTask
from app.cases.states import (
    ALLOWED_FROM,
    RESULT_DENIED,
    RESULT_GRANTED,
    RESULT_ISSUED,
    RESULT_RETURNED,
    CaseState,
)
from app.cases.store import write_new_case
from app.core.audit import record
from app.core.auth import Principal
from app.core.db import utcnow
from app.core.errors import Forbidden, UserError
from app.core.tenancy import is_within
from app.sync.outbox import emit_case_event

ROLE_FOR = {
    "pre_accept": ("clerk",), "accept": ("clerk",), "correct": ("clerk",), "refuse": ("clerk",),
    "request_correction": ("clerk",), "withdraw": ("clerk",),
    "suspend": ("reviewer",), "resume": ("reviewer",), "review": ("reviewer",),
    "evaluate": ("issuer", "clerk"), "issue": ("issuer",),
}


class TransitionRefused(UserError):
    """The case is not in a state that allows this (409 Conflict: someone else may have acted)."""

    status = 409


@dataclass(frozen=True)
class Refusal:
    """Why a verb is not possible now: the wrong state (409), the wrong role (403) or an unmet
    condition of the verb itself (400)."""

    kind: str  # state | role | condition
    message: str

    def raise_(self, place: str = "") -> NoReturn:
        error = {"state": TransitionRefused, "role": Forbidden}.get(self.kind, UserError)
        raise error(self.message, place=place or self.kind)


def refusal(case: Case, verb: str, actor: Principal) -> Refusal | None:
    """State and role check shared by every `can_*`."""
    if case.case_state not in ALLOWED_FROM[verb]:
        return Refusal("state", f"a case in state '{case.case_state.label}' cannot be '{verb}'")
    if not actor.has_role_at(case.tenant_code, *ROLE_FOR[verb]):
        return Refusal("role", f"'{verb}' needs the role {' or '.join(ROLE_FOR[verb])} at this place")
    return None


def _require(refused: Refusal | None) -> None:
    if refused is not None:
        refused.raise_()


def _log(session: Session, case: Case, actor: Principal | str, kind: str, **data: Any) -> None:
    if case.id is None:
        # A new case, written now that its first step has set its fields (app.cases.store): its
        # first event names it by id.
        write_new_case(session, case)
    actor_name = actor if isinstance(actor, str) else actor.username
    record(
        session, tenant_code=case.tenant_code, kind=f"case.{kind}", actor=actor_name,
        subject_type="case", subject_id=case.id, subject_ref=case.number, data=data,
    )
    emit_case_event(session, case, kind, actor_name, data)  # reported upward (app.sync), same transaction


def _move(case: Case, state: CaseState) -> None:
    case.state = state.value


def record_submission(session: Session, case: Case, actor: Principal) -> None:
    """申办: the case exists and waits in SUBMITTED (the state a new case starts in)."""
    _log(session, case, actor, "submitted", channel=case.channel)


# --- acceptance (一窗受理) -----------------------------------------------------------------------

def can_pre_accept(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "pre_accept", actor)


def pre_accept(session: Session, case: Case, actor: Principal) -> None:
    _require(can_pre_accept(case, actor))
    _move(case, CaseState.PRE_ACCEPTED)
    _log(session, case, actor, "pre_accepted")


def can_accept(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "accept", actor) or _missing_required(case)


def accept(session: Session, case: Case, actor: Principal, today: dt.date, departments: list[str],
           calendar: WorkingCalendar | None = None) -> None:
    """受理: start the clock and push the case to every reviewing department at once. `calendar`:
    the working-day calendar from today's year when the caller has it already."""
    _require(can_accept(case, actor))
    _start_review(session, case, actor, today, departments, calendar)


def can_correct(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "correct", actor) or _missing_required(case)


def correct(session: Session, case: Case, actor: Principal, today: dt.date, departments: list[str]) -> None:
    """补正受理: the missing materials arrived. Accepts a case never accepted; otherwise ends the
    correction pause and the review goes on."""
    _require(can_correct(case, actor))
    if case.accepted_at is None:
        _start_review(session, case, actor, today, departments)
        return
    _end_pause(session, case, today, "correction")
    _move(case, CaseState.ACCEPTED)
    _log(session, case, actor, "corrected", due_date=_iso(case.due_date), materials=_checklist(case))


def _start_review(session: Session, case: Case, actor: Principal, today: dt.date, departments: list[str],
                  calendar: WorkingCalendar | None = None) -> None:
    if not departments:
        raise UserError("the item names no reviewing department", place="item")
    with session.no_autoflush:  # one write of the accepted case, not one per field group
        case.accepted_at, case.accepted_on, case.accepted_by = utcnow(), today, actor.username
        deadlines.schedule(session, case, calendar)
        case.tasks.extend(ReviewTask(tenant_code=case.tenant_code, department_code=d) for d in departments)
        _move(case, CaseState.ACCEPTED)
    _log(session, case, actor, "accepted", due_date=_iso(case.due_date), departments=departments,
         calendar_missing=case.calendar_missing, materials=_checklist(case))


def _checklist(case: Case) -> dict[str, str]:
    """The material checklist as received, for the audit trail (position → status[, due date])."""
    return {str(m.position): m.status + (f" {m.due_on.isoformat()}" if m.due_on else "") for m in case.materials}


def _missing_required(case: Case) -> Refusal | None:
    missing = [m.name for m in case.materials if m.necessity == "required" and m.status == "missing"]
    return Refusal("condition", f"required materials missing: {', '.join(missing)}") if missing else None


def can_refuse(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "refuse", actor)


def refuse(session: Session, case: Case, actor: Principal, reason: str) -> None:
    """不予受理, with the reason the applicant is told."""
    _require(can_refuse(case, actor))
    if not reason.strip():
        raise UserError("a refusal needs its reason", place="reason")
    case.refusal_reason = reason.strip()
    _move(case, CaseState.REFUSED)
    _log(session, case, actor, "refused", reason=case.refusal_reason)


def can_request_correction(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "request_correction", actor)


def request_correction(session: Session, case: Case, actor: Principal, today: dt.date, missing: list[str]) -> None:
    """补正告知: one notice listing every missing material. During review the clock pauses."""
    _require(can_request_correction(case, actor))
    if not missing:
        raise UserError("a correction notice lists at least one missing material", place="materials")
    if case.case_state is CaseState.ACCEPTED:
        case.pauses.append(CasePause(tenant_code=case.tenant_code, kind="correction",
                                     reason="；".join(missing), started_on=today))
    _move(case, CaseState.CORRECTION)
    _log(session, case, actor, "correction_requested", missing=missing)


def can_withdraw(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "withdraw", actor)


def withdraw(session: Session, case: Case, actor: Principal, reason: str) -> None:
    _require(can_withdraw(case, actor))
    case.result_code = RESULT_RETURNED
    for task in case.tasks:
        if task.state == "pending":
            task.state = "withdrawn"
    _move(case, CaseState.WITHDRAWN)
    _log(session, case, actor, "withdrawn", reason=reason)


# --- review (推送相关、同步审核) ------------------------------------------------------------------

def can_review(task: ReviewTask, actor: Principal) -> Refusal | None:
    if task.state != "pending":
        return Refusal("state", "this department has already given its opinion")
    refused = refusal(task.case, "review", actor)
    if refused is None and not _reviews_for(actor, task.case.tenant_code, task.department_code):
        refused = Refusal("role", f"only a reviewer of department {task.department_code} for this place may review")
    return refused


def review(session: Session, task: ReviewTask, actor: Principal, approve: bool, opinion: str) -> None:
    """One department's opinion; when the last one is in, the case is decided."""
    _require(can_review(task, actor))
    if not opinion.strip():
        raise UserError("a review needs an opinion", place="opinion")
    task.state, task.opinion = ("approved" if approve else "refused"), opinion.strip()
    task.reviewer, task.decided_at = actor.username, utcnow()
    case = task.case
    # Touch the case so its version moves with every opinion: two last opinions given at once
    # cannot both miss that they were the last (the optimistic lock turns the second into a 409).
    case.updated_at = utcnow()
    _log(session, case, actor, "reviewed", department=task.department_code, approved=approve, opinion=task.opinion)
    if all(t.state != "pending" for t in case.tasks):
        _decide(session, case)


def _decide(session: Session, case: Case) -> None:
    granted = all(t.state == "approved" for t in case.tasks)
    case.result_code = RESULT_GRANTED if granted else RESULT_DENIED
    case.decided_at = utcnow()
    _move(case, CaseState.READY)
    _log(session, case, "system", "decided", result=case.result_code)


def _reviews_for(actor: Principal, place: str, department: str) -> bool:
    return any(
        role == "reviewer" and dept == department and (code == place or (subtree and is_within(place, code)))
        for code, role, dept, subtree in actor.grants
    )


def can_decide_at_window(case: Case, actor: Principal) -> Refusal | None:
    if case.case_state is not CaseState.ACCEPTED or case.promised_days != 0:
        return Refusal("state", "only an immediate item (即办件) under review can be decided at the window")
    if not actor.has_role_at(case.tenant_code, "clerk"):
        return Refusal("role", "deciding at the window needs the clerk role at this place")
    return None


def decide_at_window(session: Session, case: Case, actor: Principal) -> None:
    """即办件: the clerk decides at once; the tasks are approved in the clerk's name."""
    _require(can_decide_at_window(case, actor))
    for task in case.tasks:
        task.state, task.opinion, task.reviewer, task.decided_at = "approved", "即办", actor.username, utcnow()
    _log(session, case, actor, "decided_at_window")
    _decide(session, case)


# --- special procedures (特别程序) -------------------------------------------------------------

def can_suspend(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "suspend", actor) or _not_reviewing(case, actor)


def _not_reviewing(case: Case, actor: Principal) -> Refusal | None:
    """Only a reviewer of one of the case's departments starts or ends its special procedure."""
    if any(_reviews_for(actor, case.tenant_code, task.department_code) for task in case.tasks):
        return None
    return Refusal("role", "only a reviewer of one of this case's departments may do this")


def suspend(session: Session, case: Case, actor: Principal, today: dt.date, procedure: str, reason: str) -> None:
    """Stop the clock for a hearing, inspection, testing, expert review … (行政许可法 §45)."""
    _require(can_suspend(case, actor))
    if not reason.strip() or not procedure.strip():
        raise UserError("a special procedure needs its kind and reason", place="reason")
    case.pauses.append(CasePause(tenant_code=case.tenant_code, kind="special", procedure=procedure.strip(),
                                 reason=reason.strip(), started_on=today))
    _move(case, CaseState.SUSPENDED)
    _log(session, case, actor, "suspended", procedure=procedure, reason=reason)


def can_resume(case: Case, actor: Principal) -> Refusal | None:
    return refusal(case, "resume", actor) or _not_reviewing(case, actor)


def resume(session: Session, case: Case, actor: Principal, today: dt.date, result: str) -> None:
    _require(can_resume(case, actor))
    _end_pause(session, case, today, "special", result)
    _move(case, CaseState.ACCEPTED)
    _log(session, case, actor, "resumed", result=result, due_date=_iso(case.due_date))


def _end_pause(session: Session, case: Case, today: dt.date, kind: str, result: str = "") -> None:
    pause = next((p for p in reversed(case.pauses) if p.kind == kind and p.ended_on is None), None)
    if pause is None:
        return
    pause.ended_on, pause.result = today, result
    deadlines.schedule(session, case)


# --- issuance (先评价后取证、统一出件) ------------------------------------------------------------

def can_evaluate(case: Case, actor: Principal) -> Refusal | None:
    if case.satisfaction is not None or case.evaluation_refused:
        return Refusal("state", "this case has been evaluated already (一事一评)")
    return refusal(case, "evaluate", actor)


def evaluate(session: Session, case: Case, actor: Principal, level: int | None) -> None:
    """The applicant's evaluation (5 非常满意 … 1 非常不满意), or None when they decline."""
    _require(can_evaluate(case, actor))
    if level is not None and level not in range(1, 6):
        raise UserError("an evaluation is a level from 1 to 5", place="level")
    case.satisfaction, case.evaluation_refused = level, level is None
    _log(session, case, actor, "evaluated", level=level, refused=level is None)


def can_issue(case: Case, actor: Principal) -> Refusal | None:
    refused = refusal(case, "issue", actor)
    if refused is None and case.satisfaction is None and not case.evaluation_refused:
        refused = Refusal("condition", "the applicant evaluates before collecting the result (先评价后取证)")
    return refused


def issue(session: Session, case: Case, actor: Principal, delivery: str, collected_by: str = "",
          tracking_number: str = "") -> None:
    """统一出件: hand over at the window (who collected it) or by mail (tracking number)."""
    _require(can_issue(case, actor))
    if delivery == "collect" and not collected_by.strip():
        raise UserError("name the person who collected the result", place="collected_by")
    if delivery == "mail" and not tracking_number.strip():
        raise UserError("a mailed result needs its tracking number", place="tracking_number")
    if delivery not in ("collect", "mail"):
        raise UserError("delivery is collect or mail", place="delivery")
    case.delivery, case.collected_by, case.tracking_number = delivery, collected_by.strip(), tracking_number.strip()
    case.issued_at, case.issued_by = utcnow(), actor.username
    if case.result_code == RESULT_GRANTED:
        case.result_code = RESULT_ISSUED
    _move(case, CaseState.ISSUED)
    _log(session, case, actor, "issued", delivery=delivery, tracking_number=case.tracking_number)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
