"""Concurrent appends on the real databases: one chain never forks; on PostgreSQL two places never
wait on each other (SQLite lets one writer in at a time for the whole database).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.audit import AuditEvent, record, verify
from app.core.tenancy import Scope, set_scope
from tests.test_audit import TOWN_A, TOWN_B, build_chain, is_postgres

HOLD = 0.6  # seconds the first transaction keeps the head locked


@pytest.fixture
def sessions(app) -> Iterator[Callable[[], Session]]:
    """Makes system-scope sessions of the test's database, each on its own connection."""
    factory = app.extensions["govhall.sessions"]
    yield lambda: set_scope(factory(), Scope.system())


def append(session: Session, place: str, actor: str) -> AuditEvent:
    return record(session, tenant_code=place, kind="case.accepted", actor=actor, subject_type="case",
                  subject_id=1)


class Worker(threading.Thread):
    """Runs `work` in its own thread and keeps its result or exception for the test to inspect."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.result = self.work()
        except BaseException as exc:  # handed to the test thread
            self.error = exc
        self.seconds = time.monotonic() - started

    def outcome(self) -> Any:
        self.join(30)
        assert not self.is_alive(), "worker still blocked"
        if self.error is not None:
            raise self.error
        return self.result


def committed_append(factory: Callable[[], Session], place: str, actor: str) -> tuple[int, str]:
    session = factory()
    try:
        event = append(session, place, actor)
        session.commit()
        return event.seq, event.prev_hash
    finally:
        session.close()  # rolls back whatever did not commit


@pytest.mark.parametrize("existing", [0, 3], ids=["first event of the place", "chain with a head"])
def test_second_append_waits_for_the_first(sessions, system_session, existing):
    """While one transaction has appended to a place's chain and not yet committed, does a second
    one wait, then append after it (seq n+1 linked to its hash), instead of forking the chain?"""
    if existing:
        build_chain(system_session, TOWN_A, existing)
    first = sessions()
    try:
        mine = append(first, TOWN_A, "clerk_1")
        second = Worker(lambda: committed_append(sessions, TOWN_A, "clerk_2"))
        second.start()
        time.sleep(HOLD)
        assert second.is_alive(), "the second append did not wait for the first transaction"
        first.commit()
        seq, prev_hash = second.outcome()
    finally:
        first.close()
    assert (mine.seq, seq, prev_hash) == (existing + 1, existing + 2, mine.hash)
    assert second.seconds >= HOLD * 0.9
    assert verify(system_session).ok


@pytest.mark.postgres
def test_other_places_do_not_wait(sessions, system_session):
    """While town A's chain is locked by an open transaction, can town B append at once?"""
    if not is_postgres(system_session):
        pytest.skip("needs PostgreSQL: SQLite has one writer per database, whatever the place")
    build_chain(system_session, TOWN_A, 1)
    first = sessions()
    try:
        append(first, TOWN_A, "clerk_a")
        other = Worker(lambda: committed_append(sessions, TOWN_B, "clerk_b"))
        other.start()
        assert other.outcome() == (1, "0" * 64)
        assert other.seconds < HOLD
        first.commit()
    finally:
        first.close()
    assert verify(system_session).ok


def test_racing_threads_never_fork(sessions, system_session):
    """Do eight threads appending 25 events each to one new chain, all at once, each in its own
    transaction, end with seq 1…200, every prev_hash distinct and the chain intact?"""
    threads, each = 8, 25
    start = threading.Barrier(threads)

    def work(n: int) -> list[int]:
        start.wait()
        return [committed_append(sessions, TOWN_A, f"clerk_{n}")[0] for _ in range(each)]

    workers = [Worker(lambda n=n: work(n)) for n in range(threads)]
    for worker in workers:
        worker.start()
    seqs = sorted(seq for worker in workers for seq in worker.outcome())
    assert seqs == list(range(1, threads * each + 1))
    rows = system_session.execute(select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
                                  .where(AuditEvent.tenant_code == TOWN_A).order_by(AuditEvent.seq)).all()
    assert len({row.prev_hash for row in rows}) == len(rows) == threads * each
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(rows))
    report = verify(system_session)
    assert report.ok and report.events == threads * each
