"""Reading a batch off the wire, fast: the events' fields are decoded, their payloads kept as the JSON text
they arrived in (`protocol.JSONText`).

A received payload is only stored (and relayed; a case event's `case` is checked to be an object), never read,
so decoding 500 payloads into Python objects and encoding them again for the database was most of the
parsing cost. msgspec checks the payloads' JSON syntax while it skips over them (every escape, number and
bracket; not UTF-8, which decoding the text checks, nor the range of numbers, which are kept as written).

Only a batch of the expected shape takes this path: any surprise (a missing or unknown field, text that is
not UTF-8, a lone surrogate, a number no float holds outside a payload) returns None, and the receiver reads
the body with the standard library instead, which names the problem per event or refuses the body. (So a
payload number such as 1e400 is stored as written when its batch is well formed, and refuses the body when
the batch goes the slow way: the standard library would read it as infinity, which no JSON column takes.)
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.sync.protocol import JSONText


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    """protocol.EVENT_FIELDS, each required; validation.check_event checks the values."""

    event_id: Any
    tenant_code: Any
    aggregate_type: Any
    aggregate_id: Any
    aggregate_seq: Any
    type: Any
    payload_version: Any
    payload: msgspec.Raw
    occurred_at: Any


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    batch_id: Any
    events: list[_Event]
    sender: Any = None


class _CasePayload(msgspec.Struct):
    """The `case` member of a case event's payload; the rest is skipped."""

    case: msgspec.Raw = msgspec.Raw(b"")


_BATCH = msgspec.json.Decoder(_Batch)
_CASE = msgspec.json.Decoder(_CasePayload)
_ERRORS = (msgspec.DecodeError, UnicodeDecodeError)


def decode_batch(body: bytes) -> dict[str, Any] | None:
    """The batch as the standard library would read it, but with each payload as JSONText; None when the
    body is not a batch of well-formed events (the caller reads it the slow way and says what is wrong)."""
    try:
        batch = _BATCH.decode(body)
        events = [_event(event) for event in batch.events]
    except _ERRORS:
        return None
    return {"batch_id": batch.batch_id, "events": events, "sender": batch.sender}


def _event(event: _Event) -> dict[str, Any]:
    fields = msgspec.structs.asdict(event)
    fields["payload"] = JSONText(bytes(event.payload).decode("utf-8"))
    return fields


def is_object(payload: Any) -> bool:
    """Is this payload (decoded, or JSONText) a JSON object?"""
    return isinstance(payload, dict) or (isinstance(payload, JSONText) and payload.startswith("{"))


def case_of(payload: Any) -> Any:
    """A case event's `case` member (JSONText if the payload is text), or None if it has none."""
    if isinstance(payload, dict):
        return payload.get("case")
    if not isinstance(payload, JSONText):
        return None
    raw = bytes(_CASE.decode(str(payload)).case)  # its syntax was checked on the way in
    return JSONText(raw.decode("utf-8")) if raw else None


def readable(payload: Any) -> Any:
    """A payload as a document, to keep with a refused event; text that does not decode stays text."""
    if not isinstance(payload, JSONText):
        return payload
    try:
        return msgspec.json.decode(str(payload))
    except msgspec.DecodeError:
        return str(payload)
