"""The sync sender as a client (`responses` stands in for the upstream): batches, signatures, backoff,
failures that keep events unsent, rejected events, the lease, and the status shown by the CLI, the
admin page and /healthz. Real servers on loopback: tests/test_sync_e2e.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import responses
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import create_app
from app.core.db import session_scope
from app.core.tenancy import Scope, set_scope
from app.sync import protocol
from app.sync.cli import sync_group
from app.sync.models import OutboxEvent, SendAttempt, SenderState
from app.sync.outbox import emit
from app.sync.sender import (
    BUSY,
    EMPTY,
    ERROR,
    SENT,
    WAITING,
    Sender,
    SenderConfig,
    backoff_delay,
    safe_url,
)
from app.sync.status import health_block, sync_status
from tests.conftest import LIXIA_JIEFANGLU, QueryCounter, login, make_settings

UPSTREAM = "http://province.test:8000"
BATCHES = UPSTREAM + protocol.BATCHES_PATH
KEY_ID, SECRET = "k-test-1", "s3cret-sync-key-0123456789abcdef"
NODE = "node-370100000000"
T0 = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)


class Clock:
    """A clock the test moves by hand (the sender's backoff and lease read it)."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def highest(low: float, high: float) -> float:
    """A 'jitter' that always picks the top of the range, so delays are predictable."""
    return high


# --- fixtures -----------------------------------------------------------------------------------------

def sync_settings(url: str, **overrides: Any) -> Any:
    values = {"upstream_url": UPSTREAM, "upstream_key_id": KEY_ID, "upstream_key": SECRET, "sync_batch_size": 5,
              "sync_timeout_seconds": 2, "sync_backoff_base_seconds": 1, "sync_backoff_max_seconds": 8,
              "sync_idle_seconds": 0.05, "sync_max_lag_seconds": 600}
    return make_settings(url, **(values | overrides))


@pytest.fixture
def sync_app(demo_url: str) -> Iterator[Flask]:
    """A city node with an upstream, its demo outbox (tenant events) already sent."""
    app = create_app(sync_settings(demo_url))
    app.config["TESTING"] = True
    with system(app) as session:
        session.execute(update(OutboxEvent).values(sent_at=T0 - dt.timedelta(days=1), upstream_status="accepted"))
    yield app
    app.extensions["govhall.engine"].dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sender(sync_app: Flask, clock: Clock) -> Sender:
    return make_sender(sync_app, clock)


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_sender(app: Flask, clock: Clock, owner: str = "test-sender-a") -> Sender:
    config = SenderConfig.from_settings(app.config["GOVHALL_SETTINGS"])
    return Sender(app.extensions["govhall.sessions"], config, owner=owner, clock=clock, jitter=highest)


@contextmanager
def system(app: Flask) -> Iterator[Session]:
    """A committed unit of work in the system scope (set up or check the node's state)."""
    with session_scope(app.extensions["govhall.sessions"]) as session:
        yield set_scope(session, Scope.system())


def add_events(app: Flask, count: int, tenant: str = LIXIA_JIEFANGLU, occurred_at: dt.datetime = T0,
               event_id: str | None = None) -> list[int]:
    """`count` case events, as the workflow emits them (one aggregate each)."""
    with system(app) as session:
        events = [emit(session, tenant_code=tenant, aggregate_type="case", aggregate_id=f"{tenant}20261127{n:06d}",
                       type="case.accepted", payload={"case": {"number": n, "名称": "居住证申领"}}, payload_version=1,
                       occurred_at=occurred_at) for n in range(count)]
        for event in events:
            event.event_id = event_id
        session.flush()
        return [event.id for event in events]


def answer_all(status: str = protocol.ACCEPTED, reasons: dict[int, str] | None = None) -> Any:
    """A receiver that answers every event of a batch with `status` (event n: rejected with reasons[n])."""
    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        results = [{"event_id": e["event_id"], "status": protocol.REJECTED if n in (reasons or {}) else status,
                    "reason": (reasons or {}).get(n, "")} for n, e in enumerate(body["events"])]
        return 200, {}, json.dumps({"batch_id": body["batch_id"], "results": results})
    return callback


def unsent(app: Flask) -> int:
    with system(app) as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.sent_at.is_(None))) or 0


