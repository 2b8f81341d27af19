"""The receiving end of upward sync: the node registry (`govhall sync node …`), authentication of
batches, bad bodies, replays, storing each event once, the read models, relaying and reconciliation.

The receiver here is the Jinan demo node; two child nodes are registered, one for 历下区 and one for
历城区 (neighbours: neither may report or reconcile for the other). Requests are signed exactly as a
sender signs them (`protocol.signed_headers`) and go through the Flask test client.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app import create_app
from app.core.db import session_scope, utcnow
from app.core.tenancy import Scope, set_scope
from app.sync import protocol, registry
from app.sync.cli import sync_group
from app.sync.models import (
    CaseIndexEntry,
    OutboxEvent,
    OutboxPayload,
    PlaceDayCount,
    ReceivedEvent,
    RejectedEvent,
    SeenBatch,
    SyncNode,
    SyncNodeKey,
)
from app.sync.projections import storable
from tests.conftest import (
    CITY,
    LICHENG,
    LICHENG_SHANDALU,
    LIXIA,
    LIXIA_JIEFANGLU,
    LIXIA_QIANFOSHAN,
    QueryCounter,
    make_settings,
)

QINGDAO = "370200000000"
UNKNOWN_PLACE = "370199999000"  # well-formed, in Jinan's range, no such place
LIXIA_NODE, LICHENG_NODE = "node-370102000000", "node-370112000000"
DAY = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)  # 10:00 in China


# --- helpers -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    node_id: str
    key_id: str
    secret: str


def register(app: Flask, node_id: str, subtree: str) -> Credentials:
    with session_scope(app.extensions["govhall.sessions"]) as session:
        key = registry.add_node(set_scope(session, Scope.system()), CITY, node_id, subtree)
    return Credentials(key.node_id, key.key_id, key.secret)


@pytest.fixture
def nodes(app: Flask) -> dict[str, Credentials]:
    """The two neighbouring county nodes, registered at the city node."""
    return {LIXIA: register(app, LIXIA_NODE, LIXIA), LICHENG: register(app, LICHENG_NODE, LICHENG)}


@pytest.fixture
def lixia(nodes: dict[str, Credentials]) -> Credentials:
    return nodes[LIXIA]


def sync(app: Flask, *args: str) -> Result:
    """Run `govhall sync ARGS…` against the app's database, as ops would."""
    return app.test_cli_runner().invoke(sync_group, list(args))


def event(origin: str, seq: int, tenant: str = LIXIA_JIEFANGLU, *, case_seq: int = 1, number: str | None = None,
          kind: str = "accepted", at: dt.datetime = DAY, **changes: Any) -> dict[str, Any]:
    """A case event as a sender puts it on the wire (payload: the case and the step)."""
    number = number or f"{tenant}20261127{seq:06d}"
    payload = {"case": {"number": number, "state": kind, "item_name": "公共租赁住房保障申请", "seq": case_seq},
               "step": {"name": kind, "handler": "lx_jfl_clerk", "at": at.isoformat(), "data": {}}}
    wire = {"event_id": f"{origin}:{seq}", "tenant_code": tenant, "aggregate_type": "case", "aggregate_id": number,
            "aggregate_seq": case_seq, "type": f"case.{kind}", "payload_version": 1, "payload": payload,
            "occurred_at": at.isoformat(timespec="microseconds")}
    return wire | changes


def body_of(events: list[Any], batch_id: str | None = None, ensure_ascii: bool = False, **extra: Any) -> bytes:
    """A batch as the sender encodes it (UTF-8 text as is); `ensure_ascii` for text UTF-8 cannot carry."""
    document = {"batch_id": batch_id or secrets.token_hex(16), "events": events, **extra}
    return json.dumps(document, ensure_ascii=ensure_ascii, separators=(",", ":")).encode()


def post(client: FlaskClient, who: Credentials, body: bytes, path: str = protocol.BATCHES_PATH,
         timestamp: int | None = None, **header_changes: str) -> Any:
    headers = protocol.signed_headers(who.secret, who.node_id, who.key_id, body,
                                      int(time.time()) if timestamp is None else timestamp)
    return client.post(path, data=body, headers=headers | header_changes)


def send(client: FlaskClient, who: Credentials, events: list[Any], **extra: Any) -> Any:
    response = post(client, who, body_of(events, **extra))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def statuses(answer: dict[str, Any]) -> list[str]:
    return [result["status"] for result in answer["results"]]


