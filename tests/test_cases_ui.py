"""The staff pages for cases: front desk, worklist, reviewer inbox, issuance window, case page and the
printable documents — driven through the Flask test client, scoped like every other page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.cases import deadlines, workflow
from app.cases.forms import MESSAGES
from app.cases.models import Case
from app.cases.services import WindowApplication, case_or_404, open_at_window
from app.cases.states import RESULT_TITLES, TITLES, CaseState
from app.catalog.models import Item
from app.core.translations_en import EN
from tests.cases_helpers import HOUSING, PERSON, RESIDENCE, TOWN, acting_as, file_case
from tests.conftest import LICHENG_SHANDALU, LIXIA, QueryCounter, login, post_form

FRIDAY = dt.date(2026, 11, 27)
ID_NUMBER = "11010519491231002X"
MASKED = "110105********002X"
NEW = f"/cases/new?place={TOWN}"


@pytest.fixture(autouse=True)
def friday(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page works as if today were Friday 2026-11-27 in China (the calendar has that year)."""
    monkeypatch.setattr(deadlines, "china_today", lambda: FRIDAY)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username)
    return client


def housing_form(**overrides: str) -> dict[str, str]:
    """What the clerk enters for a complete 公共租赁住房保障申请 by 张三 at window 1."""
    return {
        "item": HOUSING, "applicant_kind": "person", "applicant_name": "张三", "applicant_id_number": ID_NUMBER,
        "contact_name": "张三", "contact_phone": "13800000000", "window_number": "1",
        "material_1": "paper", "material_2": "electronic", "material_3": "paper", "material_4": "paper",
    } | overrides


def accept_at_window(client: FlaskClient, form: dict[str, str]) -> Any:
    return post_form(client, NEW, form, page=f"{NEW}&item={form['item']}")


