"""After a node's database is restored from a backup: number its new events after what its upstream holds.

A node's own events are numbered by their outbox row ("<node id>:<row id>"). A restored database numbers
new rows from the backup's highest row again, but events made after the backup may already be at the
upstream under those numbers: the upstream would refuse the new events as ids it holds for other events,
and they would never arrive. `govhall sync after-restore` asks the upstream for the highest number it
holds from this node and writes a `node.restored` event numbered just after it (on PostgreSQL the
sequence is moved past it too), so every later event gets a number the upstream has never seen. The
event tells the upstream's operators when the node was restored and which numbers may be missing here.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.sync.models import OutboxEvent
from app.sync.outbox import emit
from app.sync.reconcile import upstream_client
from app.sync.sender import SenderConfig

RESTORED_PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class Rebase:
    local_highest: int  # the highest outbox row in the restored database
    upstream_highest: int  # the highest number the upstream holds from this node
    marker_id: int | None  # the node.restored event's row, when new events had to move on


def after_restore(session: Session, config: SenderConfig, root_tenant: str,
                  http: requests.Session | None = None) -> Rebase:
    """Ask the upstream, then move this node's numbering past it if needed (the caller commits)."""
    upstream_highest = upstream_client(config, http or requests.Session()).highest_sequence()
    local_highest = int(session.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0))) or 0)
    if upstream_highest <= local_highest:
        return Rebase(local_highest, upstream_highest, None)
    marker_id = upstream_highest + 1
    event = emit(session, tenant_code=root_tenant, aggregate_type="node", aggregate_id=config.node_id,
                 type="node.restored", payload_version=RESTORED_PAYLOAD_VERSION,
                 payload={"node_id": config.node_id, "restored_at": utcnow(), "local_highest": local_highest,
                          "upstream_highest": upstream_highest})
    event.id = marker_id
    session.flush()
    _move_sequence_past(session, marker_id)
    return Rebase(local_highest, upstream_highest, marker_id)


def _move_sequence_past(session: Session, row_id: int) -> None:
    """SQLite numbers the next row after the highest one by itself; PostgreSQL's sequence does not see
    a row inserted with its id given, so it is moved by hand."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT setval(pg_get_serial_sequence('sync_outbox', 'id'), :id)"), {"id": row_id})


def describe(rebase: Rebase, node_id: str) -> str:
    if rebase.marker_id is None:
        return (f"the upstream holds events of {node_id} up to number {rebase.upstream_highest}; this database "
                f"has {rebase.local_highest}: new events already get numbers it has not seen, nothing to do")
    return (f"the upstream holds events of {node_id} up to number {rebase.upstream_highest}, this restored "
            f"database only up to {rebase.local_highest}: wrote event {node_id}:{rebase.marker_id} "
            f"(node.restored) and new events follow it; events {rebase.local_highest + 1}–"
            f"{rebase.upstream_highest} were made after the backup and exist only upstream")
