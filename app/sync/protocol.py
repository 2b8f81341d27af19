"""The upward-sync wire protocol, shared by sender and receiver.

Request: `POST <upstream>/api/sync/v1/batches`, body JSON (UTF-8)::

    {"batch_id": "<32 hex>", "events": [EVENT, …],        # 1 … MAX_BATCH events
     "sender": {"backlog": 1234, "oldest_unsent_at": "<ISO 8601 UTC>" | null}}   # optional

    EVENT = {"event_id": "<origin node>:<seq>", "tenant_code": "<12 digits>",
             "aggregate_type": "case", "aggregate_id": "<case number>", "aggregate_seq": 3,
             "type": "case.accepted", "payload_version": 1, "payload": {…},
             "occurred_at": "2026-11-27T04:12:00.123456+00:00"}

Headers: `X-GovHall-Node` (the sending node's id), `X-GovHall-Key-Id`, `X-GovHall-Timestamp` (Unix
seconds) and `X-GovHall-Signature`: hex HMAC-SHA256 with the key's secret over
`node id \\n key id \\n timestamp \\n` followed by the raw body bytes. Signing the body as sent (not
a re-encoding) means the receiver checks exactly the bytes it parses. `sender` is the sending node's
own backlog after this batch, shown per node in the receiver's UI.

Answers:
- 200 `{"batch_id": …, "results": [{"event_id": …, "status": "accepted" | "duplicate" | "rejected",
  "reason": "…"}, …]}`, one result per event in the order sent. Duplicates are success: the event
  is already stored. A rejected event (outside the sender's subtree, malformed, or an id already
  stored for a different event) does not stop the others.
- 400 the body is not a batch (not JSON, no events, too many): nothing stored.
- 401 unknown node, unknown or retired key, bad signature, timestamp outside the allowed skew.
- 409 the batch id was seen before (a replayed request): nothing stored.
- 413 the body is larger than MAX_BODY_BYTES: nothing stored (send smaller batches).

Reconciliation (`POST <upstream>/api/sync/v1/reconcile`, signed the same way): body
`{"since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}` (both days included, at most 366 days) answers the
receiver's cells for events that came from the caller: `{"cells": [{"tenant_code", "day", "count",
"checksum"}, …]}`; with `"cells": [[tenant_code, day], …]` (at most 1000, within the caller's subtree)
in the body it answers `{"event_ids": {"<tenant>|<day>": […]}}`, each list sorted; `{"highest_sequence": true}`
answers `{"highest_sequence": n}`, the highest <seq> of the events held with the caller as their origin
(0 if none) — a node restored from a backup numbers its new events after it (`govhall sync after-restore`).
Days are China days (UTC+8) of `occurred_at`; a cell's checksum is `cell_checksum` of its event ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

import orjson

BATCHES_PATH = "/api/sync/v1/batches"
RECONCILE_PATH = "/api/sync/v1/reconcile"
MAX_BATCH = 5000
MAX_BODY_BYTES = 32 * 1024 * 1024  # a batch of MAX_BATCH case events is ~6–12 MB
NODE_HEADER = "X-GovHall-Node"
KEY_ID_HEADER = "X-GovHall-Key-Id"
TIMESTAMP_HEADER = "X-GovHall-Timestamp"
SIGNATURE_HEADER = "X-GovHall-Signature"
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
EVENT_FIELDS = ("event_id", "tenant_code", "aggregate_type", "aggregate_id", "aggregate_seq", "type",
                "payload_version", "payload", "occurred_at")
CHINA = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991: a fixed offset is exact


def signature(secret: str, node_id: str, key_id: str, timestamp: int | str, body: bytes) -> str:
    message = f"{node_id}\n{key_id}\n{timestamp}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, node_id: str, key_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        NODE_HEADER: node_id,
        KEY_ID_HEADER: key_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, node_id, key_id, timestamp, body),
    }


def signature_matches(secret: str, node_id: str, key_id: str, timestamp: str, body: bytes, given: str) -> bool:
    """Constant-time comparison: the time taken must not reveal how much of a guess was right."""
    return hmac.compare_digest(signature(secret, node_id, key_id, timestamp, body), given)


def china_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(CHINA).date()


def cell_checksum(event_ids: Iterable[str]) -> str:
    """SHA-256 over the sorted event ids of one (place, day) cell, one per line."""
    return hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()


def event_json(row: Any, event_id: str) -> dict[str, Any]:
    """The wire form of an outbox or received row (both have the same attribute names)."""
    return {
        "event_id": event_id, "tenant_code": row.tenant_code, "aggregate_type": row.aggregate_type,
        "aggregate_id": row.aggregate_id, "aggregate_seq": row.aggregate_seq, "type": row.type,
        "payload_version": row.payload_version, "payload": row.payload,
        "occurred_at": row.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
    }


def local_event_id(node_id: str, row_id: int) -> str:
    return f"{node_id}:{row_id}"


class JSONText(str):
    """A JSON document kept as the text it arrived in (a received payload, stored as it was sent)."""

    __slots__ = ()


def json_text(value: Any) -> str:
    """Compact JSON text of a decoded document, as stored and sent (JSONText as it is). orjson is an order
    of magnitude faster than the standard encoder on the hot paths (a batch stores 500 payloads); the few
    values it refuses (integers beyond 64 bits, lone surrogates) go through the standard encoder instead."""
    if isinstance(value, JSONText):
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