def reconcile(client: FlaskClient, who: Credentials, request: dict[str, Any]) -> Any:
    return post(client, who, json.dumps(request).encode(), path=protocol.RECONCILE_PATH)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A system session for checking what was written (expired before each look)."""
    session = set_scope(app.extensions["govhall.sessions"](), Scope.system())
    yield session
    session.close()


def count(session: Session, model: Any) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def stored_nothing(session: Session) -> bool:
    session.rollback()
    return all(count(session, model) == 0 for model in (ReceivedEvent, SeenBatch, RejectedEvent, CaseIndexEntry,
                                                         PlaceDayCount)) \
        and session.scalar(select(func.count()).where(SyncNode.last_contact_at.is_not(None))) == 0


def node_row(session: Session, node_id: str) -> SyncNode:
    session.expire_all()
    node = session.get(SyncNode, node_id)
    assert node is not None
    return node


# --- the registry (govhall sync node …) --------------------------------------------------------------------

def test_node_add_prints_key_and_secret_once_and_list_shows_the_node(app, session):
    """Does `node add` register the node for its subtree and print a usable key, and does `list` show it
    without the secret?"""
    result = sync(app, "node", "add", LIXIA_NODE, "--subtree", LIXIA, "--name", "历下区节点")
    assert result.exit_code == 0, result.output
    key = session.scalars(select(SyncNodeKey)).one()
    assert f"key id:  {key.key_id}" in result.output and f"secret:  {key.secret}" in result.output
    assert len(key.secret) >= 43  # token_urlsafe(32)
    assert "历下区" in result.output
    listing = sync(app, "node", "list")
    assert listing.exit_code == 0
    assert LIXIA_NODE in listing.output and LIXIA in listing.output and key.key_id in listing.output
    assert key.secret not in listing.output
    assert "never" in listing.output  # no contact yet


@pytest.mark.parametrize(("subtree", "message"), [
    (CITY, "this node's own root"),
    (QINGDAO, "outside this node's subtree 370100000000"),
    (UNKNOWN_PLACE, "not a known place"),
    ("3701020", "12-digit division code"),
    ("３７０１０２０００００", "12-digit division code"),  # full-width digits
])
def test_node_add_refuses_a_bad_subtree_and_writes_nothing(app, session, subtree, message):
    """Is a subtree that is the root, another city, unknown or not a code refused with a clear message?"""
    result = sync(app, "node", "add", "node-x", "--subtree", subtree)
    assert result.exit_code != 0
    assert message in result.output
    assert count(session, SyncNode) == 0 and count(session, SyncNodeKey) == 0


def test_node_add_refuses_a_bad_or_taken_node_id(app, session, lixia):
    for node_id, message in ((LIXIA_NODE, "already registered"), ("node:1", "node id"), ("a b", "node id")):
        result = sync(app, "node", "add", node_id, "--subtree", LIXIA_QIANFOSHAN)
        assert result.exit_code != 0 and message in result.output, result.output
    assert count(session, SyncNode) == 2


def first_key_id(result: Result) -> str:
    return result.output.split("key id:  ")[1].split()[0]


def test_rotation_keeps_two_keys_active_and_retires_the_oldest(app, session, lixia):
    """Does rotation add a key while the old one stays valid, and never leave more than two active?"""
    first = sync(app, "node", "rotate", LIXIA_NODE)
    assert first.exit_code == 0 and "retired" not in first.output.split("key id")[0]
    assert [k.key_id for k in registry.active_keys(session, LIXIA_NODE)] == [lixia.key_id, first_key_id(first)]
    second = sync(app, "node", "rotate", LIXIA_NODE)
    assert second.exit_code == 0
    assert f"key {lixia.key_id} (the older of two active keys) is retired" in second.output
    session.expire_all()
    active = registry.active_keys(session, LIXIA_NODE)
    assert len(active) == 2 and lixia.key_id not in {k.key_id for k in active}
    assert sync(app, "node", "rotate", "node-nobody").exit_code != 0


def test_retire_key(app, session, lixia):
    """Is a retired key refused a second time, and an unknown key named as such?"""
    sync(app, "node", "rotate", LIXIA_NODE)
    result = sync(app, "node", "retire-key", lixia.key_id)
    assert result.exit_code == 0 and "1 active key(s) left" in result.output
    again = sync(app, "node", "retire-key", lixia.key_id)
    assert again.exit_code != 0 and "already retired" in again.output
    unknown = sync(app, "node", "retire-key", "key-nothing")
    assert unknown.exit_code != 0 and "no sync key 'key-nothing'" in unknown.output


def test_deactivate_and_activate(app, client, session, lixia):
    """Does a deactivated node get 401 until it is activated again, and does `list` say so?"""
    assert "deactivated" in sync(app, "node", "deactivate", LIXIA_NODE).output
    assert "DEACTIVATED" in sync(app, "node", "list").output
    assert post(client, lixia, body_of([event(LIXIA_NODE, 1)])).status_code == 401
    assert "was already deactivated" in sync(app, "node", "deactivate", LIXIA_NODE).output
    assert sync(app, "node", "activate", LIXIA_NODE).exit_code == 0
    assert post(client, lixia, body_of([event(LIXIA_NODE, 1)])).status_code == 200
    assert sync(app, "node", "deactivate", "node-nobody").exit_code != 0


def test_list_shows_contact_received_and_reported_backlog(app, client, lixia):
    send(client, lixia, [event(LIXIA_NODE, 1), event(LIXIA_NODE, 2)],
         sender={"backlog": 1234, "oldest_unsent_at": "2026-11-27T01:00:00+00:00"})
    output = sync(app, "node", "list").output
    assert "received       2 events" in output
    assert "backlog        1234 events (oldest unsent 2026-11-27 01:00:00 UTC)" in output
    assert "never" not in output.split(LICHENG_NODE)[0].split(LIXIA_NODE)[1]


# --- authentication: 401, nothing stored -------------------------------------------------------------------

def other_key(app: Flask, node_id: str) -> Credentials:
    with session_scope(app.extensions["govhall.sessions"]) as session:
        key = registry.rotate_key(set_scope(session, Scope.system()), node_id)
    return Credentials(node_id, key.key_id, key.secret)


def retire(app: Flask, key_id: str) -> None:
    with session_scope(app.extensions["govhall.sessions"]) as session:
        registry.retire_key(set_scope(session, Scope.system()), key_id)


def deactivate(app: Flask, node_id: str) -> None:
    with session_scope(app.extensions["govhall.sessions"]) as session:
        registry.set_active(set_scope(session, Scope.system()), node_id, False)


UNAUTHENTICATED = {
    "unknown node": (lambda app, me, others: Credentials("node-nobody", me.key_id, me.secret), {}, "unknown node"),
    "deactivated node": (lambda app, me, others: deactivate(app, me.node_id) or me, {}, "deactivated"),
    "unknown key": (lambda app, me, others: Credentials(me.node_id, "key-nothing", me.secret), {}, "unknown key"),
    "retired key": (lambda app, me, others: retire(app, me.key_id) or me, {}, "retired"),
    "key of another node": (lambda app, me, others: Credentials(me.node_id, others.key_id, others.secret), {},
                            "unknown key"),
    "bad signature": (lambda app, me, others: Credentials(me.node_id, me.key_id, others.secret), {},
                      "bad signature"),
    "stale timestamp": (lambda app, me, others: me, {"timestamp": -301}, "behind this node's clock"),
    "future timestamp": (lambda app, me, others: me, {"timestamp": 301}, "ahead of this node's clock"),
    "timestamp not a number": (lambda app, me, others: me, {"X-GovHall-Timestamp": "yesterday"}, "Unix seconds"),
    "no signature": (lambda app, me, others: me, {"X-GovHall-Signature": ""}, "missing header"),
}


@pytest.mark.parametrize("case", list(UNAUTHENTICATED))
def test_unauthenticated_batches_are_401_and_store_nothing(app, client, session, nodes, case):
    """Is every way of not being the registered node refused with a clear message, and is nothing written?"""
    make_caller, changes, message = UNAUTHENTICATED[case]
    caller = make_caller(app, nodes[LIXIA], nodes[LICHENG])
    changes = dict(changes)
    offset = changes.pop("timestamp", None)
    timestamp = int(time.time()) + offset if offset is not None else None
    response = post(client, caller, body_of([event(LIXIA_NODE, 1)]), timestamp=timestamp, **changes)
    assert response.status_code == 401, response.get_json()
    assert message in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("GovHall-HMAC")
    assert stored_nothing(session)


def test_a_body_changed_on_the_way_is_401(client, session, lixia):
    """Does the signature cover the body: is a batch whose body was changed after signing refused?"""
    body = body_of([event(LIXIA_NODE, 1)])
    headers = protocol.signed_headers(lixia.secret, lixia.node_id, lixia.key_id, body, int(time.time()))
    tampered = body.replace(LIXIA_JIEFANGLU.encode(), LIXIA_QIANFOSHAN.encode())
    response = client.post(protocol.BATCHES_PATH, data=tampered, headers=headers)
    assert response.status_code == 401 and "bad signature" in response.get_json()["error"]
    assert stored_nothing(session)


def test_timestamps_within_the_skew_are_accepted(client, lixia):
    for offset in (-290, 290):
        assert post(client, lixia, body_of([event(LIXIA_NODE, 1)]), timestamp=int(time.time()) + offset) \
            .status_code == 200


def test_cookies_and_bearer_tokens_do_not_count(client, session, lixia):
    """Is the key the only credential: no signature headers, but a bearer token, is still 401?"""
    response = client.post(protocol.BATCHES_PATH, data=body_of([event(LIXIA_NODE, 1)]),
                           headers={"Authorization": "Bearer whatever", "Content-Type": "application/json"})
    assert response.status_code == 401 and "missing header" in response.get_json()["error"]
    assert stored_nothing(session)


# --- bodies that are not batches: 400, nothing stored ------------------------------------------------------

BAD_BODIES = {
    "not JSON": (b"{not json", "not JSON"),
    "not UTF-8": (b'{"batch_id": "\xff"}', "not JSON in UTF-8"),
    "a list": (b"[]", "must be a JSON object"),
    "no batch id": (json.dumps({"events": [1]}).encode(), "batch_id"),
    "batch id not hex": (body_of([event(LIXIA_NODE, 1)], batch_id="z" * 32), "batch_id"),
    "no events": (body_of([]), "events must be a non-empty list"),
    "events not a list": (json.dumps({"batch_id": "a" * 32, "events": {"a": 1}}).encode(), "non-empty list"),
    "too many events": (body_of([{}] * (protocol.MAX_BATCH + 1)), "at most 5000"),
    "sender backlog negative": (body_of([event(LIXIA_NODE, 1)], sender={"backlog": -1}), "sender.backlog"),
    "sender oldest not a time": (body_of([event(LIXIA_NODE, 1)], sender={"backlog": 1, "oldest_unsent_at": "x"}),
                                 "sender.oldest_unsent_at"),
    "unknown key": (body_of([event(LIXIA_NODE, 1)], extra=1), "unknown key(s) in the batch: extra"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_body_that_is_not_a_batch_is_400_and_stores_nothing(client, session, lixia, case):
    body, message = BAD_BODIES[case]
    response = post(client, lixia, body)
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["error"]
    assert stored_nothing(session)


def test_a_body_over_the_limit_is_413(app, client, session, lixia, monkeypatch):
    monkeypatch.setattr(protocol, "MAX_BODY_BYTES", 1000)
    response = post(client, lixia, body_of([event(LIXIA_NODE, n) for n in range(1, 10)]))
    assert response.status_code == 413
    assert stored_nothing(session)


def test_batches_larger_than_the_form_limit_are_accepted(client, session, lixia):
    """Is a batch above the app-wide 2 MB request limit (forms, API) still received?"""
    events = [event(LIXIA_NODE, n, payload={"case": {"note": "x" * 2000}}) for n in range(1, 1201)]
    body = body_of(events)
    assert len(body) > 2 * 1024 * 1024
    assert post(client, lixia, body).status_code == 200
    assert count(session, ReceivedEvent) == 1200


# --- replays: 409 ------------------------------------------------------------------------------------------

def test_a_replayed_request_is_409_and_stores_nothing_more(client, session, lixia):
    """Is the same signed request sent again refused, even within the allowed clock skew?"""
    body = body_of([event(LIXIA_NODE, 1)])
    headers = protocol.signed_headers(lixia.secret, lixia.node_id, lixia.key_id, body, int(time.time()))
    assert client.post(protocol.BATCHES_PATH, data=body, headers=headers).status_code == 200
    before = node_row(session, LIXIA_NODE).last_contact_at
    again = client.post(protocol.BATCHES_PATH, data=body, headers=headers)
    assert again.status_code == 409 and "received before" in again.get_json()["error"]
    assert count(session, ReceivedEvent) == 1 and count(session, SeenBatch) == 1
    assert node_row(session, LIXIA_NODE).last_contact_at == before


def test_old_batch_ids_are_forgotten_after_twice_the_skew(app, client, session, lixia):
    old = utcnow() - dt.timedelta(seconds=2 * 300 + 5)
    recent = utcnow() - dt.timedelta(seconds=2 * 300 - 60)
    session.add_all([SeenBatch(node_id=LIXIA_NODE, batch_id="a" * 32, received_at=old),
                     SeenBatch(node_id=LIXIA_NODE, batch_id="b" * 32, received_at=recent),
                     SeenBatch(node_id=LICHENG_NODE, batch_id="c" * 32, received_at=old)])
    session.commit()
    send(client, lixia, [event(LIXIA_NODE, 1)])
    session.expire_all()
    kept = set(session.scalars(select(SeenBatch.batch_id)))
    assert "a" * 32 not in kept and {"b" * 32, "c" * 32} <= kept  # only this node's rows are pruned here


# --- storing events ----------------------------------------------------------------------------------------

def test_events_are_stored_once_across_batches(client, session, lixia):
    """Is an event sent again in a later batch answered 'duplicate' and not stored or counted twice?"""
    first = send(client, lixia, [event(LIXIA_NODE, 1), event(LIXIA_NODE, 2)])
    assert statuses(first) == ["accepted", "accepted"]
    again = send(client, lixia, [event(LIXIA_NODE, 2), event(LIXIA_NODE, 3)])
    assert statuses(again) == ["duplicate", "accepted"]
    assert [r["event_id"] for r in again["results"]] == [f"{LIXIA_NODE}:2", f"{LIXIA_NODE}:3"]
    assert count(session, ReceivedEvent) == 3
    assert node_row(session, LIXIA_NODE).events_received == 3
    assert session.scalar(select(func.sum(PlaceDayCount.count))) == 3


def test_duplicates_within_one_batch_are_stored_once(client, session, lixia):
    answer = send(client, lixia, [event(LIXIA_NODE, 1), event(LIXIA_NODE, 1), event(LIXIA_NODE, 2)])
    assert statuses(answer) == ["accepted", "duplicate", "accepted"]
    assert count(session, ReceivedEvent) == 2
    assert session.scalar(select(func.sum(PlaceDayCount.count))) == 2


def test_concurrent_deliveries_of_the_same_events_store_each_once(app, session, lixia):
    """Two deliveries of the same 200 events at the same time (a retry racing the original): is each
    event stored and counted exactly once, and accepted by exactly one of them?"""
    events = [event(LIXIA_NODE, n) for n in range(1, 201)]
    answers: list[Any] = [None, None]

    def deliver(slot: int) -> None:
        answers[slot] = post(app.test_client(), lixia, body_of(events))

    threads = [threading.Thread(target=deliver, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in answers] == [200, 200]
    accepted = [statuses(a.get_json()).count("accepted") for a in answers]
    assert sum(accepted) == 200
    assert count(session, ReceivedEvent) == 200
    assert session.scalar(select(func.sum(PlaceDayCount.count))) == 200
    assert node_row(session, LIXIA_NODE).events_received == 200


def test_a_partly_bad_batch_stores_the_good_and_keeps_the_bad_with_reasons(client, session, lixia):
    """Does one malformed event not stop the others, and can the admin see why it was refused?"""
    good = [event(LIXIA_NODE, 1), event(LIXIA_NODE, 3)]
    bad = {
        "not an object": "just text",
        "missing field": {k: v for k, v in event(LIXIA_NODE, 10).items() if k != "type"},
        "extra field": event(LIXIA_NODE, 11, note="x"),
        "tenant not 12 digits": event(LIXIA_NODE, 12, tenant_code="3701"),
        "seq a string": event(LIXIA_NODE, 13, aggregate_seq="3"),
        "seq a boolean": event(LIXIA_NODE, 14, aggregate_seq=True),
        "seq too large": event(LIXIA_NODE, 15, aggregate_seq=2**31),
        "naive time": event(LIXIA_NODE, 16, occurred_at="2026-11-27T04:00:00"),
        "payload a list": event(LIXIA_NODE, 17, payload=[]),
        "case event without the case": event(LIXIA_NODE, 18, payload={"step": {}}),
        "type too long": event(LIXIA_NODE, 19, type="case." + "x" * 40),
        "event id without origin": event(LIXIA_NODE, 20, event_id="20"),
        "control character": event(LIXIA_NODE, 21, aggregate_type="ca\x00se"),
        "lone surrogate": event(LIXIA_NODE, 22, payload={"case": {"name": "\ud800"}}),
        "NUL in the event id": event(LIXIA_NODE, 23, event_id=f"{LIXIA_NODE}:\x0023"),
        "NUL and a surrogate in a field name": {**event(LIXIA_NODE, 24), "\ud800\x00": 1},
        "sequence beyond BIGINT": event(LIXIA_NODE, 25, event_id=f"{LIXIA_NODE}:{2**63}"),
    }
    answer = send(client, lixia, [good[0], *bad.values(), good[1]], ensure_ascii=True)
    results = answer["results"]
    assert [r["status"] for r in results] == ["accepted"] + ["rejected"] * len(bad) + ["accepted"]
    reasons = dict(zip(bad, [r["reason"] for r in results[1:-1]], strict=True))
    assert reasons["not an object"] == "an event must be a JSON object"
    assert reasons["missing field"] == "missing field(s): type"
    assert reasons["extra field"] == "unknown field(s): 'note'"
    assert reasons["tenant not 12 digits"].startswith("tenant_code: must be a 12-digit division code")
    assert reasons["seq a string"].startswith("aggregate_seq: must be a whole number")
    assert reasons["naive time"].startswith("occurred_at: must be an ISO 8601 time with its UTC offset")
    assert reasons["case event without the case"].startswith("payload.case")
    assert reasons["lone surrogate"].startswith("payload: ")
    assert reasons["sequence beyond BIGINT"].startswith(f"event_id: the sequence must be at most {2**63 - 1}")
    assert all(reasons.values())
    assert count(session, ReceivedEvent) == 2
    kept = session.execute(select(RejectedEvent.event_id, RejectedEvent.reason, RejectedEvent.from_node)
                           .order_by(RejectedEvent.id)).all()
    assert [reason for _id, reason, _node in kept] == [storable(reason) for reason in reasons.values()]
    assert results[-4]["event_id"] == f"{LIXIA_NODE}:\x0023"  # echoed exactly as sent
    assert {node for _id, _reason, node in kept} == {LIXIA_NODE}
    assert kept[2][0] == f"{LIXIA_NODE}:11"


def test_a_node_cannot_report_for_its_neighbours_subtree(client, session, lixia):
    """Are events for a place of the neighbouring county, of another city or of the city itself refused, and
    is a case number of a neighbour's place refused even under an own place's code?"""
    foreign_number = f"{LICHENG_SHANDALU}20261127000001"
    answer = send(client, lixia, [
        event(LIXIA_NODE, 1, LICHENG_SHANDALU), event(LIXIA_NODE, 2, "370202001000"), event(LIXIA_NODE, 3, CITY),
        event(LIXIA_NODE, 4, number=foreign_number), event(LIXIA_NODE, 5, LIXIA_QIANFOSHAN),
    ])
    assert statuses(answer) == ["rejected"] * 4 + ["accepted"]
    assert answer["results"][0]["reason"] == \
        f"tenant_code: {LICHENG_SHANDALU} is outside node {LIXIA_NODE}'s subtree {LIXIA}"
    assert "is not a case number of place" in answer["results"][3]["reason"]
    assert session.scalars(select(ReceivedEvent.tenant_code)).all() == [LIXIA_QIANFOSHAN]
    assert session.get(CaseIndexEntry, foreign_number) is None
    assert session.scalars(select(PlaceDayCount.tenant_code)).all() == [LIXIA_QIANFOSHAN]


def test_a_node_cannot_make_its_neighbours_events_vanish_by_taking_their_ids(client, session, nodes):
    """If 历下区's node reports an event under an id of 历城区's node, is 历城区's genuine event then refused
    visibly (not answered 'duplicate' and silently lost), while a true repeat is still a duplicate?"""
    lixia, licheng = nodes[LIXIA], nodes[LICHENG]
    send(client, lixia, [event(LICHENG_NODE, 5)])  # an id 历城区's node will use, for a place of 历下区
    genuine = event(LICHENG_NODE, 5, LICHENG_SHANDALU)
    answer = send(client, licheng, [genuine, genuine, event(LICHENG_NODE, 6, LICHENG_SHANDALU)])
    assert statuses(answer) == ["rejected", "rejected", "accepted"]
    assert answer["results"][0]["reason"].startswith("event_id: already stored here for a different event")
    assert session.scalars(select(RejectedEvent.from_node)).all() == [LICHENG_NODE, LICHENG_NODE]
    assert statuses(send(client, licheng, [event(LICHENG_NODE, 6, LICHENG_SHANDALU)])) == ["duplicate"]
    assert node_row(session, LICHENG_NODE).events_received == 1


def test_events_naming_this_node_as_origin_are_refused(client, lixia):
    answer = send(client, lixia, [event("node-370100000000", 1)])
    assert statuses(answer) == ["rejected"] and "names this node" in answer["results"][0]["reason"]


def test_payloads_are_stored_exactly_as_sent(client, session, lixia):
    """Does any text JSON can carry — Chinese, emoji, quotes, backslashes, NUL, control characters — come back
    unchanged from the store and the case index?"""
    odd = {"case": {"name": "张三\U0001f600 \"引号\" \\ 反斜杠", "nul": "a\x00b", "tab": "\t\n", "n": [1, 2.5, None, True]}}
    sent = event(LIXIA_NODE, 1, payload=odd)
    assert statuses(send(client, lixia, [sent])) == ["accepted"]
    stored = session.scalars(select(ReceivedEvent)).one()
    assert stored.payload == odd and stored.occurred_at == DAY
    assert index_entry(session, sent["aggregate_id"])[4] == {k: v for k, v in odd["case"].items() if k != "number"}


def test_payload_text_is_kept_as_it_came(client, session, lixia):
    """Is a payload stored as the very text the sender wrote, spacing and key order included, rather than
    decoded and encoded again, and does the case index read its case from there?"""
    case_text = '{"state": "accepted",  "number": "%s", "n": [1, 2.50, 1e2]}'
    number = f"{LIXIA_JIEFANGLU}20261127000001"
    payload_text = '{"step": {"name": "accepted"}, "case": ' + case_text % number + "}"
    marker = {"PAYLOAD": 0}
    body = body_of([event(LIXIA_NODE, 1, number=number, payload=marker)]).replace(
        json.dumps(marker, separators=(",", ":")).encode(), payload_text.encode())
    response = post(client, lixia, body)
    assert statuses(response.get_json()) == ["accepted"]
    assert session.scalar(text("SELECT CAST(payload AS TEXT) FROM sync_received")) == payload_text
    assert session.scalar(text("SELECT event_id FROM sync_case_index")) == f"{LIXIA_NODE}:1"
    assert index_entry(session, number)[4] == {"state": "accepted", "n": [1, 2.5, 100.0]}
    assert session.scalars(select(ReceivedEvent.payload)).one()["case"]["n"] == [1, 2.5, 100.0]


def test_well_formed_batches_read_fast_are_answered_and_stored_as_when_read_slowly(client, session, lixia):
    """A batch whose text holds an escaped surrogate is read by the standard library; any other is read with
    its payloads kept as text. Do both readings answer, store and keep refused events alike?"""
    def batch(first: int) -> list[dict[str, Any]]:
        def number(n: int, place: str = LIXIA_JIEFANGLU) -> str:  # the same in both batches
            return f"{place}20261127{n:06d}"
        return [event(LIXIA_NODE, first, payload={"case": {"name": "张三\U0001f600", "n": [1, 2.5, None]}}),
                event(LIXIA_NODE, first + 1, LICHENG_SHANDALU, number=number(2, LICHENG_SHANDALU)),  # not its own
                event(LIXIA_NODE, first + 2, payload=[1, 2]),
                event(LIXIA_NODE, first + 3, payload={"step": {}}),  # a case event without its case
                event(LIXIA_NODE, first + 4, number=number(5), aggregate_seq="3")]
    fast_body = body_of(batch(1))
    slow_body = body_of(batch(11), ensure_ascii=True)  # the emoji goes as a surrogate pair of escapes
    assert b"\\ud83d" not in fast_body and b"\\ud83d" in slow_body
    fast, slow = post(client, lixia, fast_body).get_json(), post(client, lixia, slow_body).get_json()
    assert [(r["status"], r["reason"].replace(":11", ":1")) for r in slow["results"]] == \
        [(r["status"], r["reason"]) for r in fast["results"]]
    assert fast["results"][2]["reason"] == "payload: must be a JSON object, not list"
    stored = session.execute(select(ReceivedEvent.event_id, ReceivedEvent.payload).order_by(ReceivedEvent.id)).all()
    assert [event_id for event_id, _ in stored] == [f"{LIXIA_NODE}:1", f"{LIXIA_NODE}:11"]
    assert stored[0].payload == stored[1].payload == batch(1)[0]["payload"]
    kept = session.execute(select(RejectedEvent.event).order_by(RejectedEvent.id)).scalars().all()
    assert [one["payload"] for one in kept[:4]] == [one["payload"] for one in kept[4:]]
    assert kept[1]["payload"] == [1, 2]


@pytest.mark.parametrize("payload", [b'{"a" 1}', b'{"a":tru}', b'{"a":"x\\q"}', b'{"a":01}', b'{"a":1,}',
                                     b'{"a":[1,]}', b'{"a":.5}', b'{"a":"\\u12"}', b'{"a":"x\ny"}', b'{"a":1'])
def test_a_payload_that_is_not_json_refuses_the_body(client, session, lixia, payload):
    """A payload is kept as text, not decoded: is its JSON syntax still checked on the way in?"""
    marker = {"PAYLOAD": 0}
    body = body_of([event(LIXIA_NODE, 1, payload=marker)]).replace(
        json.dumps(marker, separators=(",", ":")).encode(), payload)
    response = post(client, lixia, body)
    assert response.status_code == 400 and "not JSON" in response.get_json()["error"]
    assert stored_nothing(session)


def test_a_payload_that_is_not_utf8_refuses_the_body(client, session, lixia):
    body = body_of([event(LIXIA_NODE, 1)]).replace("公".encode(), b"\xff\xfe\xfd")
    assert b"\xff" in body  # in the payload: the fast reading skips its text, decoding it checks it
    response = post(client, lixia, body)
    assert response.status_code == 400 and "not JSON in UTF-8" in response.get_json()["error"]
    assert stored_nothing(session)


def test_a_node_reports_for_places_deep_in_its_subtree(client, session, lixia):
    """Does a county node's event for a village of a town below it count?"""
    village = "370102001001"
    answer = send(client, lixia, [event(LIXIA_NODE, 1, village)])
    assert statuses(answer) == ["accepted"]


