"""Reconciliation (对账): compare what this node sent upward with what its upstream holds from it, per
place and China day, and queue again whatever the upstream lacks.

Both sides summarise a (place, day) cell as a count and a checksum of its event ids
(protocol.cell_checksum). Only cells that differ are examined event by event, so a month of matching
history costs one request. Events the upstream lacks are marked unsent again; the sender delivers
them like any other (a resend of something the upstream does have is just a duplicate). Events the
upstream holds that this node never sent cannot be repaired from here: they are listed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.sync import protocol
from app.sync.models import OutboxEvent
from app.sync.sender import BadAnswer, SenderConfig, post_signed

Cell = tuple[str, dt.date]  # (tenant code, China day)
MAX_CELLS_PER_REQUEST = 200
MAX_DAYS = 366


class ReconcileError(Exception):
    """The upstream could not be asked, or answered something that is not a reconciliation."""


@dataclass(frozen=True)
class Mismatch:
    tenant_code: str
    day: dt.date
    local: int
    upstream: int
    missing_upstream: int = 0  # sent from here, not held there: queued again
    unknown_here: int = 0  # held there as ours, never made here


@dataclass
class Report:
    cells: int = 0
    matching: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    requeued: int = 0


def reconcile(session: Session, config: SenderConfig, since: dt.date, until: dt.date,
              http: requests.Session | None = None) -> Report:
    """Compare [since, until] with the upstream and queue the missing events again (caller commits)."""
    if since > until:
        raise ReconcileError(f"--since {since} is after --until {until}")
    if (until - since).days >= MAX_DAYS:
        raise ReconcileError(f"reconcile at most {MAX_DAYS} days at a time (the upstream's limit)")
    client = upstream_client(config, http or requests.Session())
    local = local_cells(session, config.node_id, since, until)
    remote = client.cells(since, until)
    report = Report(cells=len(set(local) | set(remote)))
    differing = sorted(c for c in set(local) | set(remote)
                       if _summary(local.get(c, {})) != remote.get(c, (0, protocol.cell_checksum([]))))
    report.matching = report.cells - len(differing)
    remote_ids = client.event_ids(differing)
    for cell in differing:
        ours, theirs = local.get(cell, {}), set(remote_ids.get(cell, []))
        missing = [row_id for event_id, row_id in ours.items() if event_id not in theirs]
        _requeue(session, missing)
        report.requeued += len(missing)
        report.mismatches.append(Mismatch(cell[0], cell[1], len(ours), remote.get(cell, (0, ""))[0],
                                          len(missing), len(theirs - set(ours))))
    return report


def _summary(ids: dict[str, int]) -> tuple[int, str]:
    return len(ids), protocol.cell_checksum(ids)


def local_cells(session: Session, node_id: str, since: dt.date, until: dt.date) -> dict[Cell, dict[str, int]]:
    """{cell: {event id: outbox row id}} of the events the upstream should hold: sent, and not refused."""
    cells: dict[Cell, dict[str, int]] = defaultdict(dict)
    for row_id, event_id, tenant_code, occurred_at in _sent_rows(session, since, until):
        day = protocol.china_day(occurred_at)
        if since <= day <= until:
            cells[(tenant_code, day)][event_id or protocol.local_event_id(node_id, row_id)] = row_id
    return cells


def _sent_rows(session: Session, since: dt.date, until: dt.date) -> Iterator[Any]:
    low = dt.datetime.combine(since, dt.time(), protocol.CHINA)
    high = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), protocol.CHINA)
    query = (select(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.tenant_code, OutboxEvent.occurred_at)
             .where(OutboxEvent.occurred_at >= low, OutboxEvent.occurred_at < high,
                    OutboxEvent.sent_at.is_not(None), OutboxEvent.upstream_status != protocol.REJECTED)
             .execution_options(yield_per=5000))
    yield from session.execute(query)


def _requeue(session: Session, row_ids: list[int]) -> None:
    for start in range(0, len(row_ids), 500):
        chunk = row_ids[start:start + 500]
        session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(chunk))
                        .values(sent_at=None, upstream_status="", upstream_reason=""))


def upstream_client(config: SenderConfig, http: requests.Session) -> _Client:
    return _Client(config, http)


class _Client:
    """Signed requests to the upstream's reconcile endpoint."""

    def __init__(self, config: SenderConfig, http: requests.Session) -> None:
        self.config, self.http = config, http
        self.url = config.upstream_url + protocol.RECONCILE_PATH

    def cells(self, since: dt.date, until: dt.date) -> dict[Cell, tuple[int, str]]:
        answer = self._post({"since": since.isoformat(), "until": until.isoformat()})
        try:
            return {(c["tenant_code"], dt.date.fromisoformat(c["day"])): (int(c["count"]), str(c["checksum"]))
                    for c in answer["cells"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise ReconcileError(f"the upstream's cells are malformed: {exc!r}") from None

    def event_ids(self, cells: list[Cell]) -> dict[Cell, list[str]]:
        found: dict[Cell, list[str]] = {}
        for start in range(0, len(cells), MAX_CELLS_PER_REQUEST):
            chunk = cells[start:start + MAX_CELLS_PER_REQUEST]
            answer = self._post({"since": min(d for _, d in chunk).isoformat(),
                                 "until": max(d for _, d in chunk).isoformat(),
                                 "cells": [[code, day.isoformat()] for code, day in chunk]})
            try:
                by_key = answer["event_ids"]
                found.update({(code, day): list(by_key.get(f"{code}|{day.isoformat()}", [])) for code, day in chunk})
            except (KeyError, TypeError, AttributeError) as exc:
                raise ReconcileError(f"the upstream's event ids are malformed: {exc!r}") from None
        return found

    def highest_sequence(self) -> int:
        """The highest number among the events the upstream holds with this node as their origin."""
        answer = self._post({"highest_sequence": True})
        highest = answer.get("highest_sequence") if isinstance(answer, dict) else None
        if not isinstance(highest, int) or isinstance(highest, bool) or highest < 0:
            raise ReconcileError(f"the upstream's highest sequence is malformed: {str(answer)[:200]}")
        return highest

    def _post(self, body: dict[str, Any]) -> Any:
        try:
            response = post_signed(self.http, self.config, self.url, json.dumps(body).encode(), int(time.time()))
        except BadAnswer as exc:
            raise ReconcileError(f"upstream unreachable: {exc}") from None
        if response.status_code != 200:
            raise ReconcileError(f"upstream answered {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            raise ReconcileError("the upstream's answer is not JSON") from None