def state_of(app: Flask) -> SenderState:
    with system(app) as session:
        state = session.get(SenderState, 1)
        assert state is not None
        return state


def attempts_of(app: Flask) -> list[SendAttempt]:
    with system(app) as session:
        return list(session.scalars(select(SendAttempt).order_by(SendAttempt.id)))


def outbox(app: Flask) -> list[OutboxEvent]:
    with system(app) as session:
        return list(session.scalars(select(OutboxEvent).where(OutboxEvent.sent_at > T0 - dt.timedelta(hours=1))
                                    .order_by(OutboxEvent.id)))


# --- backoff ------------------------------------------------------------------------------------------

def test_backoff_doubles_from_the_base_up_to_the_cap():
    """Does the retry delay grow 1, 2, 4, 8 … seconds and stop at the cap, even after many failures?"""
    delays = [backoff_delay(n, base=1, cap=30, jitter=highest) for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff_delay(10_000, base=1, cap=300, jitter=highest) == 300


def test_backoff_is_fully_jittered():
    """Is each delay a random pick between 0 and the capped exponential (so nodes do not retry in step)?"""
    picks = {round(backoff_delay(4, base=1, cap=300, jitter=random.Random(seed).uniform), 6) for seed in range(50)}
    assert all(0 <= d <= 8 for d in picks)
    assert len(picks) > 40 and min(picks) < 4 < max(picks)


# --- a good batch -------------------------------------------------------------------------------------

def test_a_batch_is_signed_ordered_and_marked_sent(sync_app, sender, upstream):
    """Does one batch carry up to batch_size events in id order, signed over the exact body, and are
    they marked accepted afterwards?"""
    ids = add_events(sync_app, 7)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    outcome = sender.send_once()
    assert (outcome.kind, outcome.events, outcome.accepted, outcome.more) == (SENT, 5, 5, True)
    request = upstream.calls[0].request
    body = json.loads(request.body)
    assert [e["event_id"] for e in body["events"]] == [f"{NODE}:{i}" for i in ids[:5]]
    assert set(body["events"][0]) == set(protocol.EVENT_FIELDS)
    assert body["events"][0]["payload"]["case"]["名称"] == "居住证申领"
    headers = request.headers
    assert headers[protocol.NODE_HEADER] == NODE and headers[protocol.KEY_ID_HEADER] == KEY_ID
    assert protocol.signature_matches(SECRET, NODE, KEY_ID, headers[protocol.TIMESTAMP_HEADER], request.body,
                                      headers[protocol.SIGNATURE_HEADER])
    assert abs(int(headers[protocol.TIMESTAMP_HEADER]) - dt.datetime.now(dt.UTC).timestamp()) < 5
    assert body["sender"] == {"backlog": 2, "oldest_unsent_at": T0.isoformat()}
    assert [e.upstream_status for e in outbox(sync_app)] == ["accepted"] * 5
    assert unsent(sync_app) == 2


def test_the_last_batch_reports_an_empty_backlog_then_nothing_is_sent(sync_app, sender, upstream):
    """After the last batch, is the reported backlog 0 and does the next call send nothing?"""
    add_events(sync_app, 3)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    assert sender.send_once().kind == SENT
    assert json.loads(upstream.calls[0].request.body)["sender"] == {"backlog": 0, "oldest_unsent_at": None}
    assert sender.send_once().kind == EMPTY
    assert len(upstream.calls) == 1


def test_the_wire_form_is_protocol_event_json(sync_app, sender, upstream):
    """Is each event sent (payload passed through as stored) the object protocol.event_json describes?"""
    add_events(sync_app, 2, occurred_at=dt.datetime(2026, 11, 27, 4, 12, 0, 123456, tzinfo=dt.UTC))
    add_events(sync_app, 1, event_id="node-370102000000:7")
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    sender.send_once()
    sent = json.loads(upstream.calls[0].request.body)["events"]
    with system(sync_app) as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()[-3:]
        expected = [protocol.event_json(row, row.event_id or f"{NODE}:{row.id}") for row in rows]
    assert sent == json.loads(json.dumps(expected, default=str))
    assert sent[0]["occurred_at"] == "2026-11-27T04:12:00.123456+00:00"


def test_relayed_events_keep_their_origin_id(sync_app, sender, upstream):
    """Does an event relayed from a county node go up with the id it arrived with?"""
    add_events(sync_app, 1, event_id="node-370102000000:42")
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    sender.send_once()
    assert json.loads(upstream.calls[0].request.body)["events"][0]["event_id"] == "node-370102000000:42"


def test_duplicates_count_as_delivered(sync_app, sender, upstream):
    """Is an event the upstream already had (a resend) marked sent, as a duplicate?"""
    add_events(sync_app, 2)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all(protocol.DUPLICATE))
    outcome = sender.send_once()
    assert (outcome.kind, outcome.duplicates) == (SENT, 2)
    assert [e.upstream_status for e in outbox(sync_app)] == ["duplicate", "duplicate"]
    assert unsent(sync_app) == 0