def test_contact_and_reported_backlog_are_recorded(client, session, lixia):
    send(client, lixia, [event(LIXIA_NODE, 1)], sender={"backlog": 42, "oldest_unsent_at": "2026-11-27T09:00:00+08:00"})
    node = node_row(session, LIXIA_NODE)
    assert node.last_contact_at is not None and utcnow() - node.last_contact_at < dt.timedelta(minutes=1)
    assert (node.events_received, node.reported_backlog) == (1, 42)
    assert node.reported_oldest_unsent_at == dt.datetime(2026, 11, 27, 1, tzinfo=dt.UTC)
    send(client, lixia, [event(LIXIA_NODE, 1)])  # no "sender": the last report stands
    node = node_row(session, LIXIA_NODE)
    assert (node.events_received, node.reported_backlog) == (1, 42)


# --- read models -------------------------------------------------------------------------------------------

def case_history(origin: str, first_seq: int, number: str) -> list[dict[str, Any]]:
    kinds = ("submitted", "accepted", "decided", "issued")
    return [event(origin, first_seq + n, number=number, case_seq=n + 1, kind=kind,
                  at=DAY + dt.timedelta(minutes=n)) for n, kind in enumerate(kinds)]


def index_entry(session: Session, number: str) -> tuple[Any, ...]:
    session.expire_all()
    entry = session.get(CaseIndexEntry, number)
    assert entry is not None
    snapshot = {k: v for k, v in entry.snapshot.items() if k != "number"}
    return entry.tenant_code, entry.origin_node, entry.last_seq, entry.last_type, snapshot


