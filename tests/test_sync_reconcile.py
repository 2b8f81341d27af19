"""Reconciliation over real HTTP: the city compares per-place, per-day counts and checksums with the
province, queues again what the province lacks, and lists what it cannot repair."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from app.sync.models import OutboxEvent, PlaceDayCount, ReceivedEvent
from app.sync.protocol import china_day
from app.sync.reconcile import ReconcileError, reconcile
from tests.conftest import LICHENG_SHANDALU, LIXIA_JIEFANGLU
from tests.live_server import serve
from tests.test_sync_e2e import (  # noqa: F401 - the fixtures apps and node_databases are used by name
    CITY,
    CITY_NODE,
    PROVINCE,
    apps,
    assert_exactly_once,
    drain,
    make_cases,
    node_app,
    node_databases,
    outbox_statuses,
    register,
    sender_for,
    system,
    upstream_settings,
)


@pytest.fixture
def city_and_province(request):
    """A city that sent 14 events to the province at two towns, all acknowledged; and their China day (taken
    from the events, not the clock: a run that crosses midnight in China must not compare another day)."""
    made, new_database = request.getfixturevalue("apps"), request.getfixturevalue("node_databases")
    province = node_app(made, new_database(), PROVINCE)
    city = node_app(made, new_database(), CITY)
    key = register(province, CITY_NODE, CITY)
    expected = make_cases(city, LIXIA_JIEFANGLU, 9) + make_cases(city, LICHENG_SHANDALU, 5)
    with system(city) as session:
        day = china_day(session.scalar(select(func.min(OutboxEvent.occurred_at))))
    with serve(province) as base:
        drain(sender_for(city, base, key, CITY_NODE))
        yield city, province, key, base, expected, day


def run(city, key, base, since, until=None):
    with system(city) as session:
        return reconcile(session, sender_for(city, base, key, CITY_NODE).config, since, until or since)


def test_matching_history_needs_nothing(city_and_province):
    city, _province, key, base, _expected, day = city_and_province
    report = run(city, key, base, day)
    assert (report.cells, report.matching, report.mismatches, report.requeued) == (2, 2, [], 0)


def test_an_event_deleted_upstream_is_found_resent_and_then_matches(city_and_province):
    """Does reconcile name the (place, day) that lost an event, queue exactly that event, and does the next
    send restore it so that a second reconcile matches?"""
    city, province, key, base, expected, day = city_and_province
    lost = expected[3]
    with system(province) as session:
        session.execute(delete(ReceivedEvent).where(ReceivedEvent.event_id == lost))
        session.execute(PlaceDayCount.__table__.update().where(PlaceDayCount.tenant_code == LIXIA_JIEFANGLU)
                        .values(count=PlaceDayCount.count - 1))
    report = run(city, key, base, day)
    assert report.matching == 1 and report.requeued == 1
    [mismatch] = report.mismatches
    assert (mismatch.tenant_code, mismatch.day, mismatch.local, mismatch.upstream) == (LIXIA_JIEFANGLU, day, 9, 8)
    assert outbox_statuses(city) == {"accepted": 13, "unsent": 1}
    drain(sender_for(city, base, key, CITY_NODE))
    assert_exactly_once(province, expected)
    assert run(city, key, base, day).mismatches == []


def test_events_upstream_never_made_here_are_listed_not_repaired(city_and_province):
    city, province, key, base, expected, day = city_and_province
    with system(province) as session:
        stray = session.scalars(select(ReceivedEvent).where(ReceivedEvent.event_id == expected[0])).one()
        session.add(ReceivedEvent(event_id=f"{CITY_NODE}:999999", from_node=CITY_NODE, tenant_code=stray.tenant_code,
                                  aggregate_type="case", aggregate_id="x", aggregate_seq=1, type="case.accepted",
                                  payload_version=1, payload={}, occurred_at=stray.occurred_at))
    report = run(city, key, base, day)
    [mismatch] = report.mismatches
    assert (mismatch.unknown_here, mismatch.missing_upstream, report.requeued) == (1, 0, 0)


def test_unsent_and_refused_events_are_not_expected_upstream(city_and_province):
    """Events not sent yet, or refused by the upstream, are not gaps: reconcile must not resend them."""
    city, _province, key, base, _expected, day = city_and_province
    make_cases(city, LIXIA_JIEFANGLU, 2)  # queued, not sent
    with system(city) as session:
        first = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id).limit(1)).one()
        first.upstream_status = "rejected"
    report = run(city, key, base, day)
    assert report.requeued == 0


def test_bad_ranges_and_an_unreachable_upstream_are_clear_errors(city_and_province):
    city, _province, key, _base, _expected, day = city_and_province
    with pytest.raises(ReconcileError, match="after --until"):
        run(city, key, "http://127.0.0.1:9", since=day, until=day - dt.timedelta(days=1))
    with pytest.raises(ReconcileError, match="366 days"):
        run(city, key, "http://127.0.0.1:9", since=day - dt.timedelta(days=400), until=day)
    with pytest.raises(ReconcileError, match="unreachable"):
        run(city, key, "http://127.0.0.1:9", day)
    with pytest.raises(ReconcileError, match="401"):
        run(city, ("nope", "wrong-secret"), _base, day)


def test_the_cli_reports_and_requeues(city_and_province):
    city, province, key, base, expected, day = city_and_province
    with system(province) as session:
        session.execute(delete(ReceivedEvent).where(ReceivedEvent.event_id.in_(expected[:2])))
    runner = CliRunner()
    from app.cli import build_cli

    city_settings = city.config["GOVHALL_SETTINGS"].model_copy(update=upstream_settings(base, key))
    city.config["GOVHALL_SETTINGS"] = city_settings
    result = runner.invoke(build_cli(), ["sync", "reconcile", "--since", day.isoformat()],
                           obj=_script_info(city))
    assert result.exit_code == 0, result.output
    assert f"{LIXIA_JIEFANGLU} {day}: here 9, upstream 7; queued again 2" in result.output
    assert "2 event(s) queued again" in result.output
    assert outbox_statuses(city)["unsent"] == 2


def _script_info(app):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)
