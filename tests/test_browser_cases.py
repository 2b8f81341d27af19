"""A case from the front desk to hand-over, through a real Chromium: the clerk accepts it, the ZJ and
MZ reviewers approve it in their inboxes, the issuer records the evaluation and hands the result over.

Launched, skipped or required exactly like tests/test_browser.py (Debian's Chromium through
Playwright, GOVHALL_TEST_BROWSER=required turns a skip into a failure). Screenshots go to
GOVHALL_TEST_SCREENSHOTS (default /tmp): govhall-case-{new,worklist,inbox,issuance,page}.png,
govhall-case-receipt.png (screen) and govhall-case-receipt-print.png / govhall-case-notice-print.png
(print media, as the A4 sheet comes out).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask

from app.cases import deadlines
from app.demo.loader import DEMO_PASSWORD
from tests.cases_helpers import RESIDENCE, file_case
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS, _browser_or_skip

pytestmark = pytest.mark.browser

FRIDAY = dt.date(2026, 11, 27)
ID_NUMBER = "11010519491231002X"


def sign_in(browser: Any, base: str, username: str, problems: list[str]) -> Any:
    """A fresh browser context (its own cookies) signed in as `username`."""
    context = browser.new_context(viewport={"width": 1180, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: problems.append(f"{username}: script error: {error}"))
    page.on("response", lambda r: problems.append(f"{username}: {r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/home$"))
    return page


def test_a_case_from_front_desk_to_hand_over_in_chromium(live_server: str, app: Flask,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    sync_playwright = _browser_or_skip()
    monkeypatch.setattr(deadlines, "china_today", lambda: FRIDAY)  # the server thread shares this module
    # Some work already on the list: overdue, due soon, waiting for documents, a deadline in 2027.
    file_case(app, today=dt.date(2026, 10, 9))
    file_case(app, RESIDENCE, today=dt.date(2026, 11, 23))
    waiting = file_case(app, materials={1: "missing"})
    file_case(app, today=dt.date(2026, 12, 28))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # 一窗受理: choose the item, fill in the applicant and the checklist.
            clerk = sign_in(browser, live_server, "lx_jfl_clerk", problems)
            clerk.get_by_role("link", name="一窗受理").click()
            clerk.wait_for_url(re.compile(r"/cases/new$"))
            clerk.get_by_role("link", name="公共租赁住房保障申请").click()
            clerk.wait_for_url(re.compile(r"item=050090004000"))
            clerk.fill("input[name=applicant_name]", "张三")
            clerk.fill("input[name=applicant_id_number]", ID_NUMBER)
            clerk.fill("input[name=contact_name]", "张三")
            clerk.fill("input[name=contact_phone]", "13800000000")
            for position, status in ((1, "paper"), (2, "electronic"), (3, "paper"), (4, "deferred")):
                clerk.locator(f"tr[data-position='{position}'] input[value={status}]").check()
            deferred_date = clerk.locator("input[name=deferred_4]")
            assert deferred_date.is_visible(), "the 容缺 date appears once 容缺 is chosen"
            deferred_date.fill("2026-12-10")
            assert not clerk.locator("tr[data-position='1'] input[value=deferred]").count(), "容缺 only when allowed"
            clerk.screenshot(path=str(SCREENSHOTS / "govhall-case-new.png"), full_page=True)
            clerk.get_by_role("button", name="提交受理").click()
            clerk.wait_for_url(re.compile(r"/cases/\d{26}$"))
            number = clerk.url.rsplit("/", 1)[1]
            assert "已受理" in clerk.locator(".flash").inner_text()
            assert "审查中" in clerk.locator("h1").inner_text()

            # The printable receipt (受理通知书), on screen and as printed.
            clerk.get_by_role("link", name="受理通知书").click()
            clerk.wait_for_url(re.compile(rf"/cases/{number}/receipt$"))
            receipt = clerk.locator("article.document").inner_text()
            assert number in receipt and "2026年12月25日" in receipt and "110105********002X" in receipt
            clerk.screenshot(path=str(SCREENSHOTS / "govhall-case-receipt.png"), full_page=True)
            clerk.emulate_media(media="print")
            clerk.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
            assert not clerk.locator("header.top").is_visible() and not clerk.locator(".doc-toolbar").is_visible()
            clerk.screenshot(path=str(SCREENSHOTS / "govhall-case-receipt-print.png"), full_page=True)
            clerk.goto(f"{live_server}/cases/{waiting}/notice")
            assert "公共租赁住房申请表" in clerk.locator("ol.missing-list").inner_text()
            clerk.screenshot(path=str(SCREENSHOTS / "govhall-case-notice-print.png"), full_page=True)
            clerk.emulate_media(media="screen")
            clerk.set_viewport_size({"width": 1180, "height": 900})

            # The worklist: soonest due first, with the badges.
            clerk.get_by_role("link", name="办件", exact=True).click()
            clerk.wait_for_url(re.compile(r"/cases$"))
            assert clerk.locator(f"a[href='/cases/{number}']").count() == 1
            assert clerk.locator(".badge.overdue").count() == 1 and clerk.locator(".badge.soon").count() == 1
            assert clerk.locator(".badge.nocal").count() == 1
            clerk.screenshot(path=str(SCREENSHOTS / "govhall-case-worklist.png"), full_page=True)

            # 推送相关、同步审核: both departments approve in their inboxes.
            for username, opinion in (("lx_reviewer_zj", "住房情况核实无误，同意"), ("lx_reviewer_mz", "家庭收入符合保障标准，同意")):
                reviewer = sign_in(browser, live_server, username, problems)
                reviewer.get_by_role("link", name="审批待办").click()
                reviewer.wait_for_url(re.compile(r"/cases/inbox$"))
                task = reviewer.locator("article.task", has=reviewer.locator(f"a[href='/cases/{number}']"))
                task.locator("textarea[name=opinion]").fill(opinion)
                if username == "lx_reviewer_zj":
                    reviewer.screenshot(path=str(SCREENSHOTS / "govhall-case-inbox.png"), full_page=True)
                task.get_by_role("button", name="同意", exact=True).click()
                reviewer.wait_for_url(re.compile(r"/cases/inbox$"))
                assert "审查意见已提交" in reviewer.locator(".flash").inner_text()
                assert reviewer.locator(f"article.task a[href='/cases/{number}']").count() == 0
                reviewer.context.close()

            # 统一出件: evaluation first (先评价后取证), then hand over.
            clerk.get_by_role("link", name="统一出件").click()
            clerk.wait_for_url(re.compile(r"/cases/issuance$"))
            card = clerk.locator(f"#case-{number}")
            hand_over = card.get_by_role("button", name="出件", exact=True)
            assert hand_over.is_disabled()
            clerk.screenshot(path=str(SCREENSHOTS / "govhall-case-issuance.png"), full_page=True)
            card.locator("input[name=level][value='4']").check()
            card.get_by_role("button", name="记录评价").click()
            clerk.wait_for_url(re.compile(r"/cases/issuance\?place="))
            card = clerk.locator(f"#case-{number}")
            assert "已评价：满意" in card.inner_text()
            assert card.locator("input[name=collected_by]").input_value() == "张三"
            card.get_by_role("button", name="出件", exact=True).click()
            clerk.wait_for_url(re.compile(r"/cases/issuance\?place="))
            assert "已出件" in clerk.locator(".flash").inner_text()

            # The case page: finished, with the whole timeline.
            clerk.goto(f"{live_server}/cases/{number}")
            assert "已办结" in clerk.locator("h1").inner_text()
            timeline = clerk.locator("ol.timeline").inner_text()
            for step in ("受理", "部门审查", "作出决定", "评价", "出件", "住房情况核实无误，同意"):
                assert step in timeline, step
            assert clerk.locator("ol.timeline li").count() == 6
            clerk.screenshot(path=str(SCREENSHOTS / "govhall-case-page.png"), full_page=True)
            assert not problems, "browser saw errors:\n" + "\n".join(problems)
        finally:
            browser.close()