def number_from(response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.search(r"/cases/(\d{26})$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def state_of(app: Flask, number: str) -> CaseState:
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        return case_or_404(session, number).case_state


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


# --- the whole flow ---------------------------------------------------------------------------------

def test_a_case_goes_from_the_front_desk_through_both_reviews_to_hand_over(app):
    """Can a clerk accept an application, ZJ and MZ approve it in their inboxes, and the issuer record
    the evaluation and hand the result over — all through the pages, with every step on the timeline?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    form_page = text(clerk.get(f"{NEW}&item={HOUSING}"))
    assert "公共租赁住房保障申请" in form_page and "家庭收入证明" in form_page and 'value="deferred"' in form_page

    number = number_from(accept_at_window(clerk, housing_form()))
    page = text(clerk.get(f"/cases/{number}"))
    assert "审查中" in page and "受理通知书" in page and MASKED in page and ID_NUMBER not in page
    assert "2026-12-25" in page  # 20 working days after Friday 2026-11-27

    receipt = text(clerk.get(f"/cases/{number}/receipt"))
    for expected in ("受理通知书", number, "公共租赁住房保障申请", "张三", MASKED, "2026年11月27日", "2026年12月25日"):
        assert expected in receipt, expected
    assert ID_NUMBER not in receipt

    for reviewer, department in (("lx_reviewer_zj", "ZJ"), ("lx_reviewer_mz", "MZ")):
        client = signed_in(app, reviewer)
        inbox = text(client.get("/cases/inbox"))
        assert number in inbox and MASKED in inbox
        task_id = re.search(rf"/cases/{number}/tasks/(\d+)/review", inbox)
        assert task_id, f"{reviewer} has no review form for {number}"
        response = post_form(client, f"/cases/{number}/tasks/{task_id.group(1)}/review",
                             {"opinion": f"{department}：材料齐全，符合条件", "decision": "approve", "back": "inbox"})
        assert response.status_code == 302 and response.headers["Location"].endswith("/cases/inbox")
        assert f"/cases/{number}/tasks/" not in text(client.get("/cases/inbox"))
    assert state_of(app, number) is CaseState.READY

    window = text(clerk.get(f"/cases/issuance?place={TOWN}"))
    assert number in window
    hand_over = re.search(rf'action="/cases/{number}/issue".*?<button type="submit"([^>]*)>', window, re.S)
    assert hand_over and "disabled" in hand_over.group(1), "hand-over must wait for the evaluation (先评价后取证)"
    refused = post_form(clerk, f"/cases/{number}/issue", {"delivery": "collect", "collected_by": "张三",
                                                         "back": "issuance"})
    assert refused.status_code == 400 and "请先评价后取证" in text(refused)
    assert state_of(app, number) is CaseState.READY

    assert post_form(clerk, f"/cases/{number}/evaluate", {"level": "5", "back": "issuance"}).status_code == 302
    window = text(clerk.get(f"/cases/issuance?place={TOWN}"))
    hand_over = re.search(rf'action="/cases/{number}/issue".*?<button type="submit"([^>]*)>', window, re.S)
    assert hand_over and "disabled" not in hand_over.group(1)
    done = post_form(clerk, f"/cases/{number}/issue", {"delivery": "collect", "collected_by": "张三",
                                                      "back": "issuance"})
    assert done.status_code == 302 and f'id="case-{number}"' not in text(clerk.get(f"/cases/issuance?place={TOWN}"))

    page = text(clerk.get(f"/cases/{number}"))
    assert "已办结" in page and "非常满意" in page and "出证办结" in page
    timeline = page[page.index('class="timeline"'):]
    for step in ("受理", "部门审查", "作出决定", "评价", "出件"):
        assert step in timeline, step
    assert timeline.count("部门审查") == 2 and "ZJ：材料齐全，符合条件" in timeline


def test_a_missing_material_gives_the_one_time_notice_then_correction_accepts(app):
    """Does a missing required material lead to the correction notice listing it (and no receipt), and
    does ticking it on the case page accept the case?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    number = number_from(accept_at_window(clerk, housing_form(material_1="missing", material_2="missing")))
    assert state_of(app, number) is CaseState.CORRECTION
    page = text(clerk.get(f"/cases/{number}"))
    assert "补正告知" in page and f"/cases/{number}/notice" in page and f"/cases/{number}/receipt" not in page

    notice = text(clerk.get(f"/cases/{number}/notice"))
    missing = notice[notice.index('class="doc-list missing-list"'):]
    assert "公共租赁住房申请表" in missing and "家庭成员居民身份证及户口簿" in missing
    assert "婚姻状况证明" not in missing  # received: not listed
    assert "一次性告知书" in notice and number in notice and MASKED in notice
    assert clerk.get(f"/cases/{number}/receipt").status_code == 404

    still_missing = post_form(clerk, f"/cases/{number}/correct", {"material_1": "paper", "material_2": "missing"})
    assert still_missing.status_code == 400 and "必要材料仍未收齐" in text(still_missing)
    assert state_of(app, number) is CaseState.CORRECTION
    corrected = post_form(clerk, f"/cases/{number}/correct", {"material_1": "paper", "material_2": "paper"})
    assert corrected.status_code == 302
    assert state_of(app, number) is CaseState.ACCEPTED
    assert clerk.get(f"/cases/{number}/receipt").status_code == 200


def test_a_deferrable_material_may_follow_with_a_date(app):
    """Is 容缺 without a date refused next to its material (input kept), and accepted with one, the date
    printed on the receipt?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    without = accept_at_window(clerk, housing_form(material_4="deferred"))
    assert without.status_code == 400
    page = text(without)
    assert "请填写补交日期" in page and re.search(r'name="material_4" value="deferred" checked', page)
    number = number_from(accept_at_window(clerk, housing_form(material_4="deferred", deferred_4="2026-12-10")))
    assert state_of(app, number) is CaseState.ACCEPTED
    assert "家庭收入证明，请于2026年12月10日前补交" in text(clerk.get(f"/cases/{number}/receipt"))


def test_bad_input_is_shown_next_to_its_field_and_nothing_typed_is_lost(app, system_session):
    """Does an invalid ID number (and a blank phone) re-render the form with both messages and every value
    the clerk typed, writing nothing?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    response = accept_at_window(clerk, housing_form(applicant_id_number="110105194912310021", contact_phone="",
                                                    applicant_name="李四", material_3="missing",
                                                    agent_name="王五"))
    assert response.status_code == 400
    page = text(response)
    assert "身份证号码校验位不符，请逐位核对。" in page and "必填。" in page
    assert 'value="李四"' in page and 'value="110105194912310021"' in page and 'value="王五"' in page
    assert re.search(r'name="material_2" value="electronic" checked', page)
    assert re.search(r'name="material_3" value="missing" checked', page)
    assert system_session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_refusal_by_the_service_is_shown_next_to_its_field(app, system_session):
    """When the service refuses (容缺 for a material that is not deferrable), is its message shown at that
    material, in Chinese, with nothing written?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    response = accept_at_window(clerk, housing_form(material_1="deferred", deferred_1="2026-12-10"))
    assert response.status_code == 400
    row = re.search(r'<tr class="material has-error" data-position="1">.*?</tr>', text(response), re.S)
    assert row and "该材料不能容缺后补。" in row.group(0)
    assert system_session.scalar(select(func.count()).select_from(Case)) == 0


def test_an_organisation_applies_with_its_credit_code(app):
    """Is an organisation's application checked against its credit code (not a resident ID)?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    bad = accept_at_window(clerk, housing_form(applicant_kind="organisation", applicant_name="济南某公司",
                                               applicant_id_number="91370102MA3C1234X0"))
    assert bad.status_code == 400 and "统一社会信用代码校验位不符" in text(bad)
    number = number_from(accept_at_window(clerk, housing_form(applicant_kind="organisation",
                                                              applicant_name="济南某公司",
                                                              applicant_id_number="91350100M000100Y43")))
    assert "统一社会信用代码" in text(clerk.get(f"/cases/{number}"))


