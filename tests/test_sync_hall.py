"""上报汇总: what was reported to this node — nodes, counts, case lookup, refused events — for root admins only."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core.db import utcnow
from app.sync.models import CaseIndexEntry, PlaceDayCount, ReceivedEvent, RejectedEvent, SyncNode, SyncNodeKey
from tests.conftest import LICHENG, LICHENG_SHANDALU, LIXIA, LIXIA_JIEFANGLU, LIXIA_QIANFOSHAN, login

DAY = dt.date(2026, 11, 20)
OWN_CASE = f"{LIXIA_JIEFANGLU}20261120000007"
FOREIGN_CASE = "37020200100020261120000001"  # a Qingdao town: never this node's to show
PAGES = ("/reports/nodes", "/reports/counts", "/reports/cases", "/reports/rejected")


@pytest.fixture
def reported(system_session):
    """What the county nodes below reported: two nodes, day counts at three towns, two cases, a refusal."""
    system_session.add_all([
        SyncNode(node_id="node-lixia", subtree_code=LIXIA, name="历下区节点", last_contact_at=utcnow(),
                 events_received=12, reported_backlog=3),
        SyncNode(node_id="node-licheng", subtree_code=LICHENG, active=False),
    ])
    system_session.flush()
    system_session.add_all([
        SyncNodeKey(node_id="node-lixia", key_id="k1", secret="s" * 43),
        SyncNodeKey(node_id="node-lixia", key_id="k2", secret="t" * 43),
        SyncNodeKey(node_id="node-licheng", key_id="k3", secret="u" * 43, retired_at=utcnow()),
        PlaceDayCount(tenant_code=LIXIA_JIEFANGLU, day=DAY, type="case.accepted", count=5),
        PlaceDayCount(tenant_code=LIXIA_QIANFOSHAN, day=DAY, type="case.accepted", count=2),
        PlaceDayCount(tenant_code=LIXIA_QIANFOSHAN, day=DAY - dt.timedelta(days=60), type="case.accepted", count=100),
        PlaceDayCount(tenant_code=LICHENG_SHANDALU, day=DAY, type="case.issued", count=4),
        *reported_case(OWN_CASE, LIXIA_JIEFANGLU, "node-lixia", 3, "case.decided"),
        *reported_case(FOREIGN_CASE, "370202001000", "node-qd", 1, "case.accepted"),
        RejectedEvent(from_node="node-licheng", event_id="node-licheng:9", tenant_code="370102001000",
                      reason="tenant 370102001000 is outside this node's subtree 370112000000", event={}),
    ])
    system_session.commit()


def reported_case(number: str, place: str, node: str, seq: int, kind: str) -> tuple[ReceivedEvent, CaseIndexEntry]:
    """A case's latest event as received, and its index entry pointing at it."""
    event_id = f"{node}:{seq}"
    received = ReceivedEvent(event_id=event_id, from_node=node, tenant_code=place, aggregate_type="case",
                             aggregate_id=number, aggregate_seq=seq, type=kind, payload_version=1,
                             payload={"case": snapshot(number), "step": {}}, occurred_at=utcnow())
    return received, CaseIndexEntry(number=number, tenant_code=place, origin_node=node, last_seq=seq,
                                    last_type=kind, event_id=event_id)


def snapshot(number: str) -> dict:
    return {"number": number, "state": "ready", "item_name": "公共租赁住房保障申请", "item_code": "050090004000",
            "applicant": {"name": "张三", "id_number": "11010519491231002X"}, "result_code": "6",
            "due_date": "2026-12-18", "accepted_at": "2026-11-20T02:00:00+00:00"}


def test_nodes_show_contact_backlog_and_active_keys(client, reported):
    login(client, "jn_admin")
    page = client.get("/reports/nodes").get_data(as_text=True)
    assert "node-lixia" in page and "历下区节点" in page and "node-licheng" in page
    assert "停用" in page  # the deactivated node says so