def test_out_of_order_events_give_the_same_case_index_entry_as_in_order(client, session, lixia):
    """Is the province's view of a case the same whatever order its events arrive in?"""
    in_order = f"{LIXIA_JIEFANGLU}20261127000001"
    shuffled = f"{LIXIA_JIEFANGLU}20261127000002"
    for single in case_history(LIXIA_NODE, 1, in_order):
        send(client, lixia, [single])
    history = case_history(LIXIA_NODE, 11, shuffled)
    send(client, lixia, [history[3], history[1]])  # newest first, in one batch
    send(client, lixia, [history[0]])  # older than the entry: changes nothing
    send(client, lixia, [history[2]])
    assert index_entry(session, shuffled) == index_entry(session, in_order)
    assert index_entry(session, in_order)[2:4] == (4, "case.issued")
    assert index_entry(session, in_order)[4]["state"] == "issued"


def test_day_counts_are_exact_per_place_china_day_and_type(client, session, lixia):
    """Is each event counted once, on its China day (UTC+8), by place and type?"""
    late_26th = dt.datetime(2026, 11, 26, 15, 59, 59, tzinfo=dt.UTC)  # 23:59:59 in China
    early_27th = dt.datetime(2026, 11, 26, 16, 0, tzinfo=dt.UTC)  # 00:00 in China
    send(client, lixia, [event(LIXIA_NODE, 1, at=late_26th), event(LIXIA_NODE, 2, at=early_27th),
                         event(LIXIA_NODE, 3, at=early_27th), event(LIXIA_NODE, 4, at=early_27th, kind="refused"),
                         event(LIXIA_NODE, 5, LIXIA_QIANFOSHAN, at=early_27th)])
    send(client, lixia, [event(LIXIA_NODE, 3, at=early_27th), event(LIXIA_NODE, 6, at=early_27th)])
    session.expire_all()
    counts = {(c.tenant_code, c.day.isoformat(), c.type): c.count for c in session.scalars(select(PlaceDayCount))}
    assert counts == {
        (LIXIA_JIEFANGLU, "2026-11-26", "case.accepted"): 1,
        (LIXIA_JIEFANGLU, "2026-11-27", "case.accepted"): 3,
        (LIXIA_JIEFANGLU, "2026-11-27", "case.refused"): 1,
        (LIXIA_QIANFOSHAN, "2026-11-27", "case.accepted"): 1,
    }