def test_the_item_picker_lists_the_places_items_by_category(app):
    """Does the first step list this town's implementation list grouped by category, and refuse an item
    the town does not offer?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    page = text(clerk.get("/cases/new"))  # the clerk's home town by default
    assert "不动产登记与住房保障" in page and f"item={HOUSING}" in page and "解放路街道" in page
    assert "210090003000" not in page  # dropped at this town (handled at the district hall)
    assert clerk.get(f"{NEW}&item=210090003000").status_code == 404


def test_an_immediate_item_is_decided_at_the_window(app):
    """Can a 即办件 be decided on the spot from the front desk, straight to the issuance window?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    form = {"item": "210070007000", "applicant_kind": "person", "applicant_name": "张三",
            "applicant_id_number": ID_NUMBER, "contact_name": "张三", "contact_phone": "13800000000",
            "window_number": "1", "material_1": "paper", "decide_now": "y"}
    assert "即办件：当场办结" in text(clerk.get(f"{NEW}&item=210070007000"))
    number = number_from(accept_at_window(clerk, form))
    assert state_of(app, number) is CaseState.READY
    assert "本事项为即办件，当场办结。" in text(clerk.get(f"/cases/{number}/receipt"))


# --- actions on the case page -----------------------------------------------------------------------

def test_the_case_page_offers_only_what_the_viewer_may_do(app):
    """Does the clerk see withdraw and request-correction on a case under review, but no review form;
    does the ZJ reviewer see the review form and no clerk actions?"""
    number = file_case(app)
    clerk_page = text(signed_in(app, "lx_jfl_clerk").get(f"/cases/{number}"))
    assert f"/cases/{number}/withdraw" in clerk_page and f"/cases/{number}/request-correction" in clerk_page
    assert "/review" not in clerk_page and f"/cases/{number}/refuse" not in clerk_page
    reviewer_page = text(signed_in(app, "lx_reviewer_zj").get(f"/cases/{number}"))
    assert "/review" in reviewer_page and f"/cases/{number}/suspend" in reviewer_page
    assert f"/cases/{number}/withdraw" not in reviewer_page