def test_counts_add_up_per_county_and_per_town_in_the_range(client, reported):
    login(client, "jn_admin")
    by_county = client.get("/reports/counts?level=county&since=2026-11-01&until=2026-11-30")
    assert by_county.status_code == 200
    rows = table_rows(by_county.get_data(as_text=True))
    assert rows[LIXIA][:1] == ["7"]  # 5 + 2 accepted in 历下区; the day 60 days earlier is outside the range
    assert rows[LICHENG][3] == "4"  # issued
    by_town = table_rows(client.get("/reports/counts?level=town&since=2026-11-01&until=2026-11-30")
                         .get_data(as_text=True))
    assert by_town[LIXIA_JIEFANGLU][0] == "5" and by_town[LIXIA_QIANFOSHAN][0] == "2"
    wide = table_rows(client.get("/reports/counts?level=town&since=2026-09-01&until=2026-11-30").get_data(as_text=True))
    assert wide[LIXIA_QIANFOSHAN][0] == "102"


def table_rows(html: str) -> dict[str, list[str]]:
    """Place code → the count cells of its row (the tests' own tiny reader of the counts table)."""
    import re

    rows = {}
    for row in re.findall(r"<tr><td>.*?</tr>", html, flags=re.S):
        code = re.search(r'<span class="mono muted">(\d{12})</span>', row)
        if code:
            rows[code.group(1)] = re.findall(r"<td>(\d+)</td>", row)
    return rows


@pytest.mark.parametrize(("query", "message"), [
    ("level=county&since=2026-13-01", "日期格式应为YYYY-MM-DD。"),
    ("level=county&since=2026-11-30&until=2026-11-01", "起止日期须按先后顺序"),
    ("level=county&since=2024-01-01&until=2026-11-30", "不超过366天"),
    ("level=province", "请选择统计层级。"),
])
def test_bad_count_queries_are_refused_with_a_message(client, reported, query, message):
    login(client, "jn_admin")
    response = client.get(f"/reports/counts?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_a_case_is_found_by_number_with_its_id_masked(client, reported):
    login(client, "jn_admin")
    page = client.get(f"/reports/cases?number={OWN_CASE}").get_data(as_text=True)
    assert "公共租赁住房保障申请" in page and "准予许可" in page and "node-lixia" in page
    assert "11010519491231002X" not in page  # masked on screens


def test_a_case_outside_the_nodes_subtree_is_not_found(client, reported):
    """Even if a foreign place's case were in the index, the root admin's scope does not show it."""
    login(client, "jn_admin")
    page = client.get(f"/reports/cases?number={FOREIGN_CASE}").get_data(as_text=True)
    assert "没有找到办件" in page and "公共租赁住房保障申请" not in page


def test_a_malformed_case_number_is_refused(client, reported):
    login(client, "jn_admin")
    response = client.get("/reports/cases?number=12345")
    assert response.status_code == 400 and "26位数字" in response.get_data(as_text=True)


def test_refused_events_show_their_reason_and_filter_by_node(client, reported):
    login(client, "jn_admin")
    page = client.get("/reports/rejected").get_data(as_text=True)
    assert "outside this node&#39;s subtree" in page and "node-licheng:9" in page
    assert "node-licheng:9" not in client.get("/reports/rejected?node=node-lixia").get_data(as_text=True)


@pytest.mark.parametrize("username", ["lx_admin", "lx_jfl_clerk", "lc_sdl_clerk", "lc_admin"])
def test_only_the_roots_admins_see_the_reports(client, reported, username):
    """County admins and clerks get 403 or 404 and none of the reported data."""
    login(client, username)
    for page in PAGES:
        response = client.get(page + (f"?number={OWN_CASE}" if page.endswith("cases") else ""))
        assert response.status_code in (403, 404), (username, page)
        body = response.get_data(as_text=True)
        assert "node-lixia" not in body and "公共租赁住房保障申请" not in body


def test_signed_out_visitors_are_sent_to_sign_in(client, reported):
    for page in PAGES:
        assert client.get(page).status_code == 302
