"""The sender's lease: one row (`sync_sender_state`, id 1) that lets one sender per database send.

Taking it is one atomic UPDATE whose WHERE accepts a free, expired or own lease, so of two senders
racing for it exactly one matches. A sender renews it every sixth of its span while it works (see
`Sender._take_lease`) and gives it back when it stops; one that died holds it until it expires,
except that a sender on the same host takes over at once from a process that no longer exists
(after `kill -9`, a crash, a reboot of the worker).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.core.db import insert_on_conflict
from app.sync.models import SenderState

STATE_ID = 1  # the single row of sync_sender_state


def default_owner() -> str:
    """host:pid:random — the pid lets a sender on the same host take over from a dead one at once."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def take(session: Session, owner: str, now: dt.datetime, seconds: float) -> tuple[bool, str]:
    """Take or renew the lease for `seconds`: (taken, the holder's name when not taken)."""
    until = now + dt.timedelta(seconds=seconds)
    free = or_(SenderState.lease_owner.in_(("", owner)), SenderState.lease_until.is_(None),
               SenderState.lease_until < now)
    if _update(session, free, until, owner):
        return True, ""
    ensure_state_row(session)  # the first sender on this database (or someone else holds the lease)
    if _update(session, free, until, owner):
        return True, ""
    holder = session.scalar(select(SenderState.lease_owner).where(SenderState.id == STATE_ID)) or ""
    if holder and is_dead_local_owner(holder) and _update(session, SenderState.lease_owner == holder, until, owner):
        return True, holder
    return False, holder


def release(session: Session, owner: str) -> None:
    session.execute(update(SenderState).where(SenderState.id == STATE_ID, SenderState.lease_owner == owner)
                    .values(lease_owner="", lease_until=None))


def ensure_state_row(session: Session) -> None:
    """Create the state row if this database has none yet (a second creator finds it there)."""
    insert = insert_on_conflict(session.get_bind().dialect.name, SenderState.__table__)
    session.execute(insert.values(id=STATE_ID, consecutive_failures=0, last_error="", lease_owner="")
                    .on_conflict_do_nothing())


def is_dead_local_owner(owner: str) -> bool:
    """Is `owner` a sender process on this host that no longer exists (killed, crashed)?"""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def _update(session: Session, condition: Any, until: dt.datetime, owner: str) -> bool:
    """One atomic UPDATE: of two senders racing for the row, exactly one matches the condition."""
    result = session.execute(update(SenderState).where(SenderState.id == STATE_ID, condition)
                             .values(lease_owner=owner, lease_until=until)
                             .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]
