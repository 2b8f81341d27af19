"""The receiving end of upward sync: `POST /api/sync/v1/batches` and `/api/sync/v1/reconcile`
(the contract is `app.sync.protocol`).

A request is authenticated by its headers (node, key, timestamp) before its body is read, then by
the HMAC over the exact bytes received. No cookie or bearer token counts here: the node's key is
the only credential, and the node's registered subtree is the authorization — each event must be
for a place in it. A batch is one transaction in the system scope: the batch id is remembered
(a replay is refused), good events are stored once by id and projected, bad ones are kept with
their reason; a request that is refused (401, 400, 409) writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import session_scope, utcnow
from app.core.errors import UserError
from app.core.security import csrf
from app.core.tenancy import CODE_PATTERN, Scope, is_within, set_scope
from app.core.web import settings
from app.sync import projections, protocol, wire
from app.sync.models import SyncNode, SyncNodeKey
from app.sync.validation import MAX_INT, check_event, event_id_of, is_int, moment_of

bp = Blueprint("sync_receiver", __name__)
csrf.exempt(bp)  # machine-to-machine, authenticated by HMAC; no cookie is honoured here

BATCH_ID = re.compile(r"[0-9a-fA-F]{32}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # how a lone surrogate gets past strict UTF-8
SIGNED_HEADERS = (protocol.NODE_HEADER, protocol.KEY_ID_HEADER, protocol.TIMESTAMP_HEADER, protocol.SIGNATURE_HEADER)
MAX_RECONCILE_DAYS = 366
MAX_RECONCILE_CELLS = 1000


class Unauthenticated(UserError):
    status = 401


class Replayed(UserError):
    status = 409


@dataclass(frozen=True)
class Batch:
    batch_id: str
    events: list[Any]
    sender: tuple[int, dt.datetime | None] | None  # backlog and oldest unsent, as the node reported them
    may_hold_surrogates: bool = False  # only then is each payload checked for them (it costs an encoding)


# --- the endpoints -------------------------------------------------------------------------------------

@bp.post(protocol.BATCHES_PATH)
def receive_batch() -> Response:
    with _system_session() as session:
        node = authenticate(session)
        batch = read_batch(_body())
        results = store_batch(session, node, batch)
    return _answer({"batch_id": batch.batch_id, "results": results})


@bp.post(protocol.RECONCILE_PATH)
def reconcile() -> Response:
    with _system_session() as session:
        node = authenticate(session)
        body = _json_body()
        if body.get("highest_sequence") is True:  # after a restore from backup (app.sync.restore)
            return _answer({"highest_sequence": projections.highest_sequence(session, node.node_id)})
        if "cells" in body:
            return _answer({"event_ids": _event_ids_of_cells(session, node, body["cells"])})
        first, last = _period(body)
        cells = projections.received_ids(session, node, first, last)
        return _answer({"cells": projections.cell_summaries(cells)})


@bp.errorhandler(Unauthenticated)
def _unauthenticated(exc: Unauthenticated) -> tuple[Response, int, dict[str, str]]:
    current_app.logger.warning("sync: refused %s from %s: %s", request.path, request.remote_addr, exc.message)
    return jsonify(exc.as_dict()), 401, {"WWW-Authenticate": 'GovHall-HMAC realm="govhall-sync"'}


def _answer(document: dict[str, Any]) -> Response:
    """An answer echoes each event id exactly as sent, even text that UTF-8 cannot carry (a lone
    surrogate), so the sender can always match its results: such an answer goes in ASCII escapes."""
    try:
        text = orjson.dumps(document)
    except TypeError:  # a lone surrogate: only ASCII escapes carry it
        text = json.dumps(document, separators=(",", ":")).encode()
    return current_app.response_class(text, mimetype="application/json")


@contextmanager
def _system_session() -> Iterator[Session]:
    """One transaction per request, committed only if the request succeeds."""
    with session_scope(current_app.extensions["govhall.sessions"]) as session:
        yield set_scope(session, Scope.system())


# --- authentication ------------------------------------------------------------------------------------

def authenticate(session: Session) -> SyncNode:
    """The registered, active node that signed this request with one of its active keys, recently."""
    values = {name: request.headers.get(name, "") for name in SIGNED_HEADERS}
    missing = [name for name, value in values.items() if not value]
    node_id, key_id, timestamp, given = values.values()
    if missing:
        raise Unauthenticated(f"missing header(s): {', '.join(missing)}")
    node = session.get(SyncNode, node_id)
    if node is None:
        raise Unauthenticated(f"unknown node {node_id[:60]!r}: it is not registered here")
    if not node.active:
        raise Unauthenticated(f"node {node_id} is deactivated here")
    secret = _active_secret(session, node, key_id)
    _check_timestamp(timestamp)
    if not protocol.signature_matches(secret, node_id, key_id, timestamp, _body(), given):
        raise Unauthenticated(f"bad signature from node {node_id} with key {key_id} "
                              "(wrong secret, or the body was changed on the way)")
    return node


def _active_secret(session: Session, node: SyncNode, key_id: str) -> str:
    key = session.scalars(select(SyncNodeKey).where(SyncNodeKey.key_id == key_id)).one_or_none()
    if key is None or key.node_id != node.node_id:  # another node's key is as unknown as no key
        raise Unauthenticated(f"unknown key {key_id[:40]!r} for node {node.node_id}")
    if key.retired_at is not None:
        raise Unauthenticated(f"key {key_id} of node {node.node_id} was retired on "
                              f"{key.retired_at:%Y-%m-%d %H:%M} UTC; use the node's newer key")
    return key.secret


def _check_timestamp(timestamp: str) -> None:
    if not TIMESTAMP.fullmatch(timestamp):
        raise Unauthenticated(f"{protocol.TIMESTAMP_HEADER} must be Unix seconds, not {timestamp[:20]!r}")
    allowed = settings().sync_clock_skew_seconds
    offset = int(timestamp) - int(time.time())
    if abs(offset) > allowed:
        direction = "ahead of" if offset > 0 else "behind"
        raise Unauthenticated(f"timestamp is {abs(offset)} s {direction} this node's clock (at most {allowed} s "
                              "allowed): check both clocks (NTP)")


def _body() -> bytes:
    """The raw body, read only once the headers named an active key. A batch may be larger than the
    app-wide request limit (forms, API): up to protocol.MAX_BODY_BYTES."""
    request.max_content_length = protocol.MAX_BODY_BYTES
    return request.get_data(cache=True)


# --- the body ------------------------------------------------------------------------------------------

def read_batch(body: bytes) -> Batch:
    """The batch, its payloads kept as the text they came in (app.sync.wire) — or, for a body that holds
    an escaped surrogate or is not a batch of well-formed events, read by the standard library, which
    tells what is wrong."""
    may_hold_surrogates = SURROGATE_ESCAPE.search(body) is not None
    document = None if may_hold_surrogates else wire.decode_batch(body)
    return parse_batch(_json_body() if document is None else document, may_hold_surrogates)


def _json_body() -> dict[str, Any]:
    try:
        # Strict UTF-8: json.loads(bytes) would let encoded surrogates through, which no database stores.
        # (Not orjson: it reads an integer past 64 bits as a float, and finding such numbers first costs
        # more than orjson saves.)
        body = json.loads(_body().decode("utf-8"), parse_constant=_not_json, parse_float=_finite)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"the body is not JSON in UTF-8: {exc}", place="body") from None
    if not isinstance(body, dict):
        raise UserError("the body must be a JSON object", place="body")
    return body


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _finite(number: str) -> float:
    """NaN and infinities are not JSON: no database column of JSON would take them back."""
    value = float(number)
    if not math.isfinite(value):
        raise ValueError(f"{number[:40]} is beyond the range of a JSON number here")
    return value


def parse_batch(body: dict[str, Any], may_hold_surrogates: bool = False) -> Batch:
    unknown = sorted(set(body) - {"batch_id", "events", "sender"})
    if unknown:
        raise UserError(f"unknown key(s) in the batch: {', '.join(unknown)}", place=unknown[0])
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise UserError("batch_id must be 32 hexadecimal digits", place="batch_id")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise UserError("events must be a non-empty list", place="events")
    if len(events) > protocol.MAX_BATCH:
        raise UserError(f"{len(events)} events: a batch holds at most {protocol.MAX_BATCH}", place="events")
    return Batch(batch_id, events, _sender(body.get("sender")), may_hold_surrogates)


def _sender(value: Any) -> tuple[int, dt.datetime | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise UserError("sender must be an object", place="sender")
    backlog: Any = value.get("backlog")
    oldest: Any = value.get("oldest_unsent_at")
    if not is_int(backlog) or not 0 <= backlog <= MAX_INT:
        raise UserError("sender.backlog must be a whole number ≥ 0", place="sender.backlog")
    if oldest is None:
        return backlog, None
    moment = moment_of(oldest)
    if moment is None:
        raise UserError("sender.oldest_unsent_at must be an ISO 8601 time with its UTC offset, or null",
                        place="sender.oldest_unsent_at")
    return backlog, moment


# --- the events ----------------------------------------------------------------------------------------

def store_batch(session: Session, node: SyncNode, batch: Batch) -> list[dict[str, str]]:
    """Check every event, store the good ones once, project and relay the new ones; one result per event."""
    now = utcnow()
    # Checking is the larger half of the work and writes nothing: done first, so that on SQLite two
    # batches check in parallel and only the writes below queue for the database's single writer.
    triage = Triage.of(batch, node, settings().effective_node_id, now)
    if not projections.remember_batch(session, node.node_id, batch.batch_id, now, settings().sync_clock_skew_seconds):
        raise Replayed(f"batch {batch.batch_id} was received before (a replayed request); nothing stored")
    stored = projections.store_events(session, triage.rows)
    repeats = [row for row in triage.rows if row["event_id"] not in stored]
    triage.settle(stored, projections.clashing_ids(session, repeats) if repeats else set())
    new_rows = [row for row in triage.rows if row["event_id"] in stored]
    _write_new(session, node, batch, new_rows, triage.rejected(), now)
    return triage.results()


# A repeat is a duplicate only if the stored event with that id is the same event (place, aggregate, step).
# Otherwise some node claimed another's event id — maybe to make the genuine event look like a duplicate
# and vanish: refuse it visibly instead.
CLASH = ("event_id: already stored here for a different event (another place or aggregate); not stored "
         "(a node restored from a backup must run `govhall sync after-restore` before it sends again)")


@dataclass
class Verdict:
    event_id: str
    raw: Any  # the event as sent
    status: str = ""  # "" until the store tells accepted from duplicate
    reason: str = ""


@dataclass
class Triage:
    """A batch's events sorted into rows to store and events refused, with the answer for each."""

    rows: list[projections.Row] = field(default_factory=list)  # good, first of their id in the batch
    verdicts: list[Verdict] = field(default_factory=list)  # one per event, in the order sent

    @classmethod
    def of(cls, batch: Batch, node: SyncNode, own_node: str, now: dt.datetime) -> Triage:
        triage, taken = cls(), set()
        for raw in batch.events:
            row, reason = check_event(raw, node, own_node, batch.may_hold_surrogates)
            if row is None:
                triage.verdicts.append(Verdict(event_id_of(raw), raw, protocol.REJECTED, reason))
            elif row["event_id"] in taken:  # sent twice in one batch: stored once, like a repeat across batches
                triage.verdicts.append(Verdict(row["event_id"], raw, protocol.DUPLICATE))
            else:
                taken.add(row["event_id"])
                row["from_node"], row["received_at"] = node.node_id, now  # row is check_event's own copy
                triage.rows.append(row)
                triage.verdicts.append(Verdict(row["event_id"], raw))
        return triage

    def settle(self, stored: set[str], clashing: set[str]) -> None:
        """An event not stored now was stored before: a duplicate, which is success — unless it clashes."""
        for verdict in self.verdicts:
            if verdict.event_id in clashing and verdict.status != protocol.REJECTED:
                verdict.status, verdict.reason = protocol.REJECTED, CLASH
            elif not verdict.status:
                verdict.status = protocol.ACCEPTED if verdict.event_id in stored else protocol.DUPLICATE

    def rejected(self) -> list[tuple[Any, str]]:
        return [(verdict.raw, verdict.reason) for verdict in self.verdicts if verdict.status == protocol.REJECTED]

    def results(self) -> list[dict[str, str]]:
        return [{"event_id": v.event_id, "status": v.status, "reason": v.reason} for v in self.verdicts]


