"""The registry of child nodes: which nodes may report to this one, for which subtree, with which keys.

A child node reports for one place below this node's root and everything under it (a city reports
to the province, a county to its city). Each node has HMAC keys: rotation adds a key and keeps the
previous one valid, so the child can switch its configuration without losing a batch; at most two
keys are active at a time. The secret is shown once, when the key is made; it is stored as is,
because checking an HMAC needs the secret itself.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.errors import UserError
from app.core.tenancy import CODE_PATTERN, is_within
from app.sync.models import SyncNode, SyncNodeKey
from app.tenants.models import Division, Tenant

# Node ids travel in a header and name the origin in event ids ("<node>:<seq>"): no ':' or spaces.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")
MAX_ACTIVE_KEYS = 2


@dataclass(frozen=True)
class NewKey:
    """A key as made: the only moment its secret is shown."""

    node_id: str
    key_id: str
    secret: str
    retired_key_id: str | None = None  # the older key rotation retired to keep at most two active


@dataclass(frozen=True)
class NodeSummary:
    node: SyncNode
    place_name: str
    active_key_ids: tuple[str, ...]


def add_node(session: Session, root_tenant: str, node_id: str, subtree_code: str, name: str = "") -> NewKey:
    """Register a child node for `subtree_code` and make its first key."""
    if not NODE_ID_PATTERN.fullmatch(node_id):
        raise UserError(f"node id {node_id!r}: 1–60 letters, digits, '.', '_' or '-', starting with a letter "
                        "or digit (it names the origin of every event the node makes)", place="node_id")
    if session.get(SyncNode, node_id) is not None:
        raise UserError(f"node {node_id} is already registered (rotate its key with `govhall sync node rotate`)",
                        place="node_id")
    _check_subtree(session, root_tenant, subtree_code)
    if len(name) > 100:
        raise UserError("--name: at most 100 characters", place="name")
    session.add(SyncNode(node_id=node_id, subtree_code=subtree_code, name=name))
    return _new_key(session, node_id)


def overlapping_nodes(session: Session, node_id: str, subtree_code: str) -> list[SyncNode]:
    """Other active nodes whose subtree contains or lies within this one (allowed, e.g. while a node
    is replaced, but worth a warning: both may report the same places)."""
    nodes = session.scalars(select(SyncNode).where(SyncNode.active, SyncNode.node_id != node_id))
    return [node for node in nodes
            if is_within(subtree_code, node.subtree_code) or is_within(node.subtree_code, subtree_code)]


def rotate_key(session: Session, node_id: str) -> NewKey:
    """Add a key; if two are active already, retire the older so that at most two stay active."""
    _node(session, node_id)
    active = active_keys(session, node_id)
    retired = None
    if len(active) >= MAX_ACTIVE_KEYS:
        oldest = active[0]
        oldest.retired_at = utcnow()
        retired = oldest.key_id
    key = _new_key(session, node_id)
    return NewKey(key.node_id, key.key_id, key.secret, retired)


def retire_key(session: Session, key_id: str) -> SyncNodeKey:
    key = session.scalars(select(SyncNodeKey).where(SyncNodeKey.key_id == key_id)).one_or_none()
    if key is None:
        raise UserError(f"no sync key {key_id!r} (see `govhall sync node list`)", place="key_id")
    if key.retired_at is not None:
        raise UserError(f"key {key_id} of node {key.node_id} was already retired on "
                        f"{key.retired_at:%Y-%m-%d %H:%M} UTC", place="key_id")
    key.retired_at = utcnow()
    return key


def set_active(session: Session, node_id: str, active: bool) -> bool:
    """Switch a node on or off; answers whether it was on before."""
    node = _node(session, node_id)
    was_active = node.active
    node.active = active
    return was_active


def active_keys(session: Session, node_id: str) -> list[SyncNodeKey]:
    """The node's active keys, oldest first (ids grow with time, clocks may not)."""
    query = (select(SyncNodeKey).where(SyncNodeKey.node_id == node_id, SyncNodeKey.retired_at.is_(None))
             .order_by(SyncNodeKey.id))
    return list(session.scalars(query))


