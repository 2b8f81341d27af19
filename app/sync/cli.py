"""`govhall sync …`: upward sync from the command line.

- `govhall sync node …`: the child nodes that report to this node (registry, keys).
- Sending upward (`once`, `run`, `status`, `reconcile`) has its own section below.
"""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from app.cli import command_session
from app.core.errors import UserError
from app.core.web import settings
from app.sync import registry


@click.group("sync", cls=AppGroup, help="Upward sync: send this node's events upward, register the nodes below.")
def sync_group() -> None:
    pass


# --- child nodes: `govhall sync node …` ---------------------------------------------------------------

@sync_group.group("node", cls=AppGroup, help="Nodes below this one that report to it: registration and keys.")
def node_group() -> None:
    pass


@node_group.command("add", help="Register NODE_ID to report for the place --subtree and everything under it; "
                                "prints its key id and secret (once).")
@click.argument("node_id")
@click.option("--subtree", "subtree", required=True, help="12-digit code of the place the node serves.")
@click.option("--name", default="", help="A name for people (e.g. 历下区节点).")
def add_command(node_id: str, subtree: str, name: str) -> None:
    try:
        with command_session() as session:
            key = registry.add_node(session, settings().root_tenant, node_id, subtree, name)
            place = registry.place_names(session, [subtree]).get(subtree, "")
            overlaps = registry.overlapping_nodes(session, node_id, subtree)
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"node {node_id} registered for {subtree} {place}".rstrip())
    for other in overlaps:
        click.echo(f"note: node {other.node_id} ({other.subtree_code}) reports for overlapping places too", err=True)
    _print_key(key)


@node_group.command("rotate", help="Add a key for NODE_ID (printed once); the previous key stays valid until "
                                   "retired, and at most two keys are active.")
@click.argument("node_id")
def rotate_command(node_id: str) -> None:
    try:
        with command_session() as session:
            key = registry.rotate_key(session, node_id)
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    if key.retired_key_id:
        click.echo(f"key {key.retired_key_id} (the older of two active keys) is retired")
    _print_key(key)
    click.echo("when the node uses the new key, retire the old one: govhall sync node retire-key KEY_ID")


@node_group.command("retire-key", help="Stop accepting batches signed with KEY_ID.")
@click.argument("key_id")
def retire_key_command(key_id: str) -> None:
    try:
        with command_session() as session:
            key = registry.retire_key(session, key_id)
            left = len(registry.active_keys(session, key.node_id))
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"key {key_id} of node {key.node_id} retired; {left} active key(s) left")
    if left == 0:
        click.echo(f"warning: node {key.node_id} has no active key and cannot report until "
                   f"`govhall sync node rotate {key.node_id}`", err=True)


@node_group.command("deactivate", help="Refuse every batch of NODE_ID (its keys and events are kept).")
@click.argument("node_id")
def deactivate_command(node_id: str) -> None:
    _switch(node_id, active=False)


@node_group.command("activate", help="Accept batches of NODE_ID again.")
@click.argument("node_id")
def activate_command(node_id: str) -> None:
    _switch(node_id, active=True)


@node_group.command("list", help="Registered nodes: subtree, active keys, last contact, events received, "
                                 "the backlog they reported.")
def list_command() -> None:
    with command_session() as session:
        summaries = registry.list_nodes(session)
    if not summaries:
        click.echo("no nodes registered (govhall sync node add NODE_ID --subtree CODE)")
        return
    for summary in summaries:
        click.echo(_node_line(summary))


def _switch(node_id: str, active: bool) -> None:
    try:
        with command_session() as session:
            was_active = registry.set_active(session, node_id, active)
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    word = "activated" if active else "deactivated"
    click.echo(f"node {node_id} was already {word}" if was_active == active else f"node {node_id} {word}")


def _print_key(key: registry.NewKey) -> None:
    click.echo(f"key id:  {key.key_id}\nsecret:  {key.secret}")
    click.echo("Give both to the node's operator (its settings upstream_key_id and upstream_key); "
               "the secret is not shown again.")


def _node_line(summary: registry.NodeSummary) -> str:
    node = summary.node
    keys = ", ".join(summary.active_key_ids) or "none"
    state = "" if node.active else "  DEACTIVATED"
    oldest = f" (oldest unsent {_moment(node.reported_oldest_unsent_at)})" if node.reported_oldest_unsent_at else ""
    return (f"{node.node_id}{state}\n"
            f"  subtree        {node.subtree_code} {summary.place_name}  {node.name}".rstrip() + "\n"
            f"  active keys    {keys}\n"
            f"  last contact   {_moment(node.last_contact_at)}\n"
            f"  received       {node.events_received} events\n"
            f"  backlog        {node.reported_backlog} events{oldest}")


def _moment(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "never"
