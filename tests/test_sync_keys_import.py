"""`govhall sync node ensure`: registering a node with a key kept in the ops vault, idempotently."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.sync import protocol
from app.sync.cli import sync_group
from app.sync.models import SyncNode, SyncNodeKey
from tests.conftest import LICHENG, LIXIA
from tests.test_sync_receiver import body_of, event

SECRET = "vault-kept-secret-0123456789-abcdefghij"


def ensure(app, *args, secret=SECRET):
    return app.test_cli_runner().invoke(sync_group, ["node", "ensure", *args], input=secret + "\n")


def keys(session, node_id):
    session.expire_all()
    return {k.key_id: (k.secret, k.retired_at is None)
            for k in session.scalars(select(SyncNodeKey).where(SyncNodeKey.node_id == node_id))}


def test_ensure_registers_then_reports_unchanged_then_adds_a_second_key(app, system_session):
    first = ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", "lixia-2026a")
    assert first.exit_code == 0 and first.output.strip() == "registered", first.output
    assert keys(system_session, "node-lixia") == {"lixia-2026a": (SECRET, True)}  # no random extra key
    again = ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", "lixia-2026a")
    assert again.exit_code == 0 and again.output.strip() == "unchanged"
    rotated = ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", "lixia-2026b", secret=SECRET[::-1])
    assert rotated.output.strip() == "key added"
    assert set(keys(system_session, "node-lixia")) == {"lixia-2026a", "lixia-2026b"}


def test_a_batch_signed_with_the_imported_key_is_accepted(app, client):
    assert ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", "lixia-2026a").exit_code == 0
    body = body_of([event("node-lixia", 1)])
    headers = protocol.signed_headers(SECRET, "node-lixia", "lixia-2026a", body, int(time.time()))
    answer = client.post(protocol.BATCHES_PATH, data=body, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["results"][0]["status"] == "accepted"


@pytest.mark.parametrize(("args", "secret", "message"), [
    (["--key-id", "bad id"], SECRET, "--key-id"),
    (["--key-id", "ok-id"], "short", "32 to 128 visible ASCII"),
    (["--key-id", "ok-id"], "有中文的密钥" * 8, "32 to 128 visible ASCII"),
])
def test_bad_key_ids_and_secrets_are_refused_and_nothing_is_written(app, system_session, args, secret, message):
    result = ensure(app, "node-lixia", "--subtree", LIXIA, *args, secret=secret)
    assert result.exit_code != 0 and message in result.output
    assert system_session.get(SyncNode, "node-lixia") is None


def test_a_different_subtree_or_a_reused_key_id_is_refused(app, system_session):
    assert ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", "lixia-2026a").exit_code == 0
    moved = ensure(app, "node-lixia", "--subtree", LICHENG, "--key-id", "lixia-2026a")
    assert moved.exit_code != 0 and f"registered for {LIXIA}, not {LICHENG}" in moved.output
    stolen = ensure(app, "node-licheng", "--subtree", LICHENG, "--key-id", "lixia-2026a")
    assert stolen.exit_code != 0 and "already used" in stolen.output
    assert system_session.get(SyncNode, "node-licheng") is None  # the refused registration left nothing
    changed = ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", "lixia-2026a", secret=SECRET + "x")
    assert changed.exit_code != 0 and "already used" in changed.output
    assert keys(system_session, "node-lixia") == {"lixia-2026a": (SECRET, True)}


def test_a_third_active_key_is_refused(app):
    for index in range(2):
        assert ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", f"k{index}", secret=SECRET + str(index)) \
            .exit_code == 0
    third = ensure(app, "node-lixia", "--subtree", LIXIA, "--key-id", "k2", secret=SECRET + "2")
    assert third.exit_code != 0 and "retire one first" in third.output
