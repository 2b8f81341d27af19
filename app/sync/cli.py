"""`govhall sync …`: upward sync from the command line.

- `govhall sync node …`: the child nodes that report to this node (registry, keys).
- Sending upward (`once`, `run`, `status`, `reconcile`) has its own section below.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from app.cli import command_session
from app.core.errors import UserError
from app.core.web import settings
from app.sync import registry
from app.sync.sender import (
    BUSY,
    EMPTY,
    ERROR,
    SENT,
    WAITING,
    Outcome,
    Sender,
    SenderConfig,
    SyncNotConfigured,
    safe_url,
)
from app.sync.status import SyncStatus, sync_status


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


@node_group.command("ensure", help="Register NODE_ID for --subtree with the key --key-id whose secret is read from "
                                   "standard input, unless it is registered so already (for deployment tools that "
                                   "keep the keys in their vault). Prints registered, key added or unchanged.")
@click.argument("node_id")
@click.option("--subtree", "subtree", required=True, help="12-digit code of the place the node serves.")
@click.option("--key-id", "key_id", required=True, help="The key's id, as in the node's upstream_key_id.")
@click.option("--name", default="", help="A name for people (e.g. 历下区节点).")
def ensure_command(node_id: str, subtree: str, key_id: str, name: str) -> None:
    secret = sys.stdin.read().strip()  # never an argument: arguments show in `ps` and shell history
    try:
        with command_session() as session:
            outcome = registry.ensure_node_key(session, settings().root_tenant, node_id, subtree, key_id, secret, name)
    except UserError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(outcome)


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


# ------------------------------------------------------------------ the sender (sync once | run | status) ---

def _sender() -> Sender:
    try:
        config = SenderConfig.from_settings(settings())
    except SyncNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    return Sender(current_app.extensions["govhall.sessions"], config)


@sync_group.command("once", help="Send unsent events upward, batch after batch, until none is left; exit 1 if a "
                                 "batch fails, another sender holds the lease or a retry is not due yet.")
@click.option("--now", "now", is_flag=True, help="Try now, even if a failure put the next attempt later.")
def once_command(now: bool) -> None:
    sender = _sender()
    # The summary below reports failures and rejections; the worker's log lines would only repeat them.
    logging.getLogger("govhall.sync").addHandler(logging.NullHandler())
    totals = {"batches": 0, "events": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
    try:
        outcome = _send_until_empty(sender, totals, honour_backoff=not now)
    finally:
        sender.release()
    click.echo(f"sent {totals['events']:,} event(s) in {totals['batches']} batch(es): {totals['accepted']:,} "
               f"accepted, {totals['duplicates']:,} duplicate(s), {totals['rejected']:,} rejected")
    if outcome.kind == ERROR:
        raise click.ClickException(f"batch failed: {outcome.error}; next attempt after "
                                   f"{_when(outcome.next_attempt_at)} (`govhall sync run` retries by itself)")
    if outcome.kind == WAITING:
        raise click.ClickException(f"a failure put the next attempt at {_when(outcome.next_attempt_at)}; "
                                   "wait, or use --now to try at once")
    if outcome.kind == BUSY:
        raise click.ClickException(f"another sender holds the lease ({outcome.lease_owner}): it is sending")


def _send_until_empty(sender: Sender, totals: dict[str, int], honour_backoff: bool) -> Outcome:
    """Drain the queue; the last outcome says how it ended."""
    last = Outcome(EMPTY)
    for last in sender.drain(honour_backoff=honour_backoff):
        if last.kind == SENT:
            totals["batches"] += 1
            for key in ("events", "accepted", "duplicates", "rejected"):
                totals[key] += getattr(last, key)
    return last


@sync_group.command("run", help="The sync worker: send whenever there are events, retry with backoff after "
                                "failures; SIGTERM or Ctrl-C stops it after the batch in flight (twice: at once).")
def run_command() -> None:
    sender = _sender()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)  # a second signal abandons the batch in flight (it is resent later)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    config = sender.config
    click.echo(f"sync run: node {config.node_id} → {safe_url(config.upstream_url)}, batches of {config.batch_size}, "
               f"idle {config.idle:g} s", err=True)
    sender.run(stop)
    click.echo("sync run: stopped, lease released", err=True)


@sync_group.command("status", help="Backlog, oldest unsent event, last success and error, next attempt, sender.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for monitoring scripts).")
def status_command(as_json: bool) -> None:
    with command_session() as session:
        state = sync_status(session, settings())
    if as_json:
        click.echo(json.dumps(state.as_json(), ensure_ascii=False, indent=2))
        return
    for label, value in _status_lines(state):
        click.echo(f"{label + ':':<15} {value}")


def _status_lines(state: SyncStatus) -> list[tuple[str, str]]:
    oldest = "-" if state.oldest_unsent_at is None else \
        f"{_when(state.oldest_unsent_at)} ({_duration(state.oldest_unsent_age_seconds or 0)} ago)"
    error = "-" if not state.last_error else f"{state.last_error} (at {_when(state.last_error_at)})"
    failures = f"{state.consecutive_failures} failure(s) in a row" if state.error_is_current else "none"
    sender = f"{state.lease_owner} (lease until {_when(state.lease_until)})" if state.lease_owner else "none running"
    return [
        ("upstream", f"{state.upstream} as {state.node_id}" if state.upstream
         else "none (upstream_url is empty: events stay in the outbox)"),
        ("backlog", f"{state.backlog:,} unsent event(s)"), ("oldest unsent", oldest),
        ("last attempt", _when(state.last_attempt_at)), ("last success", _when(state.last_success_at)),
        ("last error", error), ("failing", failures),
        ("next attempt", _when(state.next_attempt_at) if state.next_attempt_at else "when there are events"),
        ("sender", sender),
    ]


def _when(moment: dt.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ------------------------------------------------------------------------ reconciliation (sync reconcile) ---

@sync_group.command("reconcile", help="Compare per-place, per-day counts and checksums of what this node sent with "
                                      "what the upstream holds; queue again what the upstream lacks.")
@click.option("--since", "since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First China day, YYYY-MM-DD.")
@click.option("--until", "until", type=click.DateTime(["%Y-%m-%d"]), help="Last China day (default: today).")
def reconcile_command(since: dt.datetime, until: dt.datetime | None) -> None:
    from app.sync.protocol import CHINA
    from app.sync.reconcile import ReconcileError, reconcile

    last = until.date() if until else dt.datetime.now(CHINA).date()
    try:
        config = SenderConfig.from_settings(settings())
        with command_session() as session:
            report = reconcile(session, config, since.date(), last)
    except (SyncNotConfigured, ReconcileError) as exc:
        raise click.ClickException(str(exc)) from None
    for m in report.mismatches:
        click.echo(f"{m.tenant_code} {m.day}: here {m.local}, upstream {m.upstream}; queued again "
                   f"{m.missing_upstream}" + (f"; {m.unknown_here} held upstream but unknown here" if m.unknown_here
                                               else ""))
    click.echo(f"{report.cells} place-day cell(s) compared, {report.matching} matching, {len(report.mismatches)} "
               f"differing; {report.requeued} event(s) queued again (sent by `govhall sync run` or `sync once`)")


# ------------------------------------------------------------------------ restore (sync after-restore) ---

@sync_group.command("after-restore", help="After this node's database was restored from a backup, and before the "
                                          "sync worker starts: number new events after the highest one the "
                                          "upstream holds from this node.")
def after_restore_command() -> None:
    from app.sync.reconcile import ReconcileError
    from app.sync.restore import after_restore, describe

    try:
        config = SenderConfig.from_settings(settings())
        with command_session() as session:
            rebase = after_restore(session, config, settings().root_tenant)
    except (SyncNotConfigured, ReconcileError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe(rebase, config.node_id))
