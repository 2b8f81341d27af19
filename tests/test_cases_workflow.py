"""The case state machine: every transition, its guard, its audit event, and the clock."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from app.cases import workflow
from app.cases.models import Case, CaseCounter
from app.cases.services import Applicant, WindowApplication, case_or_404, open_at_window
from app.cases.states import CaseState
from app.core.audit import events_for, verify
from app.core.errors import Forbidden, NotFound, UserError
from tests.cases_helpers import ELDERLY_CARD, HOUSING, PERSON, TOWN, acting_as, file_case

FRIDAY = dt.date(2026, 11, 27)


def load(app, number: str, username: str = "lx_jfl_clerk"):
    """The case as `username` sees it, in a fresh session (caller uses the returned context)."""
    return acting_as(app, username)


def test_a_complete_application_is_accepted_and_pushed_to_every_department(app):
    """Does a complete application start the clock and open one pending task per reviewing department?"""
    number = file_case(app)
    with acting_as(app, "lx_jfl_clerk") as (session, _clerk):
        case = case_or_404(session, number)
        assert case.case_state is CaseState.ACCEPTED
        assert {t.department_code for t in case.tasks} == {"ZJ", "MZ"}
        assert all(t.state == "pending" for t in case.tasks)
        # 20 working days after Friday 2026-11-27: 2026-12-25 (no holidays in between).
        assert case.due_date == dt.date(2026, 12, 25) and case.calendar_missing == ""
        assert [e.kind for e in events_for(session, "case", case.id)] == ["case.accepted"]
        assert number.startswith(TOWN + "20261127") and len(number) == 26


def test_missing_required_material_gives_a_one_time_notice_then_correction_accepts(app):
    """Does a missing required material put the case in 补正告知 listing it, and supplying it accept the case?"""
    number = file_case(app, materials={1: "missing", 2: "missing"})
    with acting_as(app, "lx_jfl_clerk") as (session, clerk):
        case = case_or_404(session, number)
        assert case.case_state is CaseState.CORRECTION and case.due_date is None
        notice = events_for(session, "case", case.id)[-1]
        assert notice.kind == "case.correction_requested" and len(notice.data["missing"]) == 2
        refused = workflow.can_correct(case, clerk)
        assert refused is not None and refused.kind == "condition"
        for material in case.materials:
            material.status = "paper"
        workflow.correct(session, case, clerk, FRIDAY, ["ZJ", "MZ"])
        assert case.case_state is CaseState.ACCEPTED and case.due_date is not None


def test_deferrable_material_may_come_later_only_with_a_date(app):
    """Can a 容缺 material be accepted as 'deferred' with a date, and is a deferred required one refused?"""
    number = file_case(app, materials={4: "deferred"}, deferred_until={4: FRIDAY + dt.timedelta(days=10)})
    with acting_as(app, "lx_jfl_clerk") as (session, _clerk):
        assert case_or_404(session, number).case_state is CaseState.ACCEPTED
    with pytest.raises(UserError, match="may not be supplied later"):
        file_case(app, materials={1: "deferred"}, deferred_until={1: FRIDAY + dt.timedelta(days=10)})
    with pytest.raises(UserError, match="needs a date after today"):
        file_case(app, materials={4: "deferred"})


def review_as(app, username: str, number: str, department: str, approve: bool = True) -> None:
    with acting_as(app, username) as (session, reviewer):
        case = case_or_404(session, number)
        task = next(t for t in case.tasks if t.department_code == department)
        workflow.review(session, task, reviewer, approve, "材料齐全，符合条件" if approve else "收入超标")


def test_parallel_review_decides_when_the_last_department_answers(app):
    """Is the case decided (准予许可) only when both ZJ and MZ have approved, in either order?"""
    number = file_case(app)
    review_as(app, "lx_reviewer_mz", number, "MZ")
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        assert case_or_404(session, number).case_state is CaseState.ACCEPTED
    review_as(app, "lx_reviewer_zj", number, "ZJ")
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        case = case_or_404(session, number)
        assert case.case_state is CaseState.READY and case.result_code == "6"


def test_one_refusal_decides_against(app):
    """Does one department's refusal make the decision 不予许可?"""
    number = file_case(app)
    review_as(app, "lx_reviewer_zj", number, "ZJ", approve=False)
    review_as(app, "lx_reviewer_mz", number, "MZ")
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        assert case_or_404(session, number).result_code == "7"


