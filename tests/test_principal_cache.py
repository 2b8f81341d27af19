"""The per-worker token cache: remembered for at most its TTL, never past the token's expiry."""

from __future__ import annotations

from datetime import timedelta

from app.core.auth import Principal, PrincipalCache
from app.core.db import utcnow

WHO = Principal(1, "lx_admin", "孙海涛", "370102000000", (("370102000000", "county_admin", "", True),))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entry_lives_for_the_ttl_only():
    """Is a principal served from the cache within the TTL and looked up again after it?"""
    clock = Clock()
    cache = PrincipalCache(ttl=10, clock=clock)
    cache.put("k", WHO, utcnow() + timedelta(days=1))
    clock.now += 9.9
    assert cache.get("k") is WHO
    clock.now += 0.2
    assert cache.get("k") is None


def test_entry_never_outlives_the_token():
    """Does a token that expires in 2 s stay cached for 2 s, not the 10 s TTL?"""
    clock = Clock()
    cache = PrincipalCache(ttl=10, clock=clock)
    cache.put("k", WHO, utcnow() + timedelta(seconds=2))
    clock.now += 3
    assert cache.get("k") is None


def test_zero_ttl_disables_and_size_is_bounded():
    """Does ttl=0 cache nothing, and does a full cache evict its oldest entry?"""
    off = PrincipalCache(ttl=0)
    off.put("k", WHO, utcnow() + timedelta(days=1))
    assert off.get("k") is None
    small = PrincipalCache(ttl=10, size=2)
    for key in ("a", "b", "c"):
        small.put(key, WHO, utcnow() + timedelta(days=1))
    assert small.get("a") is None and small.get("b") is WHO and small.get("c") is WHO


def test_api_answers_from_the_cache_without_token_queries(app):
    """With the cache on, does a second API call skip the token and grant lookups?"""
    from app import create_app
    from tests.conftest import QueryCounter, bearer, make_settings

    cached_app = create_app(make_settings(app.config["GOVHALL_SETTINGS"].database_url, token_cache_seconds=30))
    try:
        client, headers = cached_app.test_client(), bearer(cached_app, "lx_admin")
        path = "/api/v1/tenants/370102001000/items"
        with QueryCounter(cached_app) as first:
            assert client.get(path, headers=headers).status_code == 200
        with QueryCounter(cached_app) as second:
            assert client.get(path, headers=headers).status_code == 200
        assert first.count - second.count == 2  # the token+staff query and the grants query
    finally:
        cached_app.extensions["govhall.engine"].dispose()