def _write_new(session: Session, node: SyncNode, batch: Batch, new_rows: list[projections.Row],
               rejected: list[tuple[Any, str]], now: dt.datetime) -> None:
    projections.record_rejected(session, node.node_id, rejected, now)
    projections.project_case_index(session, new_rows, now)
    projections.count_place_days(session, new_rows)
    if settings().upstream_url:
        projections.relay(session, new_rows)
    projections.note_contact(session, node.node_id, len(new_rows), now, batch.sender)


# --- reconciliation ------------------------------------------------------------------------------------

def _period(body: dict[str, Any]) -> tuple[dt.date, dt.date]:
    first, last = _day(body.get("since"), "since"), _day(body.get("until"), "until")
    if last < first:
        raise UserError("until is before since", place="until")
    if (last - first).days >= MAX_RECONCILE_DAYS:
        raise UserError(f"at most {MAX_RECONCILE_DAYS} days at a time", place="until")
    return first, last


def _day(value: Any, place: str) -> dt.date:
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise UserError(f"{place} must be a day, YYYY-MM-DD", place=place)


def _event_ids_of_cells(session: Session, node: SyncNode, value: Any) -> dict[str, list[str]]:
    cells = _cells(value, node)
    days = [day for _code, day in cells]
    found = projections.received_ids(session, node, min(days), max(days), {code for code, _day in cells})
    return {f"{code}|{day.isoformat()}": sorted(found.get((code, day), [])) for code, day in cells}


def _cells(value: Any, node: SyncNode) -> list[projections.Cell]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RECONCILE_CELLS:
        raise UserError(f"cells must be a list of 1 to {MAX_RECONCILE_CELLS} [tenant_code, day] pairs", place="cells")
    cells = [_cell(item, index, node) for index, item in enumerate(value)]
    days = [day for _code, day in cells]
    if (max(days) - min(days)).days >= MAX_RECONCILE_DAYS:
        raise UserError(f"the cells span more than {MAX_RECONCILE_DAYS} days", place="cells")
    return cells


def _cell(item: Any, index: int, node: SyncNode) -> projections.Cell:
    place = f"cells[{index}]"
    if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str) \
            or not CODE_PATTERN.fullmatch(item[0]):
        raise UserError(f"{place} must be [tenant_code, 'YYYY-MM-DD']", place=place)
    if not is_within(item[0], node.subtree_code):
        raise UserError(f"{place}: {item[0]} is outside node {node.node_id}'s subtree {node.subtree_code}",
                        place=place)
    return item[0], _day(item[1], place)