def test_a_reviewer_of_another_department_cannot_review(app):
    """Can the GA reviewer answer for ZJ, or review twice? (403, then 409)"""
    number = file_case(app)
    with pytest.raises(Forbidden, match="only a reviewer of department ZJ"):
        review_as(app, "lx_reviewer_ga", number, "ZJ")
    review_as(app, "lx_reviewer_zj", number, "ZJ")
    with pytest.raises(workflow.TransitionRefused, match="already given its opinion"):
        review_as(app, "lx_reviewer_zj", number, "ZJ")


def test_another_countys_staff_cannot_see_the_case(app):
    """Does a 历城区 admin get 'no such case' for a 历下区 case?"""
    number = file_case(app)
    with acting_as(app, "lc_admin") as (session, _), pytest.raises(NotFound):
        case_or_404(session, number)


def decide(app, number: str) -> None:
    review_as(app, "lx_reviewer_zj", number, "ZJ")
    review_as(app, "lx_reviewer_mz", number, "MZ")


def test_evaluation_comes_before_collection(app):
    """Is hand-over refused until the applicant has evaluated (先评价后取证), then recorded with who collected?"""
    number = file_case(app)
    decide(app, number)
    with acting_as(app, "lx_jfl_clerk") as (session, issuer):
        case = case_or_404(session, number)
        with pytest.raises(UserError, match="先评价后取证"):
            workflow.issue(session, case, issuer, "collect", collected_by="张三")
        workflow.evaluate(session, case, issuer, 5)
        with pytest.raises(workflow.TransitionRefused, match="一事一评"):
            workflow.evaluate(session, case, issuer, 4)
        workflow.issue(session, case, issuer, "collect", collected_by="张三")
        assert case.case_state is CaseState.ISSUED and case.result_code == "0" and case.satisfaction == 5
        kinds = [e.kind for e in events_for(session, "case", case.id)]
        assert kinds[-3:] == ["case.decided", "case.evaluated", "case.issued"]


def test_mail_needs_a_tracking_number_and_refusing_to_evaluate_is_recorded(app):
    """Can a result be mailed without a tracking number? Can the applicant decline to evaluate?"""
    number = file_case(app)
    decide(app, number)
    with acting_as(app, "lx_jfl_clerk") as (session, issuer):
        case = case_or_404(session, number)
        workflow.evaluate(session, case, issuer, None)
        with pytest.raises(UserError, match="tracking number"):
            workflow.issue(session, case, issuer, "mail")
        workflow.issue(session, case, issuer, "mail", tracking_number="SF1234567890")
        assert case.evaluation_refused and case.tracking_number == "SF1234567890"


def test_transitions_not_allowed_from_a_state_are_conflicts(app):
    """Is issuing a case still under review refused as a conflict (409), naming the state?"""
    number = file_case(app)
    with acting_as(app, "lx_jfl_clerk") as (session, issuer):
        case = case_or_404(session, number)
        with pytest.raises(workflow.TransitionRefused, match="审查中") as refused:
            workflow.issue(session, case, issuer, "collect", collected_by="张三")
        assert refused.value.status == 409


def test_a_clerk_of_the_city_cannot_act_at_the_town(app):
    """Can a staff member without the clerk role at the town accept there (403), even if they see it?"""
    with acting_as(app, "lx_admin") as (session, admin), pytest.raises(Forbidden, match="clerk role"):
        open_at_window(session, admin, TOWN, WindowApplication(HOUSING, PERSON, {}), FRIDAY)


@pytest.mark.parametrize(("application", "place"), [
    (WindowApplication(HOUSING, Applicant("person", "张三", "110105194912310021", "张三", "1380000")), "applicant.id_number"),
    (WindowApplication("999999999999", PERSON), "basic_code"),
    (WindowApplication("010100001000", PERSON), "basic_code"),  # city-only radiation licence
    (WindowApplication(HOUSING, Applicant("robot", "x", "1", "x", "1")), "applicant.kind"),
    (WindowApplication(HOUSING, PERSON, {9: "paper"}), "materials.9"),
    (WindowApplication(HOUSING, PERSON, {1: "scanned"}), "materials.1"),
])
def test_bad_input_is_refused_and_nothing_is_written(app, application, place):
    """Is each bad application refused naming the field, with no case and no case number used?"""
    with acting_as(app, "lx_jfl_clerk") as (session, clerk):
        with pytest.raises(UserError) as refused:
            open_at_window(session, clerk, TOWN, application, FRIDAY)
        assert refused.value.place == place
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert session.scalar(select(func.count()).select_from(CaseCounter)) == 0


