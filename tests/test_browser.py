"""A city admin onboards a county through a real Chromium, then the public guide in both languages.

Drives Debian's Chromium (GOVHALL_TEST_CHROMIUM, default /usr/bin/chromium) through Playwright's
sync API against a live server (tests/live_server.py) on the test's own copy of the demo
database. Playwright's own browser downloads are never used. Without that Chromium the test is
skipped, unless GOVHALL_TEST_BROWSER=required, when it fails. Screenshots are written to
GOVHALL_TEST_SCREENSHOTS (default /tmp): govhall-tree.png, govhall-guide-{zh,en}.png,
govhall-item-{zh,en}.png.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.catalog.models import TenantItem
from app.core.tenancy import subtree_range
from app.demo.loader import DEMO_PASSWORD
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.models import Tenant
from tests.conftest import LIXIA_JIEFANGLU, TENANTS_DIR

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("GOVHALL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("GOVHALL_TEST_SCREENSHOTS", "/tmp"))  # noqa: S108 - test output only
SHANGHE = "370126000000"  # 商河县, a Jinan county taken out of the test's database and onboarded again
TIMEOUT_MS = 20_000


def _browser_or_skip() -> Any:
    """Playwright's sync_playwright, or skip (fail when GOVHALL_TEST_BROWSER=required)."""
    required = os.environ.get("GOVHALL_TEST_BROWSER") == "required"
    reason = ""
    if not Path(CHROMIUM).is_file():
        reason = (f"no Chromium at {CHROMIUM} (apt-get install chromium, or set GOVHALL_TEST_CHROMIUM); "
                  "Playwright's own browser downloads are not used")
    try:
        from playwright.sync_api import sync_playwright  # optional until here
    except ImportError as exc:
        reason = reason or f"the playwright package is not installed: {exc}"
    if reason:
        if required:
            pytest.fail(f"GOVHALL_TEST_BROWSER=required but {reason}")
        pytest.skip(reason)
    return sync_playwright


def _division_towns(county: str) -> dict[str, str]:
    """code → name of the towns/subdistricts under `county` in the shipped division list."""
    with (TENANTS_DIR / "divisions" / "shandong.csv").open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row["name"] for row in csv.DictReader(handle)
                if row["parent_code"] == county and row["level"] == "town"}


def _remove_county(session: Session, county: str) -> int:
    """Take a county and everything under it out of the database, as if never onboarded."""
    low, high = subtree_range(county)
    for model in (RoleGrant, TenantItem, Window, Staff):
        session.execute(delete(model).where(model.tenant_code.between(low, high)))
    removed = session.execute(delete(Tenant).where(Tenant.code.between(low, high))).rowcount
    session.commit()
    return int(removed)


def test_city_admin_onboards_a_county_in_chromium(live_server: str, system_session: Session) -> None:
    sync_playwright = _browser_or_skip()
    towns = _division_towns(SHANGHE)
    assert len(towns) >= 10, "the division list should have 商河县's towns"
    assert _remove_county(system_session, SHANGHE) == len(towns) + 1

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.set_default_timeout(TIMEOUT_MS)
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            # Sign in through the form.
            page.goto(f"{live_server}/login")
            assert page.locator("html").get_attribute("lang") == "zh-CN"
            page.fill("input[name=username]", "jn_admin")
            page.fill("input[name=password]", DEMO_PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_url(re.compile(r"/home$"))
            assert "我的工作台" in page.locator("h1").inner_text()

            # 县区接入: 商河县 is listed and not yet onboarded.
            page.get_by_role("link", name="县区接入").click()
            page.wait_for_url(re.compile(r"/onboard$"))
            option = page.locator(f"#county_code option[value='{SHANGHE}']")
            assert "商河县" in option.inner_text() and "已接入" not in option.inner_text()
            assert "已接入" in page.locator("#county_code option[value='370102000000']").inner_text()
            page.select_option("#county_code", SHANGHE)
            page.get_by_role("button", name="预览变更").click()

            # The preview shows the plan and writes nothing.
            page.wait_for_url(re.compile(r"/onboard/preview$"))
            assert "商河县" in page.locator("h1").inner_text()
            assert f"将接入 {len(towns) + 1} 个地区。" in page.locator("main").inner_text()
            plan = page.locator("pre.plan").inner_text()
            assert f"+ tenant {SHANGHE}" in plan and "Plan:" in plan
            assert re.search(r"新增 \d+ 项，修改 0 项，删除 0 项。", page.locator("main").inner_text())
            page.screenshot(path=str(SCREENSHOTS / "govhall-preview.png"))
            assert system_session.scalar(select(func.count()).select_from(Tenant).where(Tenant.code == SHANGHE)) == 0

            # Apply: back on the tree, with the county and all its towns.
            page.get_by_role("button", name="确认接入").click()
            page.wait_for_url(re.compile(r"/tree$"))
            assert "已接入：" in page.locator(".flash").inner_text()
            # Counties fold; open 商河县 by its summary (not the link, which would navigate).
            county = page.locator(f"details[data-code='{SHANGHE}']")
            assert "商河县" in county.locator("summary").inner_text()
            first_town = page.locator(f"a[href$='/places/{next(iter(towns))}']")
            assert first_town.count() == 1 and not first_town.is_visible()
            county.locator("summary .muted").first.click()
            assert county.get_attribute("open") is not None
            county_text = county.inner_text()
            for code, name in towns.items():
                assert name in county_text, f"{name} ({code}) missing under 商河县 on the tree"
                assert page.locator(f"a[href$='/places/{code}']").is_visible()
            county.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "govhall-tree.png"), full_page=True)

            # Onboarded now, and its town got the default items.
            page.goto(f"{live_server}/onboard")
            assert "已接入" in page.locator(f"#county_code option[value='{SHANGHE}']").inner_text()

            # The public guide of a town and one item, in Chinese then English.
            for lang, heading in (("zh", "办事指南"), ("en", "Service guide")):
                if lang == "en":
                    page.get_by_role("link", name="English").click()
                    page.wait_for_url(re.compile(rf"/guide/{LIXIA_JIEFANGLU}\??$"))
                else:
                    page.goto(f"{live_server}/guide/{LIXIA_JIEFANGLU}")
                assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
                assert heading in page.locator("h1").inner_text()
                page.screenshot(path=str(SCREENSHOTS / f"govhall-guide-{lang}.png"), full_page=True)
                guide_url = page.url
                page.locator("ul.items a").first.click()
                page.wait_for_url(re.compile(rf"/guide/{LIXIA_JIEFANGLU}/items/"))
                label = "法定时限" if lang == "zh" else "Statutory time limit"
                assert label in page.locator("table.facts").inner_text()
                page.screenshot(path=str(SCREENSHOTS / f"govhall-item-{lang}.png"), full_page=True)
                page.goto(guide_url)

            assert not problems, "browser saw errors:\n" + "\n".join(problems)
        finally:
            browser.close()