def test_correction_during_review_stops_the_clock_and_lists_the_material(app):
    """Can the clerk request a correction of a case under review from its page (notice listing the ticked
    material and the free text), then take it back into review?"""
    number = file_case(app)
    clerk = signed_in(app, "lx_jfl_clerk")
    empty = post_form(clerk, f"/cases/{number}/request-correction", {"other": ""})
    assert empty.status_code == 400 and "请至少列出一项需要补正的材料。" in text(empty)
    response = post_form(clerk, f"/cases/{number}/request-correction", {"missing": "2", "other": "近三个月工资流水"})
    assert response.status_code == 302 and state_of(app, number) is CaseState.CORRECTION
    notice = text(clerk.get(f"/cases/{number}/notice"))
    assert "家庭成员居民身份证及户口簿" in notice and "近三个月工资流水" in notice and "补正期间，办理时限暂停计算。" in notice
    assert post_form(clerk, f"/cases/{number}/correct", {"material_2": "paper"}).status_code == 302
    assert state_of(app, number) is CaseState.ACCEPTED


def test_refusal_needs_a_reason_and_withdrawal_closes_the_case(app):
    """Is a refusal without reason re-shown with the message, and does withdrawal from the page work?"""
    number = number_from(accept_at_window(signed_in(app, "lx_jfl_clerk"), housing_form(material_1="missing")))
    clerk = signed_in(app, "lx_jfl_clerk")
    no_reason = post_form(clerk, f"/cases/{number}/refuse", {"reason": " "})
    assert no_reason.status_code == 400 and "请填写不予受理的理由。" in text(no_reason)
    assert post_form(clerk, f"/cases/{number}/refuse", {"reason": "不属于本机关职权范围"}).status_code == 302
    assert state_of(app, number) is CaseState.REFUSED
    page = text(clerk.get(f"/cases/{number}"))
    assert "不属于本机关职权范围" in page and f"/cases/{number}/withdraw" not in page


def test_special_procedure_from_the_inbox(app):
    """Can a reviewer suspend a case for a hearing in the inbox and resume it from the suspended list?"""
    number = file_case(app)
    reviewer = signed_in(app, "lx_reviewer_zj")
    response = post_form(reviewer, f"/cases/{number}/suspend",
                         {"procedure": "hearing", "reason": "申请人要求听证", "back": "inbox"})
    assert response.status_code == 302 and state_of(app, number) is CaseState.SUSPENDED
    inbox = text(reviewer.get("/cases/inbox"))
    assert f"/cases/{number}/resume" in inbox
    assert post_form(reviewer, f"/cases/{number}/resume", {"result": "听证结束", "back": "inbox"}).status_code == 302
    assert state_of(app, number) is CaseState.ACCEPTED
    page = text(reviewer.get(f"/cases/{number}"))
    assert "听证" in page and "申请人要求听证" in page and "听证结束" in page


def test_a_reviewer_of_another_department_cannot_review_the_task(app):
    """Can the GA reviewer post an opinion on the ZJ task? (403, nothing changes)"""
    number = file_case(app)
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        task_id = next(t.id for t in case_or_404(session, number).tasks if t.department_code == "ZJ")
    reviewer = signed_in(app, "lx_reviewer_ga")
    response = post_form(reviewer, f"/cases/{number}/tasks/{task_id}/review",
                         {"opinion": "同意", "decision": "approve"})
    assert response.status_code == 403
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        assert {t.state for t in case_or_404(session, number).tasks} == {"pending"}