def test_item_not_offered_here_names_the_reason(app):
    """Is an item of the catalogue that this town does not offer refused as such?"""
    with acting_as(app, "lx_jfl_clerk") as (session, clerk), pytest.raises(UserError, match="not offered at this place"):
        open_at_window(session, clerk, TOWN, WindowApplication("010100001000", PERSON), FRIDAY)


def test_immediate_item_is_decided_at_the_window(app):
    """Can a 即办件 be accepted and decided at once by the clerk?"""
    number = file_case(app, ELDERLY_CARD, decide_now=True)
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        case = case_or_404(session, number)
        assert case.case_state is CaseState.READY and case.due_date == FRIDAY


def test_special_procedure_spanning_a_holiday_extends_the_deadline_by_working_days(app):
    """Does a hearing from 2026-09-24 to 2026-10-09 (across National Day) add only its working days?"""
    number = file_case(app, today=dt.date(2026, 9, 21))
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        before = case_or_404(session, number).due_date
    with acting_as(app, "lx_reviewer_zj") as (session, reviewer):
        case = case_or_404(session, number)
        workflow.suspend(session, case, reviewer, dt.date(2026, 9, 24), "hearing", "申请人要求听证")
        assert case.case_state is CaseState.SUSPENDED
        workflow.resume(session, case, reviewer, dt.date(2026, 10, 9), "听证结束")
        # Paused [09-24, 10-09): working days 09-24, 09-28, 09-29, 09-30 and 10-08 (中秋 09-25…27 and
        # 国庆 10-01…07 are off): 5. The 20-working-day clock moves from 10-26 to 11-02.
        assert before == dt.date(2026, 10, 26)
        assert case.paused_days == case.pauses[0].working_days == 5
        assert case.due_date == dt.date(2026, 11, 2)
        assert case.case_state is CaseState.ACCEPTED


def test_a_deadline_in_a_year_without_calendar_is_flagged_not_guessed(app):
    """Is a case accepted on 2026-12-28 with a 20-working-day limit flagged 'calendar missing 2027'?"""
    number = file_case(app, today=dt.date(2026, 12, 28))
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        case = case_or_404(session, number)
        assert case.due_date is None and case.calendar_missing == "2027"
        assert case.case_state is CaseState.ACCEPTED


def test_withdrawal_closes_pending_tasks(app):
    """Does withdrawing a case under review close its tasks and record 退回?"""
    number = file_case(app)
    with acting_as(app, "lx_jfl_clerk") as (session, clerk):
        case = case_or_404(session, number)
        workflow.withdraw(session, case, clerk, "申请人主动撤回")
        assert case.case_state is CaseState.WITHDRAWN and case.result_code == "1"
        assert {t.state for t in case.tasks} == {"withdrawn"}


def test_two_clerks_at_once_exactly_one_wins(app):
    """When two clerks open the same case and both act, does exactly one change land and the other get
    a conflict (nothing lost, nothing applied twice)?"""
    number = file_case(app)
    first, second = acting_as(app, "lx_jfl_clerk"), acting_as(app, "lx_jfl_clerk")
    session_a, clerk_a = first.__enter__()
    session_b, clerk_b = second.__enter__()
    try:
        case_a, case_b = case_or_404(session_a, number), case_or_404(session_b, number)
        assert case_a.version == case_b.version  # both screens show the same case
        workflow.withdraw(session_a, case_a, clerk_a, "撤回")
        session_a.commit()
        with pytest.raises(StaleDataError):
            workflow.request_correction(session_b, case_b, clerk_b, FRIDAY, ["补充收入证明"])
            session_b.flush()
    finally:
        session_a.close()
        session_b.close()
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        case = case_or_404(session, number)
        assert case.case_state is CaseState.WITHDRAWN
        assert [e.kind for e in events_for(session, "case", case.id)].count("case.correction_requested") == 0


def test_case_numbers_count_per_place_and_day(app):
    """Do two cases at the same town on the same day get consecutive numbers?"""
    first, second = file_case(app), file_case(app)
    assert int(second[-6:]) == int(first[-6:]) + 1 and first[:20] == second[:20]


def test_the_audit_chain_of_a_full_case_verifies(app):
    """After accept → review → decide → evaluate → issue, does the place's audit chain verify?"""
    number = file_case(app)
    decide(app, number)
    with acting_as(app, "lx_jfl_clerk") as (session, issuer):
        case = case_or_404(session, number)
        workflow.evaluate(session, case, issuer, 4)
        workflow.issue(session, case, issuer, "collect", collected_by="张三")
    with acting_as(app, "jn_admin") as (session, _):
        assert verify(session).ok


