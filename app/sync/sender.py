"""The sending side of upward sync: unsent outbox events go upstream in signed batches.

One sender per database: a lease in the single `sync_sender_state` row (id 1), taken by an atomic
UPDATE, keeps a second `govhall sync run` on the same database idle instead of sending too. Each
step is its own short transaction, so no database lock is held while a batch is on the wire.

While a backlog drains (`drain`, used by `sync once` and `sync run`), up to `sync_batches_in_flight`
batches are on the wire at once, posted from worker threads: the upstream checks one batch while it
stores another, and this node reads the next batch and marks the last meanwhile. All database work
stays on the calling thread.

Delivery is at least once: events are marked sent only after the upstream's 200. A crash between
the POST and the marking means the batch goes again later, and the receiver answers those events
as duplicates (stored once by their global id). Failures back off exponentially with full jitter,
capped, and every attempt is recorded in `sync_attempts` for ops (see `app.sync.status`).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import requests
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import session_scope, utcnow
from app.core.settings import Settings
from app.core.tenancy import Scope, set_scope
from app.sync import lease, protocol
from app.sync.lease import STATE_ID
from app.sync.models import SendAttempt, SenderState
from app.sync.queue import Batch, count_unsent, encode_body, mark_sent, read_batch

log = logging.getLogger("govhall.sync")
ATTEMPTS = cast(Table, SendAttempt.__table__)
STATE = cast(Table, SenderState.__table__)

BACKLOG_RECOUNT_SECONDS = 30.0  # the backlog reported upstream is recounted this often, not per batch
MAX_ERROR_TEXT = 300  # an upstream's error body is quoted up to this length
ATTEMPTS_KEPT_DAYS = 30
PRUNE_EVERY_SECONDS = 3600.0
DATABASE_RETRY_SECONDS = 5.0  # `sync run` after its own database failed
MAX_BACKOFF_EXPONENT = 30  # 2**30 × base is past any sensible cap; keeps the float finite


class SyncNotConfigured(Exception):
    """This node has no upstream (`upstream_url` is empty)."""


class BadAnswer(Exception):
    """The upstream answered, but not with what the protocol promises."""


# ------------------------------------------------------------------ config ---

@dataclass(frozen=True, repr=False)
class SenderConfig:
    upstream_url: str  # may carry user:password (basic auth at a proxy): printed through safe_url only
    node_id: str
    key_id: str
    key: str = field(repr=False)  # the HMAC secret: never printed, logged or stored in an error
    batch_size: int = 500
    in_flight: int = 3  # batches on the wire at once while draining
    timeout: float = 10.0
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    idle: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderConfig:
        if not settings.upstream_url:
            raise SyncNotConfigured("setting 'upstream_url' is empty: this node reports to no upstream")
        return cls(
            upstream_url=settings.upstream_url, node_id=settings.effective_node_id,
            key_id=settings.upstream_key_id, key=settings.upstream_key, batch_size=settings.sync_batch_size,
            in_flight=settings.sync_batches_in_flight, timeout=settings.sync_timeout_seconds,
            backoff_base=settings.sync_backoff_base_seconds, backoff_max=settings.sync_backoff_max_seconds,
            idle=settings.sync_idle_seconds,
        )

    def __repr__(self) -> str:
        return (f"SenderConfig(upstream={safe_url(self.upstream_url)}, node_id={self.node_id}, key_id={self.key_id}, "
                f"batch_size={self.batch_size}, timeout={self.timeout:g})")

    @property
    def batches_url(self) -> str:
        return self.upstream_url + protocol.BATCHES_PATH

    @property
    def lease_seconds(self) -> float:
        """Longer than a batch can take (connect + read timeouts) and than an idle pause, since the
        lease is renewed every sixth of it; a sender that died holds it at most this long."""
        return max(60.0, 4 * self.timeout + 2 * self.idle)


def safe_url(url: str) -> str:
    """The URL without any user:password part, for messages and status pages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def backoff_delay(failures: int, base: float, cap: float, jitter: Callable[[float, float], float]) -> float:
    """Full jitter (a uniform pick up to the capped exponential): retries of many nodes after an
    upstream outage spread out instead of arriving together. The first failure waits up to `base`."""
    exponent = min(max(failures - 1, 0), MAX_BACKOFF_EXPONENT)
    return jitter(0.0, min(cap, base * 2**exponent))


# ---------------------------------------------------------------- outcomes ---

SENT, EMPTY, WAITING, BUSY, ERROR = "sent", "empty", "waiting", "busy", "error"