def test_rejected_events_are_marked_with_the_reason_and_the_rest_delivered(sync_app, sender, upstream):
    """Does a rejected event get its reason recorded (and not block the others or be resent)?"""
    add_events(sync_app, 3)
    upstream.add_callback(responses.POST, BATCHES,
                          callback=answer_all(reasons={1: "tenant 370102001000 is outside this node's subtree"}))
    outcome = sender.send_once()
    assert (outcome.kind, outcome.accepted, outcome.rejected) == (SENT, 2, 1)
    rows = outbox(sync_app)
    assert [r.upstream_status for r in rows] == ["accepted", "rejected", "accepted"]
    assert rows[1].upstream_reason == "tenant 370102001000 is outside this node's subtree"
    assert unsent(sync_app) == 0
    assert (attempts_of(sync_app)[-1].accepted, attempts_of(sync_app)[-1].rejected) == (2, 1)


# --- failures -----------------------------------------------------------------------------------------

FAILURES = {
    "5xx": ({"status": 503, "json": {"error": "database unavailable"}}, "HTTP 503: database unavailable"),
    "401": ({"status": 401, "json": {"error": "bad signature"}}, "HTTP 401: bad signature"),
    "409": ({"status": 409, "json": {"error": "batch id already seen"}}, "HTTP 409: batch id already seen"),
    "400": ({"status": 400, "body": "<html>bad</html>"}, "HTTP 400"),
    "413": ({"status": 413, "body": "too large"}, "HTTP 413: a batch of 3 events is larger than the upstream takes"),
    "not json": ({"status": 200, "body": "<html>proxy login</html>"}, "not JSON"),
    "other batch": ({"status": 200, "json": {"batch_id": "0" * 32, "results": []}}, "not the answer to batch"),
    "refused": ({"body": requests.ConnectionError("Connection refused")}, "cannot connect (connection refused)"),
    "read timeout": ({"body": requests.ReadTimeout("read timed out")}, "no answer within 2 s (timeout)"),
    "connect timeout": ({"body": requests.ConnectTimeout("connect timed out")}, "no answer within 2 s (timeout)"),
}


@pytest.mark.parametrize("kind", FAILURES)
def test_a_failed_batch_leaves_every_event_unsent(sync_app, sender, upstream, kind):
    """Does a 5xx, 401, 409, malformed answer, refused connection or timeout keep the events unsent, count
    a failure, schedule a retry and record the attempt with a clear error?"""
    add_events(sync_app, 3)
    mock, message = FAILURES[kind]
    upstream.add(responses.POST, BATCHES, **mock)
    outcome = sender.send_once()
    assert outcome.kind == ERROR and message in outcome.error
    assert unsent(sync_app) == 3
    state = state_of(sync_app)
    assert state.consecutive_failures == 1 and message in state.last_error
    assert state.next_attempt_at == T0 + dt.timedelta(seconds=1)
    attempt = attempts_of(sync_app)[-1]
    assert (attempt.outcome, attempt.events, attempt.accepted) == ("error", 3, 0) and message in attempt.error