def test_non_case_events_are_stored_and_counted_but_not_indexed(client, session, lixia):
    tenant_event = event(LIXIA_NODE, 1, aggregate_type="tenant", aggregate_id=LIXIA_JIEFANGLU, type="tenant.changed",
                         payload={"name": "解放路街道"})
    assert statuses(send(client, lixia, [tenant_event])) == ["accepted"]
    assert count(session, CaseIndexEntry) == 0 and count(session, PlaceDayCount) == 1


# --- relaying upward ---------------------------------------------------------------------------------------

@pytest.fixture
def relay_app(demo_url: str) -> Iterator[Flask]:
    """The city node with an upstream of its own (the province)."""
    settings = make_settings(demo_url, upstream_url="http://127.0.0.1:9/", upstream_key_id="key-city",
                             upstream_key="city-secret")
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["govhall.engine"].dispose()


def outbox_rows(app: Flask) -> list[tuple[Any, ...]]:
    session = set_scope(app.extensions["govhall.sessions"](), Scope.system())
    try:
        query = (select(OutboxEvent.event_id, OutboxEvent.aggregate_seq, OutboxEvent.tenant_code, OutboxEvent.type,
                        OutboxPayload.payload, OutboxEvent.occurred_at, OutboxEvent.sent_at)
                 .join(OutboxPayload, OutboxPayload.id == OutboxEvent.id).order_by(OutboxEvent.id))
        return [tuple(row) for row in session.execute(query)]
    finally:
        session.close()


