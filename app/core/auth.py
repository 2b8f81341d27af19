"""Authentication: password hashing (Argon2id), login throttling, API bearer tokens.

Looking up an account happens before a scope is known, so these queries skip the tenant
scope on purpose; they return only the account itself, never tenant data.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

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


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """A failed login, kept for throttling (shared by every app process through the database)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), index=True)
    remote_addr: Mapped[str] = mapped_column(String(45))
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


def get_staff(session: Session, staff_id: int) -> Staff | None:
    staff = session.get(Staff, staff_id, execution_options=UNSCOPED)
    return staff if staff is not None and staff.active else None


@dataclass(frozen=True)
class Throttle:
    max_failures: int
    window: timedelta

    def recent_failures(self, session: Session, username: str) -> int:
        since = utcnow() - self.window
        query = select(func.count()).where(LoginAttempt.username == username, LoginAttempt.at >= since)
        return session.scalar(query) or 0


def authenticate(session: Session, throttle: Throttle, username: str, password: str, remote_addr: str) -> Staff | None:
    """Return the staff member, or None after recording a failure. Raises LoginThrottled when
    the account has too many recent failures (checked before the password, so guessing stops)."""
    if throttle.recent_failures(session, username) >= throttle.max_failures:
        raise LoginThrottled(int(throttle.window.total_seconds() // 60))
    staff = find_staff(session, username)
    if staff is not None and _password_matches(staff.password_hash, password):
        return staff
    if staff is None:
        _password_matches(None, password)
    session.add(LoginAttempt(username=username, remote_addr=remote_addr))
    return None


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

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, principal: Principal, token_expires_at: datetime) -> None:
        if self.ttl <= 0:
            return
        seconds_left = (token_expires_at - utcnow()).total_seconds()
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
