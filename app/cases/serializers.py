"""Cases as plain dicts for the JSON API: a worklist row, the whole case and its audit timeline.

ID numbers are masked (DOMAIN §8) except for the people who work the case: the clerks and
issuers of its place and the reviewers of its departments need the full number to check
records in their own systems. Admins, auditors and other departments see it masked; lists
always mask.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.cases import workflow
from app.cases.models import Case, CaseMaterial, CasePause, ReviewTask
from app.cases.states import RESULT_TITLES
from app.core.audit import AuditEvent
from app.core.auth import Principal
from app.core.identity import mask
from app.core.tenancy import is_within

# Verbs a caller may be offered on a whole case (reviews are offered per task).
CASE_VERBS = ("pre_accept", "accept", "correct", "refuse", "request_correction", "withdraw", "suspend", "resume",
              "evaluate", "issue", "decide_at_window")


def case_row_json(case: Case, basic_code: str) -> dict[str, Any]:
    """One worklist row: what a list needs to sort, filter and open the case; no full ID number."""
    return {
        "number": case.number, "place": case.tenant_code, "version": case.version,
        "state": case.state, "state_title": case.case_state.label, "channel": case.channel,
        "item": {"basic_code": basic_code, "name": case.item_name, "implementation_code": case.implementation_code},
        "applicant": {"kind": case.applicant_kind, "name": case.applicant_name,
                      "id_number": mask(case.applicant_id_number)},
        "accepted_on": _day(case.accepted_on), "due_date": _day(case.due_date),
        "statutory_due_date": _day(case.statutory_due_date), "calendar_missing": case.calendar_missing,
        "result_code": case.result_code, "updated_at": _time(case.updated_at),
    }


def case_json(case: Case, basic_code: str, viewer: Principal) -> dict[str, Any]:
    """The whole case: materials, review tasks, pauses, result, evaluation and what `viewer` may do now."""
    full = works_on(viewer, case)
    return case_row_json(case, basic_code) | {
        "applicant": _applicant(case, full),
        "window_number": case.window_number,
        "accepted_at": _time(case.accepted_at), "accepted_by": case.accepted_by,
        "promised_limit": {"days": case.promised_days, "unit": case.promised_unit},
        "statutory_limit": {"days": case.statutory_days, "unit": case.statutory_unit},
        "paused_days": case.paused_days,
        "materials": [_material(m) for m in case.materials],
        "missing": [m.name for m in case.materials if m.necessity == "required" and m.status == "missing"],
        "tasks": [_task(t, viewer) for t in case.tasks],
        "pauses": [_pause(p) for p in case.pauses],
        "result": _result(case),
        "evaluation": {"satisfaction": case.satisfaction, "refused": case.evaluation_refused},
        "actions": [verb for verb in CASE_VERBS if getattr(workflow, f"can_{verb}")(case, viewer) is None],
    }


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {"seq": event.seq, "at": _time(event.at), "actor": event.actor, "kind": event.kind, "data": event.data}


def works_on(viewer: Principal, case: Case) -> bool:
    """Is `viewer` a clerk or issuer of the case's place, or a reviewer of one of its departments there?"""
    if viewer.has_role_at(case.tenant_code, "clerk", "issuer"):
        return True
    departments = {t.department_code for t in case.tasks}
    return any(role == "reviewer" and dept in departments
               and (code == case.tenant_code or (subtree and is_within(case.tenant_code, code)))
               for code, role, dept, subtree in viewer.grants)


def _applicant(case: Case, full: bool) -> dict[str, Any]:
    def shown(number: str) -> str:
        return number if full else mask(number)

    return {
        "kind": case.applicant_kind, "name": case.applicant_name, "id_type": case.applicant_id_type,
        "id_number": shown(case.applicant_id_number), "id_number_masked": not full,
        "contact_name": case.contact_name, "contact_phone": case.contact_phone,
        "agent_name": case.agent_name,
        "agent_id_number": shown(case.agent_id_number) if case.agent_id_number else "",
    }


def _material(material: CaseMaterial) -> dict[str, Any]:
    return {"position": material.position, "name": material.name, "necessity": material.necessity,
            "status": material.status, "due_on": _day(material.due_on)}


def _task(task: ReviewTask, viewer: Principal) -> dict[str, Any]:
    return {"department": task.department_code, "state": task.state, "opinion": task.opinion,
            "reviewer": task.reviewer, "decided_at": _time(task.decided_at),
            "can_review": workflow.can_review(task, viewer) is None}


def _pause(pause: CasePause) -> dict[str, Any]:
    return {"kind": pause.kind, "procedure": pause.procedure, "reason": pause.reason,
            "started_on": _day(pause.started_on), "ended_on": _day(pause.ended_on),
            "working_days": pause.working_days, "result": pause.result}


def _result(case: Case) -> dict[str, Any]:
    return {
        "title": RESULT_TITLES.get(case.result_code, ""),  # of `result_code`
        "decided_at": _time(case.decided_at), "refusal_reason": case.refusal_reason,
        "issued_at": _time(case.issued_at), "issued_by": case.issued_by, "delivery": case.delivery,
        "collected_by": case.collected_by, "tracking_number": case.tracking_number,
    }


def _day(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _time(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