def test_results_out_of_order_are_a_failure(sync_app, sender, upstream):
    """Is an answer whose results do not follow the events sent refused (nothing marked)?"""
    add_events(sync_app, 2)

    def swapped(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        results = [{"event_id": e["event_id"], "status": "accepted"} for e in reversed(body["events"])]
        return 200, {}, json.dumps({"batch_id": body["batch_id"], "results": results})

    upstream.add_callback(responses.POST, BATCHES, callback=swapped)
    assert "not in the order sent" in sender.send_once().error
    assert unsent(sync_app) == 2


def test_the_request_has_explicit_connect_and_read_timeouts(sync_app, sender, upstream):
    """Is every POST made with a (connect, read) timeout from the settings?"""
    add_events(sync_app, 1)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    sender.send_once()
    assert upstream.calls[0].request.req_kwargs["timeout"] == (2, 2)


def test_a_silent_upstream_times_out(sync_app, clock):
    """Does a real socket that accepts but never answers end the attempt after the read timeout?"""
    add_events(sync_app, 1)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        config = SenderConfig(upstream_url=f"http://127.0.0.1:{port}", node_id=NODE, key_id=KEY_ID, key=SECRET,
                              timeout=0.3)
        silent = Sender(sync_app.extensions["govhall.sessions"], config, owner="silent", clock=clock, jitter=highest)
        outcome = silent.send_once()
    assert outcome.kind == ERROR and "no answer within 0.3 s" in outcome.error
    assert unsent(sync_app) == 1


def test_backoff_is_honoured_then_grows_and_success_resets_it(sync_app, sender, clock, upstream):
    """After failures, does the sender wait (no request) until the retry is due, double the wait each time
    up to the cap, and reset everything after a success?"""
    add_events(sync_app, 1)
    upstream.add(responses.POST, BATCHES, status=503)
    waits = []
    for _ in range(6):
        outcome = sender.send_once()
        assert outcome.kind == ERROR
        waits.append((outcome.next_attempt_at - clock.now).total_seconds())
        calls = len(upstream.calls)
        clock.advance(waits[-1] / 2)
        assert sender.send_once().kind == WAITING and len(upstream.calls) == calls
        clock.advance(waits[-1] / 2)
    assert waits == [1, 2, 4, 8, 8, 8]
    upstream.remove(responses.POST, BATCHES)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    assert sender.send_once().kind == SENT
    state = state_of(sync_app)
    assert (state.consecutive_failures, state.next_attempt_at, state.last_success_at) == (0, None, clock.now)
    assert "HTTP 503" in state.last_error  # kept as history, with its time


def test_every_attempt_has_a_fresh_batch_id(sync_app, sender, clock, upstream):
    """Is a resend a new batch (new id), so the receiver's replay check does not refuse it?"""
    add_events(sync_app, 1)
    upstream.add(responses.POST, BATCHES, status=502)
    sender.send_once()
    clock.advance(60)
    sender.send_once()
    ids = [json.loads(call.request.body)["batch_id"] for call in upstream.calls]
    assert len(ids) == 2 and ids[0] != ids[1] and all(len(i) == 32 for i in ids)


def test_errors_carry_no_secret(sync_app, clock, upstream):
    """Do the recorded errors leave out the key and any password in the upstream URL?"""
    app_settings = sync_settings("sqlite://", upstream_url="http://user:pw-in-url@province.test:8000")
    config = SenderConfig.from_settings(app_settings)
    add_events(sync_app, 1)
    upstream.add(responses.POST, "http://user:pw-in-url@province.test:8000" + protocol.BATCHES_PATH,
                 body=requests.ConnectionError("Connection refused"))
    leaky = Sender(sync_app.extensions["govhall.sessions"], config, owner="x", clock=clock, jitter=highest)
    outcome = leaky.send_once()
    assert outcome.kind == ERROR
    for text in (outcome.error, state_of(sync_app).last_error, repr(config)):
        assert "pw-in-url" not in text and SECRET not in text
    assert safe_url("https://a:b@h.example:8443/x") == "https://h.example:8443/x"


# --- the lease ----------------------------------------------------------------------------------------

def test_a_second_sender_on_the_same_database_does_not_send(sync_app, sender, clock, upstream):
    """While one sender holds the lease, does another one stay idle (no request), and take over once the
    first releases it?"""
    add_events(sync_app, 12)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    other = make_sender(sync_app, clock, owner="test-sender-b")
    assert sender.send_once().kind == SENT
    outcome = other.send_once()
    assert (outcome.kind, outcome.lease_owner) == (BUSY, "test-sender-a")
    assert len(upstream.calls) == 1
    sender.release()
    assert other.send_once().kind == SENT
    assert sender.send_once().kind == BUSY


def test_an_expired_lease_is_taken_over(sync_app, sender, clock, upstream):
    """If the holder stopped renewing (hung or gone on another host), does the lease pass on after it expires?"""
    add_events(sync_app, 12)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    other = make_sender(sync_app, clock, owner="elsewhere:1:b")
    sender.send_once()
    clock.advance(sender.config.lease_seconds - 1)
    assert other.send_once().kind == BUSY
    clock.advance(2)
    assert other.send_once().kind == SENT


def test_a_sender_renews_its_lease_every_sixth_of_its_span_not_every_batch(sync_app, sender, clock, upstream):
    """While batches go out in quick succession, is the lease row left alone (not written per batch), and
    renewed once a sixth of its span has passed, so that it never runs out while the sender works?"""
    add_events(sync_app, 20)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    span = dt.timedelta(seconds=sender.config.lease_seconds)
    assert sender.send_once().kind == SENT  # takes the lease at T0
    clock.advance(1)
    with QueryCounter(sync_app) as queries:
        assert [outcome.kind for outcome in sender.drain()] == [SENT] * 3 + [EMPTY]
    assert not [sql for sql in queries.statements if sql.startswith("UPDATE sync_sender_state SET lease_owner")]
    assert state_of(sync_app).lease_until == T0 + span
    clock.advance(span.total_seconds() / 6 - 2)
    assert sender.send_once().kind == EMPTY
    assert state_of(sync_app).lease_until == T0 + span
    clock.advance(2)
    assert sender.send_once().kind == EMPTY
    assert state_of(sync_app).lease_until == clock.now + span


def test_the_lease_of_a_dead_local_process_is_taken_over_at_once(sync_app, clock, upstream):
    """Does a sender restarted after a crash (kill -9) start at once instead of waiting for the lease to expire?"""
    add_events(sync_app, 1)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_owner = f"{socket.gethostname()}:{gone.stdout.strip()}:dead00"
    make_sender(sync_app, clock, owner=dead_owner).take_lease()
    assert make_sender(sync_app, clock, owner="restarted").send_once().kind == SENT


def test_only_one_of_many_racing_senders_gets_the_lease(sync_app, clock):
    """When eight senders try to take a free lease at the same moment, does exactly one win?"""
    senders = [make_sender(sync_app, clock, owner=f"racer-{n}") for n in range(8)]
    start = threading.Barrier(len(senders))
    winners: list[str] = []

    def race(one: Sender) -> None:
        start.wait()
        if one.take_lease():
            winners.append(one.owner)

    threads = [threading.Thread(target=race, args=(one,)) for one in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert state_of(sync_app).lease_owner == winners[0]


def test_run_stops_when_asked_and_releases_the_lease(sync_app, sender, upstream):
    """Does the worker loop drain the queue, stop when told, and leave the lease free?"""
    add_events(sync_app, 12)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    stop = threading.Event()
    worker = threading.Thread(target=sender.run, args=(stop,))
    worker.start()
    for _ in range(200):
        if unsent(sync_app) == 0:
            break
        threading.Event().wait(0.02)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert unsent(sync_app) == 0 and len(upstream.calls) == 3
    assert state_of(sync_app).lease_owner == ""


# --- draining: two batches on the wire ---

def meeting_upstream(statuses: list[int]) -> Any:
    """A receiver whose first two requests each wait until the other has arrived (so they cannot have
    been sent one after the other), answering the n-th request with HTTP statuses[n] (200: all accepted)."""
    both, calls, lock = threading.Barrier(2, timeout=5), [], threading.Lock()

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        with lock:
            calls.append(request)
            number = len(calls) - 1
        if number < 2:
            both.wait()
        if statuses[number] != 200:
            return statuses[number], {}, json.dumps({"error": "maintenance"})
        return answer_all()(request)
    return callback


@pytest.fixture
def two_on_the_wire(sender: Sender) -> Sender:
    """The sender with two batches on the wire at most (the scenarios below count on it)."""
    sender.config = dataclasses.replace(sender.config, in_flight=2)
    return sender


def test_a_drain_keeps_two_batches_on_the_wire_and_marks_every_event(sync_app, two_on_the_wire, upstream):
    """While a backlog drains, is the next batch posted before the previous one is answered, and is every
    event marked once, with an attempt per batch?"""
    add_events(sync_app, 12)  # batches of 5, 5, 2
    upstream.add_callback(responses.POST, BATCHES, callback=meeting_upstream([200, 200, 200]))
    outcomes = list(two_on_the_wire.drain())
    assert [(o.kind, o.events) for o in outcomes] == [(SENT, 5), (SENT, 5), (SENT, 2), (EMPTY, 0)]
    assert unsent(sync_app) == 0 and len(upstream.calls) == 3
    assert [a.events for a in attempts_of(sync_app)] == [5, 5, 2]
    sent_ids = [e["event_id"] for call in upstream.calls for e in json.loads(call.request.body)["events"]]
    assert len(sent_ids) == len(set(sent_ids)) == 12


def test_a_failure_in_a_drain_keeps_its_backoff_and_marks_the_batch_that_got_through(sync_app, two_on_the_wire,
                                                                                     clock, upstream):
    """If the first of two batches on the wire fails and the second is stored, is the second marked, the
    first left unsent with its backoff (not reset by the later success), and sent on the retry?"""
    add_events(sync_app, 12)
    upstream.add_callback(responses.POST, BATCHES, callback=meeting_upstream([503, 200, 200, 200]))
    outcomes = list(two_on_the_wire.drain())
    assert [(o.kind, o.events) for o in outcomes] == [(SENT, 5), (ERROR, 5)]
    assert unsent(sync_app) == 7  # the failed batch and the one never read
    state = state_of(sync_app)
    assert state.consecutive_failures == 1 and state.next_attempt_at == clock.now + dt.timedelta(seconds=1)
    assert [o.kind for o in two_on_the_wire.drain()] == [WAITING]
    clock.advance(1)
    assert [(o.kind, o.events) for o in two_on_the_wire.drain()] == [(SENT, 5), (SENT, 2), (EMPTY, 0)]
    assert unsent(sync_app) == 0 and state_of(sync_app).consecutive_failures == 0


def test_a_drain_stopped_early_still_marks_the_batch_on_the_wire(sync_app, two_on_the_wire, upstream):
    """If the worker stops after the first batch (SIGTERM), is the batch already posted marked too?"""
    add_events(sync_app, 12)
    upstream.add_callback(responses.POST, BATCHES, callback=meeting_upstream([200, 200, 200]))
    drain = two_on_the_wire.drain()
    assert next(drain).kind == SENT
    drain.close()
    assert len(upstream.calls) == 2 and unsent(sync_app) == 2


def test_a_worker_in_a_long_backoff_keeps_renewing_its_lease(sync_app, sender, clock, upstream):
    """During a 5-minute backoff, does `sync run` wake often enough to keep its lease (and show as running)?"""
    add_events(sync_app, 1)
    upstream.add(responses.POST, BATCHES, status=503)
    long_wait = Sender(sync_app.extensions["govhall.sessions"],
                       SenderConfig(upstream_url=UPSTREAM, node_id=NODE, key_id=KEY_ID, key=SECRET, backoff_base=300,
                                    backoff_max=300), owner="patient", clock=clock, jitter=highest)
    outcome = long_wait.send_once()
    assert outcome.next_attempt_at == clock.now + dt.timedelta(seconds=300)
    assert long_wait._pause(outcome) == long_wait.config.lease_seconds / 3 < 300


def test_the_worker_survives_its_own_database_failing(sync_app, sender, monkeypatch):
    """If this node's database is briefly unavailable, does `sync run` report it and retry later instead of
    dying?"""
    from sqlalchemy.exc import OperationalError

    def unavailable(honour_backoff: bool = True) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database restarting"))

    monkeypatch.setattr(sender, "_gate", lambda *args: unavailable())
    [outcome] = list(sender._drain_surviving_the_database(threading.Event()))
    assert outcome.kind == ERROR and outcome.error == "this node's database: ConnectionRefusedError"
    assert sender._pause(outcome) == pytest.approx(5.0)


def test_old_attempts_are_pruned(sync_app, sender, clock):
    """Does the worker forget attempts older than 30 days (the table would grow by one row per batch forever)?"""
    with system(sync_app) as session:
        for days in (31, 29):
            session.add(SendAttempt(batch_id=f"b{days}", started_at=clock.now - dt.timedelta(days=days),
                                    duration_ms=1, events=1, outcome="ok"))
    assert sender.prune_attempts() == 1
    assert [a.batch_id for a in attempts_of(sync_app)] == ["b29"]


# --- status -------------------------------------------------------------------------------------------

def test_status_numbers(sync_app, sender, clock, upstream):
    """Do backlog, oldest unsent event and its age, last success, last error, failures, next attempt and the
    lease holder read as they are?"""
    add_events(sync_app, 3, occurred_at=T0 - dt.timedelta(minutes=10))
    add_events(sync_app, 4, occurred_at=T0 - dt.timedelta(minutes=5))
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    sender.send_once()  # the first five: 2 of the newer ones are left
    clock.advance(30)
    upstream.remove(responses.POST, BATCHES)
    upstream.add(responses.POST, BATCHES, status=500, json={"error": "disk full"})
    sender.send_once()
    with system(sync_app) as session:
        state = sync_status(session, sync_app.config["GOVHALL_SETTINGS"], now=clock.now)
    assert state.backlog == 2
    assert state.oldest_unsent_at == T0 - dt.timedelta(minutes=5)
    assert state.oldest_unsent_age_seconds == 5 * 60 + 30
    assert state.last_success_at == T0 and state.last_error_at == clock.now
    assert "HTTP 500: disk full" in state.last_error and state.error_is_current
    assert (state.consecutive_failures, state.next_attempt_at) == (1, clock.now + dt.timedelta(seconds=1))
    assert state.lease_owner == "test-sender-a" and state.upstream == UPSTREAM
    sender.release()
    with system(sync_app) as session:
        assert sync_status(session, sync_app.config["GOVHALL_SETTINGS"], now=clock.now).lease_owner == ""


def test_health_block_reads_the_same_numbers_in_one_statement(sync_app, clock):
    """Does the /healthz block agree with the status, in a single SQL statement on the partial index?"""
    add_events(sync_app, 3, occurred_at=T0 - dt.timedelta(minutes=20))
    with QueryCounter(sync_app) as counter, system(sync_app) as session:
        block, reason = health_block(session, sync_app.config["GOVHALL_SETTINGS"], now=T0)
    assert (block["backlog"], block["backlog_exact"], block["oldest_unsent_age_seconds"]) == (3, True, 1200)
    assert "1200 s old" in reason and "sync_max_lag_seconds 600" in reason
    assert len([s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_the_unsent_queries_use_the_partial_index(sync_app):
    """Do the sender's queue read and the backlog count use ix_sync_outbox_unsent (not a table scan)?"""
    engine = sync_app.extensions["govhall.engine"]
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan check reads SQLite's EXPLAIN QUERY PLAN; PostgreSQL picks plans by statistics")
    with engine.connect() as connection:
        for sql in ("SELECT id FROM sync_outbox WHERE sent_at IS NULL ORDER BY id LIMIT 501",
                    "SELECT count(*) FROM sync_outbox WHERE sent_at IS NULL"):
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "ix_sync_outbox_unsent" in plan, plan


# --- /healthz -----------------------------------------------------------------------------------------

def test_healthz_shows_sync_and_degrades_on_lag_with_200(sync_app):
    """Does /healthz carry the sync block, and say "degraded" with a reason (still 200) once the oldest unsent
    event is older than sync_max_lag_seconds?"""
    client = sync_app.test_client()
    fine = client.get("/healthz")
    assert fine.status_code == 200 and fine.json["status"] == "ok"
    assert fine.json["sync"]["backlog"] == 0 and fine.json["sync"]["oldest_unsent_age_seconds"] is None
    add_events(sync_app, 2, occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    late = client.get("/healthz")
    assert late.status_code == 200
    assert late.json["status"] == "degraded" and "oldest unsent event" in late.json["reason"]
    assert late.json["sync"]["backlog"] == 2 and late.json["sync"]["oldest_unsent_age_seconds"] >= 3600
    assert late.json["database"] == "ok"


def test_healthz_without_upstream_has_no_sync_block(app):
    """Does a node that reports to no one leave sync out of its health (and stay ok)?"""
    body = app.test_client().get("/healthz").json
    assert "sync" not in body and body["status"] == "ok"


# --- the CLI ------------------------------------------------------------------------------------------

def test_sync_once_sends_everything_and_prints_counts(sync_app, upstream):
    """Does `govhall sync once` send batch after batch until the backlog is empty and say what happened?"""
    add_events(sync_app, 12)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    result = sync_app.test_cli_runner().invoke(sync_group, ["once"])
    assert result.exit_code == 0, result.output
    assert "sent 12 event(s) in 3 batch(es): 12 accepted" in result.output
    assert unsent(sync_app) == 0 and state_of(sync_app).lease_owner == ""


def test_sync_once_exits_1_on_error_and_then_respects_the_backoff(sync_app, upstream):
    """Does a failing batch make `sync once` exit 1 with the error, a second run refuse until the retry is due,
    and --now try at once?"""
    add_events(sync_app, 2)
    upstream.add(responses.POST, BATCHES, status=401, json={"error": "unknown key k-test-1"})
    runner = sync_app.test_cli_runner()
    failed = runner.invoke(sync_group, ["once"])
    assert failed.exit_code == 1 and "HTTP 401: unknown key k-test-1" in failed.output
    with system(sync_app) as session:
        session.execute(update(SenderState).values(next_attempt_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
    waiting = runner.invoke(sync_group, ["once"])
    assert waiting.exit_code == 1 and "--now" in waiting.output and len(upstream.calls) == 1
    upstream.remove(responses.POST, BATCHES)
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    forced = runner.invoke(sync_group, ["once", "--now"])
    assert forced.exit_code == 0 and "2 accepted" in forced.output


def test_sync_status_human_and_json(sync_app):
    """Does `govhall sync status` print the backlog for people and as JSON for monitoring?"""
    add_events(sync_app, 4, occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3))
    runner = sync_app.test_cli_runner()
    human = runner.invoke(sync_group, ["status"])
    assert human.exit_code == 0 and "4 unsent event(s)" in human.output and "3 min ago" in human.output
    assert UPSTREAM in human.output and SECRET not in human.output
    data = json.loads(runner.invoke(sync_group, ["status", "--json"]).output)
    assert data["backlog"] == 4 and data["consecutive_failures"] == 0 and data["last_success_at"] is None


def test_sync_once_without_upstream_names_the_setting(app):
    """Does `sync once` on a node without an upstream stop with the setting named?"""
    result = app.test_cli_runner().invoke(sync_group, ["once"])
    assert result.exit_code == 1 and "upstream_url" in result.output


# --- the admin page -----------------------------------------------------------------------------------

def test_sync_page_shows_backlog_errors_and_attempts(sync_app, sender, upstream):
    """Does the city admin's sync page show the backlog, the last error and the recent attempts, in both
    languages, and is it linked from the navigation?"""
    add_events(sync_app, 7, occurred_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    upstream.add_callback(responses.POST, BATCHES, callback=answer_all())
    sender.send_once()
    upstream.remove(responses.POST, BATCHES)
    upstream.add(responses.POST, BATCHES, status=503, json={"error": "maintenance"})
    sender.clock = lambda: dt.datetime.now(dt.UTC)
    sender.send_once()
    client = sync_app.test_client()
    login(client, "jn_admin")
    html = client.get("/sync").get_data(as_text=True)
    assert 'id="sync-backlog">2<' in html and "HTTP 503: maintenance" in html and "数据上报状态" in html
    assert html.count("<tr>") >= 1 + 2  # header + the two attempts
    assert 'href="/sync"' in client.get("/home").get_data(as_text=True)
    english = client.get("/sync?lang=en").get_data(as_text=True)
    assert "Upward sync status" in english and "Events waiting to be sent" in english


@pytest.mark.parametrize(("username", "status"), [("lx_admin", 404), ("lx_jfl_clerk", 404)])
def test_sync_page_is_not_for_county_admins_or_clerks(sync_app, username, status):
    """Can a county admin or a town clerk open the node's sync page? (No: they cannot see the root.)"""
    client = sync_app.test_client()
    login(client, username)
    assert client.get("/sync").status_code == status
    assert 'href="/sync"' not in client.get("/home").get_data(as_text=True)
