"""Tables of upward sync: the sender's outbox and state, the receiver's registry, store and read models.

Global event ids are "<origin node id>:<origin sequence>". An event made on this node is stored with
`event_id` NULL and its id is derived from this node's `node_id` setting and the row id (so making
an event costs one INSERT, not an INSERT and an UPDATE); an event relayed from below keeps the id it
arrived with. `node_id` must therefore never change once a node has made events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime, utcnow
from app.core.tenancy import TenantOwned

UNSENT = text("sent_at IS NULL")


class OutboxEvent(TenantOwned, Base):
    """One reportable change, written in the same transaction as the change itself."""

    __tablename__ = "sync_outbox"
    __table_args__ = (
        # The sender's queue: unsent events in id order, from a small partial index.
        Index("ix_sync_outbox_unsent", "id", sqlite_where=UNSENT, postgresql_where=UNSENT),
        # Reconciliation counts events per place and day.
        Index("ix_sync_outbox_place_time", "tenant_code", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(80), unique=True)  # relayed events only
    tenant_code: Mapped[str] = mapped_column(String(12))
    aggregate_type: Mapped[str] = mapped_column(String(20))  # case | tenant | implementation_list
    aggregate_id: Mapped[str] = mapped_column(String(60))  # case number, division code …
    aggregate_seq: Mapped[int] = mapped_column(Integer)  # 1, 2, … per aggregate: receivers order by it
    type: Mapped[str] = mapped_column(String(40))  # case.accepted, tenant.changed …
    payload_version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What the upstream answered for this event: accepted | duplicate | rejected (with its reason).
    upstream_status: Mapped[str] = mapped_column(String(10), default="")
    upstream_reason: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[OutboxPayload] = relationship(lazy="joined", cascade="all, delete-orphan")
    payload: AssociationProxy[dict[str, Any]] = association_proxy(
        "body", "payload", creator=lambda payload: OutboxPayload(payload=payload))


class OutboxPayload(Base):
    """An outbox event's payload, kept apart from the row the sender marks: marking rewrites the whole
    row, thousands a second while a backlog drains, and a row without its kilobyte of payload is a
    tenth of the work (SQLite rewrites the pages, PostgreSQL copies the tuple)."""

    __tablename__ = "sync_outbox_payloads"

    id: Mapped[int] = mapped_column(ForeignKey("sync_outbox.id", ondelete="CASCADE"), primary_key=True,
                                    autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class AggregateHead(Base):
    """The last sequence number given to an aggregate's events (one row per case, place …)."""

    __tablename__ = "sync_aggregate_heads"

    aggregate_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    aggregate_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class SenderState(Base):
    """The single row of the sender's state: retry schedule, outcome of the last attempt, the lease
    that keeps a second sender on the same database from running."""

    __tablename__ = "sync_sender_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SendAttempt(Base):
    """One batch sent (or tried): the record ops read when the backlog grows."""

    __tablename__ = "sync_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # ok | error
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")


class SyncNode(Base):
    """A node below this one, registered by this node's admin: it may report for `subtree_code` and
    everything under it, and nothing else."""

    __tablename__ = "sync_nodes"

    node_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    subtree_code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_contact_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    events_received: Mapped[int] = mapped_column(Integer, default=0)
    # The node's own backlog as it said in its last batch: what the provincial hall shows per node.
    reported_backlog: Mapped[int] = mapped_column(Integer, default=0)
    reported_oldest_unsent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SyncNodeKey(Base):
    """A node's HMAC key. Rotation adds a key; both stay valid until the old one is retired, so the
    node can switch its config without losing a batch."""

    __tablename__ = "sync_node_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("sync_nodes.node_id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    # Kept as is: checking an HMAC needs the secret itself (unlike a password or a bearer token).
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SeenBatch(Base):
    """Batches accepted recently, by the sender's batch id: a captured request sent again (a replay)
    is refused. A genuine resend is a new batch with a new id and timestamp."""

    __tablename__ = "sync_seen_batches"

    node_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ReceivedEvent(TenantOwned, Base):
    """An event a node below reported, stored once by its global id."""

    __tablename__ = "sync_received"
    __table_args__ = (Index("ix_sync_received_from_time", "from_node", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    from_node: Mapped[str] = mapped_column(String(60))  # the node that sent it here (not the origin)
    tenant_code: Mapped[str] = mapped_column(String(12))
    aggregate_type: Mapped[str] = mapped_column(String(20))
    aggregate_id: Mapped[str] = mapped_column(String(60))
    aggregate_seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    payload_version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RejectedEvent(Base):
    """An event refused on arrival, with the reason, for the admin to see (not tenant-scoped: its
    tenant code may be the very thing that is wrong)."""

    __tablename__ = "sync_rejected"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_node: Mapped[str] = mapped_column(String(60), index=True)
    event_id: Mapped[str] = mapped_column(String(200))
    tenant_code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseIndexEntry(TenantOwned, Base):
    """Province-wide case index: the latest known state of every reported case, by number.

    Updated only by an event with a higher aggregate sequence than `last_seq`, so events that arrive
    out of order leave the same result as events in order."""

    __tablename__ = "sync_case_index"

    number: Mapped[str] = mapped_column(String(26), primary_key=True)
    origin_node: Mapped[str] = mapped_column(String(60))
    last_seq: Mapped[int] = mapped_column(Integer)
    last_type: Mapped[str] = mapped_column(String(40))
    # The received event of `last_seq`, whose payload holds the case as of then. The index keeps no copy:
    # copying every snapshot doubled what a batch writes.
    event_id: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[ReceivedEvent | None] = relationship(
        primaryjoin="foreign(CaseIndexEntry.event_id) == ReceivedEvent.event_id", viewonly=True)

    @property
    def snapshot(self) -> dict[str, Any]:
        """The case as of event `last_seq` (empty if that event is no longer held here)."""
        case = self.event.payload.get("case") if self.event is not None else None
        return case if isinstance(case, dict) else {}


class PlaceDayCount(TenantOwned, Base):
    """Events per place, China day and event type: counting is order-independent, and each event
    is counted exactly once because it is stored exactly once."""

    __tablename__ = "sync_place_day_counts"

    tenant_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    type: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