def list_nodes(session: Session) -> list[NodeSummary]:
    nodes = list(session.scalars(select(SyncNode).order_by(SyncNode.subtree_code, SyncNode.node_id)))
    keys: dict[str, list[str]] = {}
    query = (select(SyncNodeKey.node_id, SyncNodeKey.key_id).where(SyncNodeKey.retired_at.is_(None))
             .order_by(SyncNodeKey.id))
    for owner, key_id in session.execute(query):
        keys.setdefault(owner, []).append(key_id)
    names = place_names(session, [node.subtree_code for node in nodes])
    return [NodeSummary(node, names.get(node.subtree_code, ""), tuple(keys.get(node.node_id, ()))) for node in nodes]


def place_names(session: Session, codes: list[str]) -> dict[str, str]:
    """Names from the division list, or from the tenant tree for places onboarded without it."""
    names: dict[str, str] = {}
    for model in (Tenant, Division):
        names.update((code, name) for code, name in session.execute(
            select(model.code, model.name).where(model.code.in_(codes))))
    return names


def _node(session: Session, node_id: str) -> SyncNode:
    node = session.get(SyncNode, node_id)
    if node is None:
        raise UserError(f"no node {node_id!r} is registered (see `govhall sync node list`)", place="node_id")
    return node


def _check_subtree(session: Session, root_tenant: str, code: str) -> None:
    if not CODE_PATTERN.fullmatch(code):
        raise UserError(f"--subtree {code!r}: a 12-digit division code such as 370102000000", place="subtree")
    if code == root_tenant:
        raise UserError(f"--subtree {code} is this node's own root: a child node reports for a place below it",
                        place="subtree")
    if not is_within(code, root_tenant):
        raise UserError(f"--subtree {code} is outside this node's subtree {root_tenant}", place="subtree")
    if not place_names(session, [code]):
        raise UserError(f"--subtree {code} is not a known place (neither in the division list nor a tenant; "
                        "import the division list first: `govhall tenants import-divisions`)", place="subtree")


def _new_key(session: Session, node_id: str) -> NewKey:
    key = SyncNodeKey(node_id=node_id, key_id=f"key-{secrets.token_hex(8)}", secret=secrets.token_urlsafe(32))
    session.add(key)
    return NewKey(node_id, key.key_id, key.secret)


# --- keys made elsewhere (deployment: the key lives in the ops vault) -----------------------------------

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
SECRET_PATTERN = re.compile(r"[\x21-\x7e]{32,128}")  # visible ASCII: it goes into a YAML config as is


def ensure_node_key(session: Session, root_tenant: str, node_id: str, subtree_code: str, key_id: str,
                    secret: str, name: str = "") -> str:
    """Make sure `node_id` is registered for `subtree_code` with the given key (idempotent, for a
    deployment tool that keeps keys in its vault). Answers what changed: "registered", "key added"
    or "unchanged"; a different subtree or a key id already used otherwise is refused."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise UserError(f"--key-id {key_id!r}: 1–40 letters, digits, '.', '_' or '-'", place="key_id")
    if not SECRET_PATTERN.fullmatch(secret):
        raise UserError("the secret must be 32 to 128 visible ASCII characters (e.g. openssl rand -base64 32)",
                        place="secret")
    node = session.get(SyncNode, node_id)
    outcome = "key added"
    if node is None:
        add_node(session, root_tenant, node_id, subtree_code, name)
        session.flush()
        for made in active_keys(session, node_id):  # add_node made a random first key: this one replaces it
            session.delete(made)
        outcome = "registered"
    elif node.subtree_code != subtree_code:
        raise UserError(f"node {node_id} is registered for {node.subtree_code}, not {subtree_code}", place="subtree")
    existing = session.scalars(select(SyncNodeKey).where(SyncNodeKey.key_id == key_id)).one_or_none()
    if existing is not None:
        if existing.node_id != node_id or existing.secret != secret or existing.retired_at is not None:
            raise UserError(f"key id {key_id} is already used by another key (or was retired)", place="key_id")
        return "unchanged"
    if len(active_keys(session, node_id)) >= MAX_ACTIVE_KEYS:
        raise UserError(f"node {node_id} has {MAX_ACTIVE_KEYS} active keys: retire one first", place="key_id")
    session.add(SyncNodeKey(node_id=node_id, key_id=key_id, secret=secret))
    return outcome