def test_a_change_made_meanwhile_by_someone_else_is_a_conflict(app, monkeypatch):
    """If another clerk issues a correction notice between this request's read and its write, is the
    withdrawal answered 409 with nothing of it written?"""
    number = file_case(app)
    withdraw = workflow.withdraw

    def after_someone_else(session, case, actor, reason):
        with acting_as(app, "lx_jfl_clerk") as (other, other_clerk):
            workflow.request_correction(other, case_or_404(other, number), other_clerk, FRIDAY, ["补充收入证明"])
        withdraw(session, case, actor, reason)

    monkeypatch.setattr(workflow, "withdraw", after_someone_else)
    response = post_form(signed_in(app, "lx_jfl_clerk"), f"/cases/{number}/withdraw", {"reason": "撤回"})
    assert response.status_code == 409
    assert state_of(app, number) is CaseState.CORRECTION


# --- the worklist -----------------------------------------------------------------------------------

def open_many(app: Flask, count: int, basic_code: str = HOUSING, today: dt.date = FRIDAY) -> list[str]:
    """`count` complete applications at 解放路街道, accepted on `today`, in one session."""
    with acting_as(app, "lx_jfl_clerk") as (session, clerk):
        item = session.scalars(select(Item).where(Item.basic_code == basic_code)).one()
        statuses = {m.position: "paper" for m in item.materials}
        return [open_at_window(session, clerk, TOWN, WindowApplication(basic_code, PERSON, statuses), today).number
                for _ in range(count)]