@dataclass
class OutboxRow:
    """The attributes `protocol.event_json` reads, from a relayed outbox row."""

    event_id: str
    aggregate_seq: int
    tenant_code: str
    type: str
    payload: dict[str, Any]
    occurred_at: dt.datetime
    sent_at: Any
    aggregate_type: str = "case"
    aggregate_id: str = f"{LIXIA_JIEFANGLU}20261127000007"
    payload_version: int = 1


def test_a_relay_node_queues_new_events_upward_with_their_ids_and_sequences(relay_app):
    """Does a city node with an upstream forward what its counties report, keeping the origin's event id and
    aggregate sequence, once, and never what it refused?"""
    lixia = register(relay_app, LIXIA_NODE, LIXIA)
    client = relay_app.test_client()
    before = outbox_rows(relay_app)
    first = event(LIXIA_NODE, 7, case_seq=3)
    send(client, lixia, [first, event(LIXIA_NODE, 8, LICHENG_SHANDALU)])
    send(client, lixia, [first, event(LIXIA_NODE, 9, case_seq=5, kind="decided")])
    relayed = outbox_rows(relay_app)[len(before):]
    assert [(r[0], r[1], r[2], r[3]) for r in relayed] == [
        (f"{LIXIA_NODE}:7", 3, LIXIA_JIEFANGLU, "case.accepted"),
        (f"{LIXIA_NODE}:9", 5, LIXIA_JIEFANGLU, "case.decided"),
    ]
    assert relayed[0][4] == first["payload"]
    assert relayed[0][5] == DAY and relayed[0][6] is None  # unsent
    assert protocol.event_json(OutboxRow(*relayed[0]), relayed[0][0]) == first


