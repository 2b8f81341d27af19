"""Authentication: password hashing (Argon2id), login throttling, ending sessions, API bearer tokens.

Looking up an account happens before a scope is known, so these queries skip the tenant
scope on purpose; they return only the account itself, never tenant data.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, ForeignKey, Integer, Select, String, delete, exists, func, select, update
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from app.core.db import Base, UTCDateTime, utcnow
from app.core.tenancy import SKIP_SCOPE, Scope, is_within
from app.halls.models import RoleGrant, Staff

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so timing does not reveal which accounts
    exist. Made on first use: hashing at import would slow every CLI command and worker start."""
    return _hasher.hash("not-a-real-password")


UNSCOPED = {SKIP_SCOPE: True}
# Failures from one address across all usernames before it is locked out (password spraying).
# A hall behind one NAT address shares it: 20 is four people's worth of full per-account lockouts.
ADDRESS_MAX_FAILURES = 20


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """A login attempt, kept for throttling (shared by every app process through the database).
    Successes are kept too: failures before a person's last successful login no longer count."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), index=True)
    remote_addr: Mapped[str] = mapped_column(String(45), index=True)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LoginThrottled(Exception):
    def __init__(self, retry_after_minutes: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_minutes} minutes")
        self.retry_after_minutes = retry_after_minutes


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def find_staff(session: Session, username: str) -> Staff | None:
    return session.scalars(
        select(Staff).where(Staff.username == username, Staff.active.is_(True)), execution_options=UNSCOPED
    ).one_or_none()


def find_account(session: Session, username: str) -> Staff | None:
    """The account whether active or not (for the commands that switch it on and off)."""
    return session.scalars(select(Staff).where(Staff.username == username), execution_options=UNSCOPED).one_or_none()


def get_staff(session: Session, staff_id: int) -> Staff | None:
    staff = session.get(Staff, staff_id, execution_options=UNSCOPED)
    return staff if staff is not None and staff.active else None


@dataclass(frozen=True)
class Throttle:
    """Failures count per (username, address): someone guessing from one address locks only
    that pair, never the person at their own desk. `address_max_failures` across all usernames
    stops one address from trying a common password on every account (password spraying).
    A failure stops counting once that username has signed in successfully after it."""

    max_failures: int
    window: timedelta
    address_max_failures: int = ADDRESS_MAX_FAILURES

    def pair_failures(self, session: Session, username: str, remote_addr: str) -> int:
        query = self._counted_failures().where(LoginAttempt.username == username,
                                               LoginAttempt.remote_addr == remote_addr)
        return session.scalar(query) or 0

    def address_failures(self, session: Session, remote_addr: str) -> int:
        return session.scalar(self._counted_failures().where(LoginAttempt.remote_addr == remote_addr)) or 0

    def is_locked(self, session: Session, username: str, remote_addr: str) -> bool:
        return (self.pair_failures(session, username, remote_addr) >= self.max_failures
                or self.address_failures(session, remote_addr) >= self.address_max_failures)

    def _counted_failures(self) -> Select[Any]:
        later = aliased(LoginAttempt)
        signed_in_since = exists().where(later.username == LoginAttempt.username, later.success.is_(True),
                                         later.at > LoginAttempt.at)
        return select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.success.is_(False), LoginAttempt.at >= utcnow() - self.window, ~signed_in_since)


def authenticate(session: Session, throttle: Throttle, username: str, password: str, remote_addr: str) -> Staff | None:
    """Return the staff member, or None after recording a failure. Raises LoginThrottled when
    this username from this address, or this address overall, has too many recent failures
    (checked before the password, so guessing stops)."""
    remote_addr = remote_addr[:45]  # the column's width; a proxy's header is not validated
    if throttle.is_locked(session, username, remote_addr):
        raise LoginThrottled(int(throttle.window.total_seconds() // 60))
    staff = find_staff(session, username)
    if staff is not None and _password_matches(staff.password_hash, password):
        session.add(LoginAttempt(username=username, remote_addr=remote_addr, success=True))
        return staff
    if staff is None:
        _password_matches(None, password)
    session.add(LoginAttempt(username=username, remote_addr=remote_addr, success=False))
    return None


def end_sessions(session: Session, staff_id: int) -> None:
    """Make every session cookie issued to this person so far unusable (logout, new password,
    deactivation). An account-level change like the login lookups, so it bypasses the tenant
    scope: a plain SQL UPDATE of this one row (also atomic, so concurrent sign-outs do not race),
    which the scope hooks do not see (an auditor's read-only scope must still be able to sign out)."""
    bump = update(Staff).where(Staff.id == staff_id).values(session_version=Staff.session_version + 1)
    session.connection().execute(bump)


def deactivate(session: Session, staff: Staff) -> int:
    """Switch the account off: no sign-in, every session cookie ended, every API token deleted.
    Returns the number of tokens deleted. (Workers may still answer a deleted token from their
    principal cache for up to `token_cache_seconds`.)"""
    staff.active = False
    end_sessions(session, staff.id)
    deleted = session.connection().execute(delete(ApiToken).where(ApiToken.staff_id == staff.id))
    return deleted.rowcount


def tokens_of(session: Session, staff: Staff) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.staff_id == staff.id).order_by(ApiToken.id)
    return list(session.scalars(query, execution_options=UNSCOPED))