def test_loading_the_missing_year_resolves_flagged_deadlines(app):
    """After the 2027 calendar is loaded, does `reschedule` give the flagged case its due date?"""
    from app.calendar.services import YearSchedule, replace_year
    from app.cases.deadlines import reschedule

    number = file_case(app, today=dt.date(2026, 12, 28))
    with acting_as(app, "jn_admin") as (session, _):
        replace_year(session, YearSchedule(2027, "test notice", {dt.date(2027, 1, 1): ("holiday", "元旦")}))
        assert reschedule(session) == 1
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        case = case_or_404(session, number)
        # 20 working days after Mon 2026-12-28, with 2027-01-01 off: 2027-01-26.
        assert case.calendar_missing == "" and case.due_date == dt.date(2027, 1, 26)


def test_only_a_reviewer_of_the_cases_departments_suspends_it(app):
    """Can the police (GA) reviewer pause a housing case reviewed by ZJ and MZ? (403; ZJ's reviewer can)"""
    number = file_case(app)
    with acting_as(app, "lx_reviewer_ga") as (session, reviewer):
        case = case_or_404(session, number)
        refused = workflow.can_suspend(case, reviewer)
        assert refused is not None and refused.kind == "role"
    with acting_as(app, "lx_reviewer_zj") as (session, reviewer):
        assert workflow.can_suspend(case_or_404(session, number), reviewer) is None


def test_a_retired_item_cannot_be_applied_for(app):
    """Once an item is dropped from the town's list (retired), is a new application for it refused?"""
    from app.catalog.models import Item, TenantItem

    with acting_as(app, "jn_admin") as (session, _):
        from app.core.tenancy import Scope, set_scope

        set_scope(session, Scope.system())
        entry = session.scalars(select(TenantItem).join(Item).where(
            TenantItem.tenant_code == TOWN, Item.basic_code == HOUSING)).one()
        entry.active = False
    with pytest.raises(UserError, match="not offered at this place"):
        file_case(app)


def test_reschedule_also_fills_a_statutory_date_left_open(app):
    """A case whose promised date is known but whose statutory date runs into 2027: does loading 2027
    and rescheduling fill the statutory date too?"""
    from app.calendar.services import YearSchedule, replace_year
    from app.cases.deadlines import reschedule

    number = file_case(app, today=dt.date(2026, 12, 1))
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        case = case_or_404(session, number)
        assert case.due_date is not None and case.statutory_due_date is None and case.calendar_missing == ""
    with acting_as(app, "jn_admin") as (session, _):
        replace_year(session, YearSchedule(2027, "test notice", {dt.date(2027, 1, 1): ("holiday", "元旦")}))
        assert reschedule(session) == 1
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        assert case_or_404(session, number).statutory_due_date is not None


def test_a_conflict_found_at_commit_is_a_409_not_a_500(app):
    """If another request changes the case between this request's last flush and its commit, does the
    user get the conflict message (409) rather than a server error?"""
    from app.core.tenancy import Scope, set_scope
    from app.core.web import db

    number = file_case(app)

    def touch_while_someone_else_changes_it(number: str) -> str:
        session = set_scope(db(), Scope.system())
        case = case_or_404(session, number)
        case.window_number = "3"  # changed here, flushed only at commit
        with acting_as(app, "lx_jfl_clerk") as (other, clerk):  # another request wins meanwhile
            workflow.withdraw(other, case_or_404(other, number), clerk, "撤回")
        return "done"

    app.config["WTF_CSRF_ENABLED"] = False
    app.add_url_rule("/_test/touch/<number>", view_func=touch_while_someone_else_changes_it, methods=["POST"])
    response = app.test_client().post(f"/_test/touch/{number}", headers={"Accept": "application/json"})
    assert response.status_code == 409 and "reload" in response.get_json()["error"]
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        case = case_or_404(session, number)
        assert case.case_state is CaseState.WITHDRAWN and case.window_number == ""


def test_the_checklist_as_received_is_in_the_audit_trail(app):
    """Does the acceptance event record every material's status, a 容缺 one with its promised date?"""
    due = FRIDAY + dt.timedelta(days=10)
    number = file_case(app, materials={4: "deferred"}, deferred_until={4: due})
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        accepted = events_for(session, "case", case_or_404(session, number).id)[0]
        assert accepted.data["materials"] == {"1": "paper", "2": "paper", "3": "paper", "4": f"deferred {due}"}
