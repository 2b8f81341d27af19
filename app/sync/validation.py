"""Checks of one reported event before it is stored (protocol.EVENT_FIELDS): a refused event gets a
reason naming the field, and does not stop the rest of its batch.

Beyond types, the checks keep out what would fail the whole batch's transaction in the database
(over-long text, integers past 32 bits, NUL characters, lone surrogates), so that one bad event can
never block a node's queue, and what a node may not report: places outside its registered subtree,
another place's case numbers, events made by this very node.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from app.core.tenancy import CODE_PATTERN, subtree_range
from app.sync import projections, protocol, wire
from app.sync.models import SyncNode

EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}:[0-9]{1,19}")
NAME = re.compile(r"[a-z][a-z0-9_.]*")  # aggregate types and event types: case, case.accepted …
PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]+")
CASE_NUMBER = re.compile(r"[0-9]{26}")
MAX_INT = 2**31 - 1  # INTEGER columns on PostgreSQL
MAX_SEQUENCE = 2**63 - 1  # of an event id: no database numbers rows beyond, and highest_sequence reads a BIGINT
FIELDS = frozenset(protocol.EVENT_FIELDS)
_subtree_range = cache(subtree_range)  # a batch checks hundreds of events against one node's subtree


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def moment_of(value: Any) -> dt.datetime | None:
    """An ISO 8601 time with an offset, in UTC; None if it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo is not None else None


def event_id_of(raw: Any) -> str:
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else ""


def check_event(raw: Any, node: SyncNode, own_node: str, may_hold_surrogates: bool = False
                ) -> tuple[projections.Row | None, str]:
    """The event as a row of sync_received, or None and the reason it is refused."""
    if not isinstance(raw, dict):
        return None, "an event must be a JSON object"
    if raw.keys() != FIELDS:
        return None, _fields_problem(raw)
    for name, check in FIELD_CHECKS:
        problem = check(raw[name])
        if problem:
            return None, f"{name}: {problem}"
    moment = moment_of(raw["occurred_at"])
    if moment is None:
        return None, f"occurred_at: must be an ISO 8601 time with its UTC offset, not {_shown(raw['occurred_at'])}"
    problem = _place_problem(raw, node, own_node)
    if problem:
        return None, problem
    if raw["aggregate_type"] == "case" and not wire.is_object(wire.case_of(raw["payload"])):
        return None, "payload.case: a case event carries the case as an object"
    if may_hold_surrogates and _has_lone_surrogate(raw["payload"]):
        # Neither database stores one, and the whole batch would fail on it, again and again.
        return None, "payload: holds text no database can store (a lone UTF-16 surrogate)"
    row = dict(raw)
    row["occurred_at"] = moment
    return row, ""


def _fields_problem(raw: dict[str, Any]) -> str:
    missing = [name for name in protocol.EVENT_FIELDS if name not in raw]
    if missing:
        return f"missing field(s): {', '.join(missing)}"
    unknown = sorted(set(raw) - FIELDS)
    return f"unknown field(s): {', '.join(map(repr, unknown))[:200]}"


def _place_problem(raw: dict[str, Any], node: SyncNode, own_node: str) -> str:
    """The node's registered subtree is its authorization: nothing outside it is taken from it."""
    code = raw["tenant_code"]
    low, high = _subtree_range(node.subtree_code)
    if not low <= code <= high:
        return f"tenant_code: {code} is outside node {node.node_id}'s subtree {node.subtree_code}"
    if projections.origin_of(raw["event_id"]) == own_node:
        return f"event_id: {raw['event_id']} names this node ({own_node}) as its origin"
    if raw["aggregate_type"] == "case":
        number = raw["aggregate_id"]
        # A case number starts with its place's code: a node cannot touch another place's case.
        if not CASE_NUMBER.fullmatch(number) or not number.startswith(code):
            return f"aggregate_id: {number[:60]!r} is not a case number of place {code}"
    return ""


def _text(pattern: re.Pattern[str], limit: int, what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str) and len(value) <= limit and pattern.fullmatch(value):
            return ""
        return f"must be {what} (at most {limit} characters), not {_shown(value)}"
    return check


def _event_id(value: Any) -> str:
    problem = _EVENT_ID_TEXT(value)
    if not problem and int(value.rpartition(":")[2]) > MAX_SEQUENCE:
        return f"the sequence must be at most {MAX_SEQUENCE}, not {_shown(value)}"
    return problem


def _whole(value: Any) -> str:
    return "" if is_int(value) and 1 <= value <= MAX_INT else f"must be a whole number ≥ 1, not {_shown(value)}"


def _payload(value: Any) -> str:
    return "" if wire.is_object(value) else f"must be a JSON object, not {_shown(value)}"


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _shown(value: Any) -> str:
    value = wire.readable(value)  # a payload kept as text is shown as the slow reading would show it
    return repr(value)[:60] if isinstance(value, str | int | float | bool) or value is None else type(value).__name__


_EVENT_ID_TEXT = _text(EVENT_ID, 80, "'<origin node>:<sequence>'")
FIELD_CHECKS = (
    ("event_id", _event_id),
    ("tenant_code", _text(CODE_PATTERN, 12, "a 12-digit division code")),
    ("aggregate_type", _text(NAME, 20, "a lower-case name such as 'case'")),
    ("aggregate_id", _text(PRINTABLE, 60, "printable text")),
    ("aggregate_seq", _whole),
    ("type", _text(NAME, 40, "a lower-case name such as 'case.accepted'")),
    ("payload_version", _whole),
    ("payload", _payload),
)  # then occurred_at, parsed once for the check and the row
