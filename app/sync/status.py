"""How upward sync is doing on this node: the numbers the CLI, the admin page and /healthz show.

Everything here only reads. The backlog is counted on the partial index `ix_sync_outbox_unsent`
(unsent rows only), so the cost follows the backlog, not the size of the outbox. "Oldest unsent"
is the first unsent event in queue (id) order and its age is counted from when it happened
(`occurred_at`): for an event relayed from below that includes the time it took to get here, which
is what the province waits for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.settings import Settings
from app.sync.lease import STATE_ID
from app.sync.models import OutboxEvent, SendAttempt, SenderState
from app.sync.sender import safe_url

HEALTH_COUNT_LIMIT = 100_000  # /healthz counts at most this many unsent events (it is polled)
UNSENT = OutboxEvent.sent_at.is_(None)


@dataclass(frozen=True)
class SyncStatus:
    upstream: str  # the upstream URL without credentials; '' when this node reports to no one
    node_id: str
    backlog: int
    oldest_unsent_at: dt.datetime | None
    oldest_unsent_age_seconds: float | None
    last_attempt_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_error: str
    last_error_at: dt.datetime | None
    consecutive_failures: int
    next_attempt_at: dt.datetime | None
    lease_owner: str  # the sender holding the lease ('' when none; an expired lease counts as none)
    lease_until: dt.datetime | None

    @property
    def error_is_current(self) -> bool:
        """Did the last attempt fail (rather than an old error followed by successes)?"""
        return self.consecutive_failures > 0

    def as_json(self) -> dict[str, Any]:
        return {key: _json_value(value) for key, value in asdict(self).items()}


def sync_status(session: Session, settings: Settings, now: dt.datetime | None = None) -> SyncStatus:
    """Backlog, oldest unsent event and the sender's state (the caller's session: system scope)."""
    now = now or utcnow()
    backlog = int(session.scalar(select(func.count()).select_from(OutboxEvent).where(UNSENT)) or 0)
    oldest = session.scalar(_oldest_unsent())
    state = session.get(SenderState, STATE_ID)
    lease_live = state is not None and state.lease_until is not None and state.lease_until > now
    return SyncStatus(
        upstream=safe_url(settings.upstream_url) if settings.upstream_url else "",
        node_id=settings.effective_node_id, backlog=backlog, oldest_unsent_at=oldest,
        oldest_unsent_age_seconds=_age(oldest, now),
        last_attempt_at=state.last_attempt_at if state else None,
        last_success_at=state.last_success_at if state else None,
        last_error=state.last_error if state else "", last_error_at=state.last_error_at if state else None,
        consecutive_failures=state.consecutive_failures if state else 0,
        next_attempt_at=state.next_attempt_at if state else None,
        lease_owner=state.lease_owner if state and lease_live else "",
        lease_until=state.lease_until if state and lease_live else None,
    )


def recent_attempts(session: Session, limit: int = 20) -> list[SendAttempt]:
    return list(session.scalars(select(SendAttempt).order_by(SendAttempt.id.desc()).limit(limit)))


# ---------------------------------------------------------------- healthz ---

def health_block(session: Session, settings: Settings, now: dt.datetime | None = None) -> tuple[dict[str, Any], str]:
    """The "sync" block of /healthz and a reason when sync is degraded ('' when fine).

    One statement (scalar subqueries): the capped count and the oldest unsent event read the partial
    index ix_sync_outbox_unsent; the sender's state is one primary-key row."""
    now = now or utcnow()
    capped = select(OutboxEvent.id).where(UNSENT).limit(HEALTH_COUNT_LIMIT + 1).subquery()
    state = select(SenderState).where(SenderState.id == STATE_ID).subquery()
    row = session.execute(select(
        select(func.count()).select_from(capped).scalar_subquery(),
        _oldest_unsent().scalar_subquery(),
        select(state.c.last_success_at).scalar_subquery(),
        select(state.c.last_error).scalar_subquery(),
        select(state.c.last_error_at).scalar_subquery(),
        select(state.c.consecutive_failures).scalar_subquery(),
    )).one()
    counted, oldest, last_success, last_error, last_error_at, failures = row
    oldest = _as_utc(oldest)
    age = _age(oldest, now)
    block = {
        "backlog": min(int(counted or 0), HEALTH_COUNT_LIMIT), "backlog_exact": int(counted or 0) <= HEALTH_COUNT_LIMIT,
        "oldest_unsent_age_seconds": None if age is None else round(age),
        "last_success": _json_value(_as_utc(last_success)),
        "last_error": last_error or "", "last_error_at": _json_value(_as_utc(last_error_at)),
        "consecutive_failures": int(failures or 0),
    }
    lagging = age is not None and age > settings.sync_max_lag_seconds
    reason = (f"sync: oldest unsent event is {round(age or 0)} s old "
              f"(sync_max_lag_seconds {settings.sync_max_lag_seconds:g})") if lagging else ""
    return block, reason


# ---------------------------------------------------------------- helpers ---

def _oldest_unsent() -> Any:
    return select(OutboxEvent.occurred_at).where(UNSENT).order_by(OutboxEvent.id).limit(1)


def _age(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if moment is None else max((now - moment).total_seconds(), 0.0)


def _as_utc(value: Any) -> dt.datetime | None:
    """Scalar subqueries lose the column type: SQLite hands back text, PostgreSQL a datetime."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value