def revoke_token(session: Session, token_id: int) -> Staff | None:
    """Delete one API token; returns whose it was, or None when there is no such token."""
    token = session.get(ApiToken, token_id, execution_options=UNSCOPED)
    if token is None:
        return None
    owner = session.get(Staff, token.staff_id, execution_options=UNSCOPED)
    session.delete(token)
    return owner


def issue_token(session: Session, staff: Staff, ttl: timedelta) -> str:
    """Create a bearer token; the plain value is shown once and never stored."""
    token = "ghk_" + secrets.token_urlsafe(32)
    session.add(ApiToken(staff_id=staff.id, token_hash=digest(token), expires_at=utcnow() + ttl))
    return token


def staff_for_token(session: Session, token: str) -> tuple[Staff, datetime] | None:
    """The active staff member a live token belongs to, with the token's expiry (one query)."""
    query = (
        select(Staff, ApiToken.expires_at)
        .join(ApiToken, ApiToken.staff_id == Staff.id)
        .where(ApiToken.token_hash == digest(token), Staff.active.is_(True))
    )
    row = session.execute(query, execution_options=UNSCOPED).one_or_none()
    if row is None or row[1] < utcnow():
        return None
    return row[0], row[1]


class PrincipalCache:
    """Who a bearer token belongs to, remembered per process for a few seconds.

    Resolving a token costs two queries on every API call; department systems call in bursts.
    A revoked token, deactivated account or changed role takes effect within `ttl` seconds
    (0 disables the cache). Bounded, oldest entries evicted first."""

    def __init__(self, ttl: float, size: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        # One cache per worker process, shared by its threads (gunicorn gthread): OrderedDict
        # updates are not atomic (move_to_end and eviction while another thread inserts).
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self.clock():
                self._entries.pop(key, None)
                return None
            return entry[1]

    def put(self, key: str, principal: Principal, token_expires_at: datetime) -> None:
        if self.ttl <= 0:
            return
        seconds_left = (token_expires_at - utcnow()).total_seconds()
        with self._lock:
            self._entries[key] = (self.clock() + min(self.ttl, seconds_left), principal)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def principal_for_token(session: Session, token: str, cache: PrincipalCache) -> Principal | None:
    key = digest(token)
    cached = cache.get(key)
    if cached is not None:
        return cached
    found = staff_for_token(session, token)
    if found is None:
        return None
    principal = Principal.load(session, found[0])
    cache.put(key, principal, found[1])
    return principal


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def grants_of(session: Session, staff_id: int) -> list[RoleGrant]:
    """All of a person's role grants, wherever they are (needed to build the scope itself)."""
    query = select(RoleGrant).where(RoleGrant.staff_id == staff_id).order_by(RoleGrant.id)
    return list(session.scalars(query, execution_options=UNSCOPED))


@dataclass(frozen=True)
class Principal:
    """The signed-in person with the grants that decide what they see and may do."""

    staff_id: int
    username: str
    name: str
    home_code: str
    grants: tuple[tuple[str, str, str, bool], ...]  # (tenant_code, role, department_code, subtree)

    @classmethod
    def load(cls, session: Session, staff: Staff) -> Principal:
        grants = tuple((g.tenant_code, g.role, g.department_code, g.subtree) for g in grants_of(session, staff.id))
        return cls(staff.id, staff.username, staff.name, staff.tenant_code, grants)

    @property
    def scope(self) -> Scope:
        """Everything the grants cover; read-only for someone who only audits."""
        writable = any(role != "auditor" for _code, role, _dept, _subtree in self.grants)
        return Scope.of_places(((code, subtree) for code, _role, _dept, subtree in self.grants), writable=writable)

    @property
    def roles(self) -> set[str]:
        return {role for _code, role, _dept, _subtree in self.grants}

    def has_role_at(self, code: str, *roles: str) -> bool:
        """Does a grant of one of `roles` cover the place `code`?"""
        return any(
            role in roles and (granted == code or (subtree and is_within(code, granted)))
            for granted, role, _dept, subtree in self.grants
        )