def worklist_numbers(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get(f"/cases{query}")
    assert response.status_code == 200, query
    return re.findall(r'href="/cases/(\d{26})"', text(response))


def test_worklist_filters_sort_by_due_date_and_badges(app):
    """Do the worklist's filters (state, item, department, due soon, overdue, place) pick the right cases,
    sorted by due date, with the overdue / due-soon / calendar-missing badges?"""
    overdue = file_case(app, today=dt.date(2026, 10, 9))           # due 2026-11-05
    soon = file_case(app, RESIDENCE, today=dt.date(2026, 11, 23))  # 5 working days: due Monday 2026-11-30
    later = file_case(app)                                         # due 2026-12-25
    undated = file_case(app, today=dt.date(2026, 12, 28))          # needs 2027: calendar missing
    waiting = file_case(app, materials={1: "missing"})             # 补正告知, no due date
    clerk = signed_in(app, "lx_jfl_clerk")

    assert worklist_numbers(clerk) == [overdue, soon, later, undated, waiting]
    page = text(clerk.get("/cases"))
    assert page.count('class="badge overdue"') == 1 and page.count('class="badge soon"') == 1
    assert "日历缺失" in page and "2027" in page and MASKED in page and ID_NUMBER not in page
    # Working days in (11-05, 11-27]: 11-06, then three full weeks.
    assert "已超期16个工作日" in text(clerk.get(f"/cases/{overdue}"))
    assert "剩余1个工作日" in text(clerk.get(f"/cases/{soon}"))

    assert worklist_numbers(clerk, "?state=correction") == [waiting]
    assert worklist_numbers(clerk, "?soon=1") == [soon]
    assert worklist_numbers(clerk, "?soon=1&days=20") == [soon, later]
    assert worklist_numbers(clerk, "?overdue=1") == [overdue]
    assert worklist_numbers(clerk, "?department=GA") == [soon]
    with acting_as(app, "lx_jfl_clerk") as (session, _):
        residence_id = session.scalar(select(Item.id).where(Item.basic_code == RESIDENCE))
    assert worklist_numbers(clerk, f"?item={residence_id}") == [soon]
    assert clerk.get("/cases?state=nonsense").status_code == 400

    with acting_as(app, "lx_jfl_clerk") as (session, clerk_principal):
        workflow.withdraw(session, case_or_404(session, later), clerk_principal, "撤回")
    assert later not in worklist_numbers(clerk)  # finished cases leave the default (open) list
    assert later in worklist_numbers(clerk, "?state=all")

    county = signed_in(app, "lx_admin")
    assert worklist_numbers(county, f"?place={TOWN}&overdue=1") == [overdue]
    assert county.get(f"/cases?place={LICHENG_SHANDALU}").status_code == 404


def test_worklist_pages_by_fifty(app):
    """With 53 cases, does page 1 show 50 (soonest due first) and page 2 the other 3, with links between,
    and does every page, even one past the end, say there are 53?"""
    first = file_case(app, today=dt.date(2026, 11, 2))
    rest = open_many(app, 52)
    clerk = signed_in(app, "lx_jfl_clerk")
    page_one = worklist_numbers(clerk)
    assert len(page_one) == 50 and page_one[0] == first
    html = text(clerk.get("/cases?state=accepted"))
    assert "第1页，共2页" in html and 'rel="next" href="/cases?' in html and "page=2" in html
    page_two = worklist_numbers(clerk, "?page=2")
    assert len(page_two) == 3 and set(page_one + page_two) == {first, *rest}
    # The total comes with the page's rows; past the last page there are none to carry it.
    assert "共53件" in html and "共53件" in text(clerk.get("/cases?page=2"))
    past_the_end = text(clerk.get("/cases?page=5"))
    assert "共53件" in past_the_end and worklist_numbers(clerk, "?page=5") == []


def filter_options(page: str, name: str) -> list[str]:
    """The values offered by the worklist's <select name=…> filter (the empty "all" choice left out)."""
    select_html = re.search(rf'<select name="{name}">(.*?)</select>', page, re.DOTALL)
    assert select_html, name
    return [v for v in re.findall(r'<option value="([^"]*)"', select_html.group(1)) if v]


def test_the_worklists_filters_offer_what_is_in_sight(app):
    """Does the item filter offer exactly the items offered somewhere in the viewer's places (a town
    clerk: the town's list; the city admin: every item offered in the city), the place filter the
    places in sight, and does a chosen filter stay selected?"""
    from app.catalog.models import TenantItem
    from app.tenants.models import Tenant

    with acting_as(app, "jn_admin") as (session, _):
        def offered_ids(*conditions: Any) -> list[str]:
            query = select(Item.id).where(select(TenantItem.id).where(TenantItem.item_id == Item.id, *conditions)
                                          .exists()).order_by(Item.basic_code)
            return [str(i) for i in session.scalars(query)]
        town_items = offered_ids(TenantItem.tenant_code == TOWN)
        city_items = offered_ids()  # jn_admin's scope: the whole city
        city_places = list(session.scalars(select(Tenant.code).order_by(Tenant.code)))
        housing_id = session.scalar(select(Item.id).where(Item.basic_code == HOUSING))
    assert set(town_items) < set(city_items) and len(city_places) > 100

    town_page = text(signed_in(app, "lx_jfl_clerk").get("/cases"))
    assert filter_options(town_page, "item") == town_items
    assert '<select name="place">' not in town_page  # one place in sight: nothing to choose
    city = signed_in(app, "jn_admin")
    city_page = text(city.get(f"/cases?item={housing_id}&place={TOWN}&department=ZJ"))
    assert filter_options(city_page, "item") == city_items
    assert filter_options(city_page, "place") == city_places
    assert f'<option value="{housing_id}" selected>' in city_page
    assert f'<option value="{TOWN}" selected>' in city_page and '<option value="ZJ" selected>' in city_page


def place_options(client: FlaskClient) -> list[str]:
    return filter_options(text(client.get("/cases")), "place")


def test_a_new_place_shows_in_the_filters_on_the_next_page(app, system_session):
    """The filters' choices are kept per process: does a place added to the configuration (by another
    process: the tenant files applied from the command line) show in the place filter of the next page
    of the admins above it, and only theirs?"""
    from app.tenants.models import Tenant

    city, county, other_county = signed_in(app, "jn_admin"), signed_in(app, "lx_admin"), signed_in(app, "lc_admin")
    new_town = "370102099000"
    before = {c: place_options(c) for c in (city, county, other_county)}
    system_session.add(Tenant(code=new_town, name="新设街道", level="town", parent_code=LIXIA))
    system_session.commit()
    assert place_options(city) == sorted([*before[city], new_town])
    assert place_options(county) == sorted([*before[county], new_town])
    assert place_options(other_county) == before[other_county] and new_town not in before[other_county]


def test_the_filters_choices_are_kept_per_scope(app):
    """Does each admin see only their own places in the place filter and only their places' items in the
    item filter, whoever filled the cache first — a county admin never another county's places?"""
    lixia, licheng = signed_in(app, "lx_admin"), signed_in(app, "lc_admin")
    for first, second in ((lixia, licheng), (licheng, lixia)):
        first.get("/cases")
        second.get("/cases")
    lixia_places, licheng_places = place_options(lixia), place_options(licheng)
    assert lixia_places and all(code.startswith("370102") for code in lixia_places)
    assert licheng_places and all(code.startswith("370112") for code in licheng_places)
    clerk_page = text(signed_in(app, "lc_sdl_clerk").get("/cases"))
    assert '<select name="place">' not in clerk_page  # a clerk of one town, after two admins of counties
    with acting_as(app, "lc_sdl_clerk") as (session, _):
        from app.catalog.models import TenantItem
        town_items = {str(i) for i in session.scalars(select(TenantItem.item_id).where(
            TenantItem.tenant_code == LICHENG_SHANDALU))}
    assert set(filter_options(clerk_page, "item")) == town_items


def test_a_renamed_item_shows_in_the_filters_within_a_minute(app, system_session, monkeypatch):
    """A change the configuration's version does not see (a catalogue item renamed): is the cached name
    shown until the cache's time is up, and the new one after? And is each language kept apart?"""
    from app.cases import choices

    now = [1000.0]
    monkeypatch.setattr(choices.CACHE, "clock", lambda: now[0])
    clerk = signed_in(app, "lx_jfl_clerk")
    assert "公共租赁住房保障申请" in text(clerk.get("/cases"))
    english = text(clerk.get("/cases?lang=en"))
    assert "公共租赁住房保障申请" not in english.split('<select name="item">')[1].split("</select>")[0]
    item = system_session.scalars(select(Item).where(Item.basic_code == HOUSING)).one()
    item.name = "公共租赁住房保障申请（新）"
    system_session.commit()
    assert "公共租赁住房保障申请（新）" not in text(clerk.get("/cases"))
    now[0] += choices.TTL_SECONDS + 1
    assert "公共租赁住房保障申请（新）" in text(clerk.get("/cases"))


def test_the_worklist_costs_the_same_for_three_cases_and_fifty(app):
    """Does the worklist run a fixed number of queries, however many cases it shows (no N+1)?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    open_many(app, 3)
    clerk.get("/cases")
    with QueryCounter(app) as few:
        clerk.get("/cases")
    open_many(app, 50)
    with QueryCounter(app) as many:
        assert len(worklist_numbers(clerk)) == 50
    assert few.count == many.count <= 10


# --- scoping and roles ------------------------------------------------------------------------------

def test_another_countys_clerk_cannot_see_or_touch_the_case(app):
    """Does a 历城区 clerk get 404 for a 历下区 case page, its receipt and notice and its actions, and does
    their worklist leave it out?"""
    accepted = file_case(app)
    waiting = file_case(app, materials={1: "missing"})
    foreign = signed_in(app, "lc_sdl_clerk")
    for url in (f"/cases/{accepted}", f"/cases/{accepted}/receipt", f"/cases/{waiting}/notice",
                f"/cases/{waiting}", f"/cases/{waiting}/receipt", f"/cases/{accepted}/notice"):
        assert foreign.get(url).status_code == 404, url
    for url, data in ((f"/cases/{accepted}/withdraw", {"reason": "x"}), (f"/cases/{waiting}/refuse", {"reason": "x"}),
                      (f"/cases/{waiting}/correct", {"material_1": "paper"})):
        assert post_form(foreign, url, data).status_code == 404, url
    assert worklist_numbers(foreign) == [] and worklist_numbers(foreign, "?state=all") == []
    assert foreign.get(NEW).status_code == 404
    assert foreign.get(f"/cases/issuance?place={TOWN}").status_code == 404
    assert state_of(app, accepted) is CaseState.ACCEPTED and state_of(app, waiting) is CaseState.CORRECTION
    # The positive control: their own town's case is theirs.
    own = signed_in(app, "lc_sdl_clerk")
    assert own.get(f"/cases/new?place={LICHENG_SHANDALU}").status_code == 200


def test_roles_decide_who_may_open_the_staff_pages(app):
    """Is a clerk without the issuer role refused the issuance window (403), a non-reviewer the inbox
    (403), and a county admin the front desk of a town (403: sees it, may not accept)?"""
    clerk = signed_in(app, "lc_sdl_clerk")
    assert clerk.get("/cases/issuance").status_code == 403
    assert clerk.get(f"/cases/issuance?place={LICHENG_SHANDALU}").status_code == 403
    assert clerk.get("/cases/inbox").status_code == 403
    admin = signed_in(app, "lx_admin")
    assert admin.get(NEW).status_code == 403
    assert admin.get(f"/cases/issuance?place={TOWN}").status_code == 403
    assert admin.get(f"/cases?place={LIXIA}").status_code == 200


def test_malformed_input_is_refused_not_crashed_on(app):
    """Are malformed places, numbers and filters answered 404/400 (never 500)?"""
    clerk = signed_in(app, "lx_jfl_clerk")
    for url, status in (("/cases/new?place=abc", 404), (f"/cases/new?place={TOWN}x", 404), ("/cases?place=abc", 404),
                        ("/cases?days=x", 400), ("/cases?page=-1", 400), ("/cases?item=１", 400),
                        ("/cases/123", 404), ("/cases/123/receipt", 404), ("/cases/issuance?place=abc", 404)):
        assert clerk.get(url).status_code == status, url
    assert post_form(clerk, "/cases/123/withdraw", {"reason": "x"}).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for url in ("/cases", "/cases/inbox", NEW, "/cases/issuance", f"/cases/{TOWN}20261127000001"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


# --- language -----------------------------------------------------------------------------------------

def test_the_case_pages_in_english(app):
    """Do the case page and the receipt switch to English (state, sections, document text)?"""
    number = file_case(app)
    client = signed_in(app, "lx_jfl_clerk")
    client.get("/lang/en")
    page = text(client.get(f"/cases/{number}"))
    assert "Under review" in page and "Timeline" in page and "Time limits" in page and "审查中" not in page
    receipt = text(client.get(f"/cases/{number}/receipt"))
    assert "Acceptance notice" in receipt and "2026-12-25" in receipt


def test_every_state_result_and_refusal_message_has_english():
    """States, results and the refusal messages reach templates through variables, so the i18n extractor
    cannot see them: are they all translated?"""
    chinese = [*TITLES.values(), *RESULT_TITLES.values(), *(message for _fragment, message in MESSAGES)]
    assert [c for c in chinese if c not in EN] == []


def test_every_refusal_phrase_the_ui_translates_is_still_said_by_the_services():
    """The form layer recognises the services' (English) refusals by phrase: if a service rewords one,
    the page silently falls back to English. Does every phrase still occur in the code that raises it?"""
    from tests.conftest import repo_path

    sources = "".join(repo_path(*path.split("/")).read_text(encoding="utf-8") for path in (
        "app/cases/services.py", "app/cases/workflow.py", "app/core/identity.py"))
    assert [fragment for fragment, _chinese in MESSAGES if fragment not in sources] == []


def test_due_soon_window_defaults_to_the_node_setting():
    """Is 'due soon' the node's due_soon_working_days unless the clerk asks for another window?"""
    from app.cases.forms import soon_days

    assert soon_days({}, 3) == 3
    assert soon_days({"days": "5"}, 3) == 5
    assert soon_days({"days": "99"}, 3) == 30