def test_a_node_without_upstream_relays_nothing(app, client, lixia):
    before = outbox_rows(app)
    send(client, lixia, [event(LIXIA_NODE, 1)])
    assert outbox_rows(app) == before


# --- reconciliation ----------------------------------------------------------------------------------------

def test_reconcile_answers_counts_and_checksums_per_place_and_day(client, nodes):
    """Does the receiver answer, per (place, China day), the count and checksum of what came from the caller —
    both days included, nothing of the neighbour's?"""
    lixia, licheng = nodes[LIXIA], nodes[LICHENG]
    send(client, lixia, [event(LIXIA_NODE, 1), event(LIXIA_NODE, 2), event(LIXIA_NODE, 3, LIXIA_QIANFOSHAN),
                         event(LIXIA_NODE, 4, at=DAY + dt.timedelta(days=1)),
                         event(LIXIA_NODE, 5, at=DAY + dt.timedelta(days=2))])
    send(client, licheng, [event(LICHENG_NODE, 1, LICHENG_SHANDALU)])
    response = reconcile(client, lixia, {"since": "2026-11-27", "until": "2026-11-28"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["cells"] == [
        {"tenant_code": LIXIA_JIEFANGLU, "day": "2026-11-27", "count": 2,
         "checksum": protocol.cell_checksum([f"{LIXIA_NODE}:1", f"{LIXIA_NODE}:2"])},
        {"tenant_code": LIXIA_JIEFANGLU, "day": "2026-11-28", "count": 1,
         "checksum": protocol.cell_checksum([f"{LIXIA_NODE}:4"])},
        {"tenant_code": LIXIA_QIANFOSHAN, "day": "2026-11-27", "count": 1,
         "checksum": protocol.cell_checksum([f"{LIXIA_NODE}:3"])},
    ]
    theirs = reconcile(client, licheng, {"since": "2026-11-27", "until": "2026-11-27"}).get_json()
    assert [cell["tenant_code"] for cell in theirs["cells"]] == [LICHENG_SHANDALU]


def test_reconcile_cells_answer_their_event_ids(client, nodes):
    lixia = nodes[LIXIA]
    send(client, lixia, [event(LIXIA_NODE, 2), event(LIXIA_NODE, 10), event(LIXIA_NODE, 3, LIXIA_QIANFOSHAN)])
    response = reconcile(client, lixia, {"cells": [[LIXIA_JIEFANGLU, "2026-11-27"], [LIXIA_JIEFANGLU, "2026-11-26"]]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"event_ids": {
        f"{LIXIA_JIEFANGLU}|2026-11-27": [f"{LIXIA_NODE}:10", f"{LIXIA_NODE}:2"],
        f"{LIXIA_JIEFANGLU}|2026-11-26": [],
    }}


def test_the_highest_sequence_counts_only_the_callers_own_events(client, nodes):
    """Does `highest_sequence` answer the highest number of the events the caller made itself — numerically
    (10 after 9), not those it relayed from below, not its neighbour's — and 0 before any?"""
    lixia, licheng = nodes[LIXIA], nodes[LICHENG]
    assert reconcile(client, lixia, {"highest_sequence": True}).get_json() == {"highest_sequence": 0}
    send(client, lixia, [event(LIXIA_NODE, 9), event(LIXIA_NODE, 10), event("node-370102001000", 500)])
    send(client, licheng, [event(LICHENG_NODE, 70, LICHENG_SHANDALU)])
    assert reconcile(client, lixia, {"highest_sequence": True}).get_json() == {"highest_sequence": 10}
    assert reconcile(client, licheng, {"highest_sequence": True}).get_json() == {"highest_sequence": 70}


def test_a_node_cannot_reconcile_its_neighbours_cells(client, session, nodes):
    """Is a cell of the neighbouring county refused by name, and are the neighbour's events never shown?"""
    send(client, nodes[LICHENG], [event(LICHENG_NODE, 1, LICHENG_SHANDALU)])
    response = reconcile(client, nodes[LIXIA], {"cells": [[LIXIA_JIEFANGLU, "2026-11-27"],
                                                          [LICHENG_SHANDALU, "2026-11-27"]]})
    assert response.status_code == 400
    assert response.get_json()["error"] == \
        f"cells[1]: {LICHENG_SHANDALU} is outside node {LIXIA_NODE}'s subtree {LIXIA}"
    assert reconcile(client, nodes[LIXIA], {"since": "2026-11-27", "until": "2026-11-27"}).get_json() == {"cells": []}


@pytest.mark.parametrize(("request_body", "message"), [
    ({"since": "2026-11-27"}, "until must be a day"),
    ({"since": "27.11.2026", "until": "2026-11-27"}, "since must be a day"),
    ({"since": "2026-11-28", "until": "2026-11-27"}, "until is before since"),
    ({"since": "2025-01-01", "until": "2026-11-27"}, "at most 366 days"),
    ({"cells": []}, "cells must be a list"),
    ({"cells": [["3701", "2026-11-27"]]}, "cells[0] must be [tenant_code, 'YYYY-MM-DD']"),
    ({"cells": [[LIXIA_JIEFANGLU, "tomorrow"]]}, "cells[0] must be a day"),
])
def test_reconcile_refuses_bad_requests(client, lixia, request_body, message):
    response = reconcile(client, lixia, request_body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_reconcile_needs_a_signature(client, nodes):
    response = post(client, Credentials(LIXIA_NODE, nodes[LIXIA].key_id, "wrong"),
                    b'{"since": "2026-11-27", "until": "2026-11-27"}', path=protocol.RECONCILE_PATH)
    assert response.status_code == 401


# --- cost --------------------------------------------------------------------------------------------------

def test_a_batch_costs_the_same_number_of_statements_whatever_its_size(relay_app):
    """No statement per event: are 10 and 500 events (with relaying) written with the same statements?"""
    lixia = register(relay_app, LIXIA_NODE, LIXIA)
    client = relay_app.test_client()
    sizes = {}
    for size, start in ((10, 1), (500, 1001)):
        events = [event(LIXIA_NODE, start + n, case_seq=n % 5 + 1, number=f"{LIXIA_JIEFANGLU}20261127{n % 50:06d}")
                  for n in range(size)]
        with QueryCounter(relay_app) as counter:
            send(client, lixia, events)
        sizes[size] = counter.count
    assert sizes[10] == sizes[500] <= 12, sizes