@dataclass(frozen=True)
class Outcome:
    """What one `send_once` did. `more`: unsent events remain after this batch."""

    kind: str  # sent | empty | waiting (backoff) | busy (another sender has the lease) | error
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    more: bool = False
    error: str = ""
    next_attempt_at: dt.datetime | None = None
    lease_owner: str = ""


Answer = list[tuple[str, str]]  # (status, reason) per event, in the order sent


@dataclass(frozen=True)
class InFlight:
    """A batch posted (or being posted) and the time it started, until its answer is recorded."""

    batch: Batch
    batch_id: str
    start: dt.datetime  # `clock` time, for sync_attempts
    started: float  # monotonic, for the duration
    answer: Future[Answer]


def _run_here(post: Callable[..., Answer], *args: Any) -> Future[Answer]:
    """Post on the calling thread (send_once), giving the answer or the failure as a done Future."""
    future: Future[Answer] = Future()
    try:
        future.set_result(post(*args))
    except BadAnswer as exc:
        future.set_exception(exc)
    return future


# ------------------------------------------------------------------ sender ---

class Sender:
    """Sends this node's outbox upstream. Not thread-safe: one per process (the lease makes it one
    per database)."""

    def __init__(self, sessions: sessionmaker[Session], config: SenderConfig, *, owner: str | None = None,
                 http: requests.Session | None = None, clock: Callable[[], dt.datetime] = utcnow,
                 jitter: Callable[[float, float], float] = random.uniform,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.sessions, self.config = sessions, config
        self.owner = owner or lease.default_owner()
        self.http = http or requests.Session()
        self._own_http, self._local = http is None, threading.local()
        # `clock` times the backoff and the lease (stored times); `wall_clock` stamps the signed
        # timestamp the receiver checks against its own clock. Tests move either on its own.
        self.clock, self.jitter, self.wall_clock = clock, jitter, wall_clock
        self._backlog: int | None = None  # the estimate reported upstream (see _backlog_after)
        self._counted_at = 0.0
        self._renewed_at: dt.datetime | None = None  # when this sender last wrote its lease (see _take_lease)
        self._renew_every = dt.timedelta(seconds=config.lease_seconds / 6)

    # --- one batch ---

    def send_once(self, honour_backoff: bool = True) -> Outcome:
        """Send at most one batch: take the lease, honour the backoff, read, sign, POST, record.
        `honour_backoff=False` is for an operator who fixed the cause and says "try now"."""
        with self._session() as session:  # one short transaction: lease, schedule, the batch
            refusal = self._gate(session, honour_backoff)
            if refusal is not None:
                return refusal
            batch = read_batch(session, self.config.node_id, self.config.batch_size)
            backlog = self._backlog_after(session, batch)
        if not batch.ids:
            return Outcome(EMPTY)
        return self._finish(self._dispatch(_run_here, batch, backlog))

    def _gate(self, session: Session, honour_backoff: bool) -> Outcome | None:
        """BUSY if another sender holds the lease, WAITING while a retry is not due; None to go on."""
        now = self.clock()
        holder = self._take_lease(session, now)
        if holder:
            return Outcome(BUSY, lease_owner=holder)
        next_attempt_at = session.scalar(select(SenderState.next_attempt_at).where(SenderState.id == STATE_ID))
        if honour_backoff and next_attempt_at is not None and next_attempt_at > now:
            return Outcome(WAITING, next_attempt_at=next_attempt_at)
        return None

    # --- a backlog, several batches on the wire ---

    def drain(self, honour_backoff: bool = True) -> Iterator[Outcome]:
        """Send batch after batch until the queue is empty or one fails: an Outcome per batch, in the
        order read, then a last one that is EMPTY, BUSY or WAITING — or the ERROR, after the batches
        still on the wire (which may have been stored upstream) are marked. A caller that stops early
        still gets those marked."""
        with self._session() as session:
            refusal = self._gate(session, honour_backoff)
        if refusal is not None:
            yield refusal
            return
        pending: deque[InFlight] = deque()
        with ThreadPoolExecutor(self.config.in_flight, thread_name_prefix="sync-post") as pool:
            try:
                yield from self._pipeline(pool, pending)
            finally:
                while pending:
                    self._finish(pending.popleft(), after_failure=True)

    def _pipeline(self, pool: ThreadPoolExecutor, pending: deque[InFlight]) -> Iterator[Outcome]:
        after, exhausted, last = 0, False, Outcome(EMPTY)
        while True:
            while not exhausted and len(pending) < self.config.in_flight:
                flight, last = self._launch(pool, after)
                if flight is None:
                    exhausted = True
                else:
                    pending.append(flight)
                    after, exhausted = flight.batch.ids[-1], not flight.batch.more
            if not pending:
                yield last
                return
            outcome = self._finish(pending.popleft())
            if outcome.kind == ERROR:
                while pending:
                    yield self._finish(pending.popleft(), after_failure=True)
                yield outcome
                return
            yield outcome

    def _launch(self, pool: ThreadPoolExecutor, after: int) -> tuple[InFlight | None, Outcome]:
        """Read the batch after event id `after` (the ones before are on the wire) and post it from the
        pool; None and why not when the queue is empty or the lease was lost."""
        with self._session() as session:
            holder = self._take_lease(session, self.clock())
            if holder:
                return None, Outcome(BUSY, lease_owner=holder)
            batch = read_batch(session, self.config.node_id, self.config.batch_size, after=after)
            backlog = self._backlog_after(session, batch)
        if not batch.ids:
            return None, Outcome(EMPTY)
        return self._dispatch(pool.submit, batch, backlog), Outcome(EMPTY)

    def _dispatch(self, run: Callable[..., Future[Answer]], batch: Batch, backlog: int) -> InFlight:
        batch_id = secrets.token_hex(16)  # fresh per attempt: the receiver refuses a batch id it has seen
        start, started = self.clock(), time.monotonic()
        return InFlight(batch, batch_id, start, started, run(self._post, batch_id, batch, backlog))

    def _finish(self, flight: InFlight, after_failure: bool = False) -> Outcome:
        """Wait for the upstream's answer and record it. After a failure in the same drain, a success
        is marked but leaves the failure's backoff in place."""
        try:
            results = flight.answer.result()
        except BadAnswer as exc:
            return self._record_failure(flight, str(exc))
        return self._record_success(flight, results, reset_failures=not after_failure)

    def _post(self, batch_id: str, batch: Batch, backlog: int) -> Answer:
        body = encode_body(batch_id, batch, backlog)
        response = post_signed(self._http(), self.config, self.config.batches_url, body, int(self.wall_clock()))
        return parse_answer(response, batch_id, batch.event_ids, safe_url(self.config.batches_url))

    def _http(self) -> requests.Session:
        """The calling thread's HTTP session (requests does not promise one is safe to share); an
        injected one (tests) is used by every thread."""
        if not self._own_http or threading.current_thread() is threading.main_thread():
            return self.http
        if not hasattr(self._local, "http"):
            self._local.http = requests.Session()
        return self._local.http

    # --- the backlog reported upstream ---

    def _backlog_after(self, session: Session, batch: Batch) -> int:
        """The backlog left once this batch is through, as the `sender` block reports it. Counting
        the whole queue for every batch would cost O(backlog²) while draining a large backlog, so the
        count is refreshed every BACKLOG_RECOUNT_SECONDS and decremented in between."""
        if not batch.more:
            self._backlog = None  # empty after this batch: recount next time (new events arrive)
            return 0
        if self._backlog is None or time.monotonic() - self._counted_at > BACKLOG_RECOUNT_SECONDS:
            self._backlog = count_unsent(session)  # batches still on the wire count too: an estimate
            self._counted_at = time.monotonic()
        self._backlog = max(self._backlog - len(batch.ids), 0)
        return self._backlog

    # --- recording ---

    def _record_success(self, flight: InFlight, results: Answer, reset_failures: bool = True) -> Outcome:
        now, batch = self.clock(), flight.batch
        statuses = [status for status, _reason in results]
        counts = {kind: statuses.count(kind) for kind in (protocol.ACCEPTED, protocol.DUPLICATE, protocol.REJECTED)}
        with self._session() as session:  # Core on the session's connection: this runs for every batch
            mark_sent(session, batch.ids, results, now)
            connection = session.connection()
            connection.execute(insert(ATTEMPTS), {
                "batch_id": flight.batch_id, "started_at": flight.start, "duration_ms": _ms_since(flight.started),
                "events": len(batch.ids), "outcome": "ok", "error": "", "accepted": counts[protocol.ACCEPTED],
                "duplicates": counts[protocol.DUPLICATE], "rejected": counts[protocol.REJECTED]})
            success: dict[str, Any] = {"last_attempt_at": now, "last_success_at": now}
            if reset_failures:
                success |= {"consecutive_failures": 0, "next_attempt_at": None}
            connection.execute(update(STATE).where(STATE.c.id == STATE_ID).values(**success))
        if counts[protocol.REJECTED]:
            log.warning("upstream rejected %d of %d events (see sync_outbox.upstream_reason)",
                        counts[protocol.REJECTED], len(batch.ids))
        return Outcome(SENT, events=len(batch.ids), accepted=counts[protocol.ACCEPTED],
                       duplicates=counts[protocol.DUPLICATE], rejected=counts[protocol.REJECTED], more=batch.more)

    def _record_failure(self, flight: InFlight, error: str) -> Outcome:
        now = self.clock()
        with self._session() as session:
            state = session.get(SenderState, STATE_ID, with_for_update=True)
            assert state is not None
            state.consecutive_failures += 1
            delay = backoff_delay(state.consecutive_failures, self.config.backoff_base, self.config.backoff_max,
                                  self.jitter)
            state.next_attempt_at = now + dt.timedelta(seconds=delay)
            state.last_attempt_at, state.last_error, state.last_error_at = now, error, now
            session.add(SendAttempt(batch_id=flight.batch_id, started_at=flight.start,
                                    duration_ms=_ms_since(flight.started), events=len(flight.batch.ids),
                                    outcome="error", error=error))
            failures, next_at = state.consecutive_failures, state.next_attempt_at
        self._backlog = None  # a long outage: recount once it is over
        log.warning("sync batch of %d events failed (%d in a row), next attempt in %.1f s: %s",
                    len(flight.batch.ids), failures, delay, error)
        return Outcome(ERROR, events=len(flight.batch.ids), error=error, next_attempt_at=next_at, more=True)

    # --- the lease ---

    def _take_lease(self, session: Session, now: dt.datetime) -> str:
        """Take or renew the lease; '' when this sender holds it, else the holder's name. A lease renewed
        less than a sixth of its span ago is not written again: only an expired lease passes to another
        sender, and a drain would otherwise write (and commit) the lease row for every batch."""
        if self._renewed_at is not None and self._renewed_at <= now < self._renewed_at + self._renew_every:
            return ""
        taken, holder = lease.take(session, self.owner, now, self.config.lease_seconds)
        if taken and holder:
            log.info("took over the sync lease of %s (that process has exited)", holder)
        self._renewed_at = now if taken else None
        return "" if taken else holder

    def take_lease(self) -> bool:
        """Take or renew the lease on its own (sending does it at every batch)."""
        with self._session() as session:
            return not self._take_lease(session, self.clock())

    def release(self) -> None:
        """Give the lease back (on a clean stop) so another sender can start at once."""
        self._renewed_at = None
        with self._session() as session:
            lease.release(session, self.owner)

    # --- the worker loop ---

    def run(self, stop: threading.Event) -> None:
        """Drain while there is work and no backoff to wait for; otherwise pause. Returns once `stop`
        is set (the batches in flight are finished first), with the lease released."""
        busy_reported, sent, pruned_at = "", 0, -PRUNE_EVERY_SECONDS
        try:
            while not stop.is_set():
                if time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                    self.prune_attempts()
                    pruned_at = time.monotonic()
                last = Outcome(EMPTY)
                for last in self._drain_surviving_the_database(stop):
                    sent += last.events if last.kind == SENT else 0
                if last.kind == BUSY and last.lease_owner != busy_reported:
                    log.info("another sender holds the sync lease (%s): waiting", last.lease_owner)
                busy_reported = last.lease_owner if last.kind == BUSY else ""
                if last.kind == SENT:  # stopped in the middle of a drain
                    continue
                if sent:  # the queue is drained (or a failure interrupted it)
                    log.info("backlog sent: %d event(s) since the last report", sent)
                    sent = 0
                stop.wait(self._pause(last))
        finally:
            self.release()

    def prune_attempts(self) -> int:
        """Forget attempts older than ATTEMPTS_KEPT_DAYS: an idle node records one per small batch,
        tens of thousands a day, and the page and status only read the latest."""
        cutoff = self.clock() - dt.timedelta(days=ATTEMPTS_KEPT_DAYS)
        try:
            with self._session() as session:
                result = session.execute(delete(SendAttempt).where(SendAttempt.started_at < cutoff))
        except DBAPIError:
            return 0  # the send that follows reports the database's state
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _drain_surviving_the_database(self, stop: threading.Event) -> Iterator[Outcome]:
        """A worker outlives a database restart or failover: the drain ends with an ERROR outcome and
        is retried after a pause. Stops between batches once `stop` is set."""
        try:
            for outcome in self.drain():
                yield outcome
                if stop.is_set():
                    return
        except DBAPIError as exc:
            error = f"this node's database: {type(exc.orig).__name__ if exc.orig else type(exc).__name__}"
            log.error("sync: %s; retrying in %.0f s", error, DATABASE_RETRY_SECONDS)
            yield Outcome(ERROR, error=error,
                          next_attempt_at=self.clock() + dt.timedelta(seconds=DATABASE_RETRY_SECONDS))

    def _pause(self, outcome: Outcome) -> float:
        """Until the retry is due after a failure, waking at least every third of the lease to renew it
        (a worker in a long backoff still holds the lease and shows as running); otherwise idle."""
        if outcome.next_attempt_at is None:
            return self.config.idle
        until_retry = (outcome.next_attempt_at - self.clock()).total_seconds()
        return max(min(until_retry, self.config.lease_seconds / 3), 0.0)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A short transaction in the system scope: the sender reads and marks events of every place."""
        with session_scope(self.sessions) as session:
            yield set_scope(session, Scope.system())


# ------------------------------------------------------------ the answer ---

def post_signed(http: requests.Session, config: SenderConfig, url: str, body: bytes,
                timestamp: int) -> requests.Response:
    """POST `body` to the upstream signed with this node's key (batches and reconciliation alike);
    a request that gets no answer at all raises BadAnswer naming why, never the key."""
    headers = protocol.signed_headers(config.key, config.node_id, config.key_id, body, timestamp)
    where = safe_url(url)
    try:
        return http.post(url, data=body, headers=headers, timeout=(config.timeout, config.timeout))
    except requests.Timeout:
        raise BadAnswer(f"{where}: no answer within {config.timeout:g} s (timeout)") from None
    except requests.ConnectionError as exc:
        raise BadAnswer(f"{where}: cannot connect ({_connection_reason(exc)})") from None
    except requests.RequestException as exc:
        raise BadAnswer(f"{where}: request failed ({type(exc).__name__})") from None


def parse_answer(response: requests.Response, batch_id: str, event_ids: Sequence[str],
                 where: str) -> list[tuple[str, str]]:
    """(status, reason) per event, in the order sent; BadAnswer for anything but a well-formed 200."""
    if response.status_code == 413:
        raise BadAnswer(f"{where}: HTTP 413: a batch of {len(event_ids)} events is larger than the upstream takes; "
                        "lower sync_batch_size")
    if response.status_code != 200:
        raise BadAnswer(f"{where}: HTTP {response.status_code}{_error_detail(response)}")
    try:
        document = _json_of(response)
    except ValueError:
        raise BadAnswer(f"{where}: HTTP 200 but the body is not JSON") from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or document.get("batch_id") != batch_id:
        raise BadAnswer(f"{where}: HTTP 200 but not the answer to batch {batch_id}")
    if len(results) != len(event_ids):
        raise BadAnswer(f"{where}: {len(results)} results for {len(event_ids)} events")
    return [_result(result, event_id, where) for result, event_id in zip(results, event_ids, strict=True)]


def _json_of(response: requests.Response) -> Any:
    """orjson reads an answer of 500 results in a third of the time; it refuses a lone surrogate, which an
    answer carries (escaped) only when an event id held one."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.json()


def _result(result: Any, event_id: str, where: str) -> tuple[str, str]:
    if not isinstance(result, dict) or result.get("event_id") != event_id:
        raise BadAnswer(f"{where}: the results are not in the order sent (expected {event_id})")
    status = result.get("status")
    if status not in (protocol.ACCEPTED, protocol.DUPLICATE, protocol.REJECTED):
        raise BadAnswer(f"{where}: unknown status {str(status)[:40]!r} for {event_id}")
    return str(status), str(result.get("reason") or "")


def _error_detail(response: requests.Response) -> str:
    """The upstream's own error message (it names the problem: bad signature, unknown node …)."""
    try:
        message = response.json().get("error")
    except (ValueError, AttributeError):
        message = None
    text = str(message) if message else response.reason or ""
    return f": {text[:MAX_ERROR_TEXT]}" if text else ""


def _connection_reason(exc: requests.ConnectionError) -> str:
    """A short reason without the URL (it may carry credentials) or the library's retry chatter."""
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "Connection reset", "Network is unreachable",
                  "Temporary failure in name resolution", "Remote end closed connection"):
        if known in text:
            return known.lower()
    return type(exc).__name__


# ------------------------------------------------------------------ writes ---

def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
