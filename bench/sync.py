"""Measurement: upward sync — a city node drains its backlog to the provincial node over loopback.

The province is the real app under `gunicorn -w 2` on its own SQLite database, with the city registered
(`govhall sync node add`); the city's sender is the real CLI, `govhall sync once`, on the city's SQLite
database, whose outbox holds a backlog generated in bulk (Core INSERTs of realistic case events, ~1 kB
of payload each). Per round:

1. drain: every event is new to the province (accepted);
2. resend: the same events again (`sent_at` reset), so every one comes back a duplicate;
3. baseline: the same batch bodies, prepared beforehand, POSTed by a plain `requests` loop to a bare
   Flask receiver (bench/bare_sync.py, also `gunicorn -w 2`) that parses the JSON and answers.

Rates count the sender's own sending time (first attempt's start to last attempt's end, from
sync_attempts); the wall time with the CLI's start-up is printed too. Memory: the sender's peak RSS
(VmHWM of the `sync once` process) at a small and at the full backlog — it must not grow with
the backlog, since the sender reads one batch at a time.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from app.core.settings import Settings
from app.sync.models import OutboxEvent, OutboxPayload, SendAttempt
from app.sync.queue import encode_body, read_batch
from bench.api import start_gunicorn, stop_server
from bench.common import BENCH_SECRET_KEY, REPO, Report, Result, clean_env, log, sqlite_url

PROVINCE, CITY = "370000000000", "370100000000"
# `govhall` from this checkout, whichever checkout the venv's console script was last installed from.
GOVHALL_HERE = [sys.executable, "-c", "from app.cli import main; main()"]
# The same, printing its peak RSS on exit. VmHWM is the process's own high-water mark since exec:
# ru_maxrss (wait4, getrusage) would also count the pages of the benchmark process it was forked from.
SENDER_WITH_PEAK = [sys.executable, "-c", (
    "import atexit, re\n"
    "atexit.register(lambda: print(*re.findall(r'VmHWM:.*', open('/proc/self/status').read()), flush=True))\n"
    "from app.cli import main\nmain()")]
CITY_NODE = f"node-{CITY}"
FULL_EVENTS, QUICK_EVENTS = 100_000, 20_000
SMALL_EVENTS = 10_000  # the small backlog of the memory comparison
FULL_ROUNDS, QUICK_ROUNDS = 3, 1
BATCH_SIZE = 500  # the default sync_batch_size
GOAL_RATE = 5000.0  # events per second
GOAL_RATIO = 0.5  # of the bare POST loop
GOAL_MEMORY_RATIO = 1.2  # peak RSS at the full backlog / at the small one: "about equal"
EVENTS_PER_CASE = 4
STEPS = ("accepted", "reviewed", "decided", "issued")


@dataclass(frozen=True)
class SenderRun:
    events: int
    accepted: int
    duplicates: int
    sending_seconds: float  # from sync_attempts
    http_seconds: float  # of which waiting for the receiver's answers (sum of the attempts' durations)
    wall_seconds: float  # the whole CLI process
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.sending_seconds


@dataclass
class Node:
    name: str
    db: Path
    env: dict[str, str]


def measure_sync(work: Path, report: Report, quick: bool) -> None:
    size, rounds = (QUICK_EVENTS, QUICK_ROUNDS) if quick else (FULL_EVENTS, FULL_ROUNDS)
    measure(work, report, size, rounds)


def measure(work: Path, report: Report, size: int, rounds: int) -> None:
    province_template, key_id, key = build_province(work)
    city = build_city(work, size)
    log(f"sync: generating the baseline's {size // BATCH_SIZE} batch bodies from the city's outbox")
    bodies = batch_bodies(city.db)
    drains, resends, alone, baselines = [], [], [], []
    bare = start_gunicorn("bare-sync", "bench.bare_sync:app", clean_env(), work, "/healthz")
    try:
        for number in range(1, rounds + 1):
            drain, resend = measure_round(work, number, province_template, city, key_id, key, size)
            drains.append(drain)
            resends.append(resend)
            alone.append(sender_alone(work, number, city, bare.port, size))
            baselines.append(post_loop(bare.port, bodies, size))
            log(f"sync round {number}: drain {drain.rate:,.0f}/s, resend {resend.rate:,.0f}/s, sender against "
                f"the bare receiver {alone[-1].rate:,.0f}/s, bare POST loop {baselines[-1]:,.0f}/s")
        small = measure_small_backlog(work, province_template, city, key_id, key)
    finally:
        stop_server(bare)
    add_results(report, size, Runs(drains, resends, alone, small), baselines, bodies)


@dataclass(frozen=True)
class Runs:
    drains: list[SenderRun]
    resends: list[SenderRun]
    alone: list[SenderRun]  # `sync once` against the bare receiver: what the sender itself costs
    small: SenderRun


def sender_alone(work: Path, number: int, city: Node, port: int, size: int) -> SenderRun:
    """`sync once` against the bare receiver (which answers every event accepted): the sender's own cost."""
    set_unsent(city.db, size)
    run = run_sender(sender_env(city, port, "bench-key", "bench-secret"), city.db, work / f"sync-alone-{number}.log")
    check_counts(run, size, accepted=size, where="sender alone")
    return run


# --- the nodes ----------------------------------------------------------------------------------------

def node_env(db: Path, root: str, **settings: str) -> dict[str, str]:
    return clean_env(database_url=sqlite_url(db), secret_key=BENCH_SECRET_KEY, root_tenant=root,
                     tenants_dir=str(REPO / "tenants"), **settings)


def govhall(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*GOVHALL_HERE, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"govhall {' '.join(args)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done


def build_province(work: Path) -> tuple[Path, str, str]:
    """A migrated provincial database with the division list and the city registered; (file, key id, key)."""
    db = work / "province-template.sqlite"
    env = node_env(db, PROVINCE)
    log("sync: province database (db upgrade, division list, sync node add)")
    govhall(["db", "upgrade"], env)
    govhall(["tenants", "import-divisions", str(REPO / "tenants" / "divisions" / "shandong.csv")], env)
    out = govhall(["sync", "node", "add", CITY_NODE, "--subtree", CITY], env).stdout
    key_id = re.search(r"key id:\s+(\S+)", out)
    secret = re.search(r"secret:\s+(\S+)", out)
    if not key_id or not secret:
        raise RuntimeError(f"`govhall sync node add` printed no key:\n{out}")
    return db, key_id.group(1), secret.group(1)


def build_city(work: Path, size: int) -> Node:
    """A migrated city database whose outbox holds `size` unsent case events (bulk Core inserts)."""
    db = work / "city.sqlite"
    env = node_env(db, CITY)
    govhall(["db", "upgrade"], env)
    log(f"sync: generating a backlog of {size:,} case events in the city's outbox")
    start = time.perf_counter()
    engine = create_engine(sqlite_url(db))
    try:
        with engine.begin() as connection:
            towns = [f"3701{county:02d}{town:03d}000" for county in (2, 3, 4, 5, 12, 13) for town in range(1, 11)]
            rows = generated_events(size, towns)
            for first in range(0, size, 10_000):
                chunk = rows[first:first + 10_000]
                connection.execute(insert(OutboxEvent), [{k: v for k, v in row.items() if k != "payload"}
                                                         for row in chunk])
                connection.execute(insert(OutboxPayload), [{"id": row["id"], "payload": row["payload"]}
                                                           for row in chunk])
    finally:
        engine.dispose()
    log(f"sync: backlog generated in {time.perf_counter() - start:.1f} s")
    return Node("city", db, env)


def generated_events(size: int, towns: list[str]) -> list[dict[str, Any]]:
    """Case events as the workflow reports them: four steps per case, each carrying the case snapshot."""
    rng = random.Random(2026)  # noqa: S311 — reproducible test data, not a secret
    start = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
    rows = []
    for n in range(size):
        case_no, step = divmod(n, EVENTS_PER_CASE)
        town = towns[case_no % len(towns)]
        at = start + dt.timedelta(seconds=n * 3)
        number = f"{town}{at:%Y%m%d}{case_no % 1_000_000:06d}"
        rows.append({
            "id": n + 1, "event_id": None, "tenant_code": town, "aggregate_type": "case", "aggregate_id": number,
            "aggregate_seq": step + 1, "type": f"case.{STEPS[step]}", "payload_version": 1,
            "payload": case_payload(rng, number, town, STEPS[step], at), "occurred_at": at,
            "sent_at": None, "upstream_status": "", "upstream_reason": "",
        })
    return rows


def case_payload(rng: random.Random, number: str, town: str, step: str, at: dt.datetime) -> dict[str, Any]:
    surname, given = rng.choice("王李张刘陈杨赵黄周吴"), rng.choice(["建国", "秀英", "丽", "伟", "敏", "静", "磊"])
    moment = at.isoformat()
    case = {
        "number": number, "state": step, "channel": rng.choice(["window", "online"]),
        "item_code": f"11370100MB{rng.randrange(10**8):08d}", "item_name": "公共租赁住房保障申请",
        "applicant": {"kind": "person", "name": surname + given, "id_type": "resident_id",
                      "id_number": f"370102{rng.randrange(1960, 2005)}0101{rng.randrange(1000):03d}X",
                      "contact_name": surname + given, "contact_phone": f"138{rng.randrange(10**8):08d}",
                      "agent_name": ""},
        "accepted_at": moment, "accepted_by": f"clerk_{town[-6:]}", "window": str(rng.randrange(1, 9)),
        "promised_days": 5, "promised_unit": "working_days", "due_date": "2026-12-04",
        "statutory_due_date": "2026-12-18", "decided_at": moment if step in ("decided", "issued") else None,
        "result_code": "approved" if step in ("decided", "issued") else "", "refusal_reason": "",
        "satisfaction": None, "evaluation_refused": False, "issued_at": moment if step == "issued" else None,
        "delivery": "window", "tracking_number": "",
    }
    return {"case": case, "step": {"name": step, "handler": case["accepted_by"], "at": moment,
                                   "data": {"opinion": "材料齐全，符合受理条件。"}}}


# --- one round ----------------------------------------------------------------------------------------

def measure_round(work: Path, number: int, template: Path, city: Node, key_id: str, key: str,
                  size: int) -> tuple[SenderRun, SenderRun]:
    """A fresh province: drain (all accepted), then resend (all duplicates)."""
    province_db = work / f"province-{number}.sqlite"
    shutil.copyfile(template, province_db)
    set_unsent(city.db, size)
    province = start_gunicorn(f"province-{number}", "app.wsgi:app", node_env(province_db, PROVINCE), work,
                              "/healthz")
    try:
        env = sender_env(city, province.port, key_id, key)
        drain = run_sender(env, city.db, work / f"sync-drain-{number}.log")
        check_counts(drain, size, accepted=size, where="drain")
        check_received(province_db, size)
        set_unsent(city.db, size)
        resend = run_sender(env, city.db, work / f"sync-resend-{number}.log")
        check_counts(resend, size, accepted=0, where="resend")
        check_received(province_db, size)
    finally:
        stop_server(province)
    return drain, resend


def measure_small_backlog(work: Path, template: Path, city: Node, key_id: str, key: str) -> SenderRun:
    """The sender's peak memory on a small backlog (a resend of the first SMALL_EVENTS, all duplicates)."""
    province_db = work / "province-small.sqlite"
    shutil.copyfile(template, province_db)
    province = start_gunicorn("province-small", "app.wsgi:app", node_env(province_db, PROVINCE), work, "/healthz")
    try:
        env = sender_env(city, province.port, key_id, key)
        set_unsent(city.db, SMALL_EVENTS)
        first = run_sender(env, city.db, work / "sync-small-drain.log")
        set_unsent(city.db, SMALL_EVENTS)
        again = run_sender(env, city.db, work / "sync-small-resend.log")
        check_counts(first, SMALL_EVENTS, accepted=SMALL_EVENTS, where="small drain")
        check_counts(again, SMALL_EVENTS, accepted=0, where="small resend")
    finally:
        stop_server(province)
    return again


def sender_env(city: Node, port: int, key_id: str, key: str) -> dict[str, str]:
    return city.env | {"GOVHALL_UPSTREAM_URL": f"http://127.0.0.1:{port}", "GOVHALL_UPSTREAM_KEY_ID": key_id,
                       "GOVHALL_UPSTREAM_KEY": key, "GOVHALL_SYNC_BATCH_SIZE": str(BATCH_SIZE),
                       "GOVHALL_SYNC_TIMEOUT_SECONDS": "60"}


def set_unsent(db: Path, count: int) -> None:
    """The first `count` events unsent, the rest sent; the sender's history cleared."""
    engine = create_engine(sqlite_url(db))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE sync_outbox SET sent_at = CASE WHEN id <= :n THEN NULL "
                                    "ELSE '2026-11-27 00:00:00.000000' END, upstream_status = '', "
                                    "upstream_reason = ''"), {"n": count})
            connection.execute(text("DELETE FROM sync_attempts"))
            connection.execute(text("DELETE FROM sync_sender_state"))
    finally:
        engine.dispose()


def run_sender(env: dict[str, str], db: Path, log_path: Path) -> SenderRun:
    """`govhall sync once` as its own process: its wall time, its peak RSS, and the attempts it made."""
    with log_path.open("wb") as out:
        start = time.perf_counter()
        done = subprocess.run([*SENDER_WITH_PEAK, "sync", "once"], env=env, cwd=REPO, stdout=out,
                              stderr=subprocess.STDOUT, timeout=1800, check=False)
        wall = time.perf_counter() - start
    output = log_path.read_text(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"govhall sync once failed (exit {done.returncode}):\n{output[-3000:]}")
    peak = re.search(r"^VmHWM:\s+(\d+) kB", output, re.MULTILINE)
    if peak is None:
        raise RuntimeError(f"govhall sync once printed no peak memory (VmHWM):\n{output[-3000:]}")
    events, accepted, duplicates, seconds, http = attempts_summary(db)
    return SenderRun(events, accepted, duplicates, seconds, http, wall, int(peak.group(1)) / 1024)


def attempts_summary(db: Path) -> tuple[int, int, int, float, float]:
    """Events, accepted, duplicates, the sending time and the time in HTTP, from the sender's sync_attempts."""
    engine = create_engine(sqlite_url(db))
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(SendAttempt.__table__)).all()
    finally:
        engine.dispose()
    errors = [row.error for row in rows if row.outcome != "ok"]
    if errors:
        raise RuntimeError(f"{len(errors)} failed batch(es), first: {errors[0]}")
    starts = [_moment(row.started_at) for row in rows]
    ends = [start + dt.timedelta(milliseconds=row.duration_ms) for start, row in zip(starts, rows, strict=True)]
    seconds = (max(ends) - min(starts)).total_seconds()
    return (sum(r.events for r in rows), sum(r.accepted for r in rows), sum(r.duplicates for r in rows),
            max(seconds, 1e-3), sum(r.duration_ms for r in rows) / 1000)


def _moment(value: Any) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def check_counts(run: SenderRun, size: int, accepted: int, where: str) -> None:
    if (run.events, run.accepted, run.duplicates) != (size, accepted, size - accepted):
        raise RuntimeError(f"{where}: sent {run.events} events ({run.accepted} accepted, {run.duplicates} "
                           f"duplicates); expected {size} ({accepted} accepted)")


def check_received(db: Path, size: int) -> None:
    """The province holds each event exactly once."""
    engine = create_engine(sqlite_url(db))
    try:
        with engine.connect() as connection:
            stored = connection.scalar(text("SELECT count(*) FROM sync_received"))
            counted = connection.scalar(text("SELECT coalesce(sum(count), 0) FROM sync_place_day_counts"))
    finally:
        engine.dispose()
    if stored != size or counted != size:
        raise RuntimeError(f"the province stored {stored} events and counted {counted}; expected {size}")


# --- the baseline -------------------------------------------------------------------------------------

def batch_bodies(db: Path) -> list[bytes]:
    """The batches `sync once` sends (same events, same encoding), built once in memory for the POST loop
    (every event is unsent at this point)."""
    engine = create_engine(sqlite_url(db))
    bodies: list[bytes] = []
    after = 0
    try:
        with Session(engine) as session:
            total = session.scalar(select(func.count()).select_from(OutboxEvent.__table__)) or 0
            while (batch := read_batch(session, CITY_NODE, BATCH_SIZE, after=after)).ids:
                after = batch.ids[-1]
                bodies.append(encode_body(os.urandom(16).hex(), batch, total - len(bodies) * BATCH_SIZE))
    finally:
        engine.dispose()
    return bodies


def post_loop(port: int, bodies: list[bytes], size: int) -> float:
    """Events per second of a plain requests loop POSTing the prepared bodies to the bare receiver."""
    url = f"http://127.0.0.1:{port}/api/sync/v1/batches"
    with requests.Session() as http:
        start = time.perf_counter()
        for body in bodies:
            response = http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=(60, 60))
            if response.status_code != 200 or len(response.json()["results"]) == 0:
                raise RuntimeError(f"bare receiver: HTTP {response.status_code}")
        return size / (time.perf_counter() - start)


# --- the report ---------------------------------------------------------------------------------------

def add_results(report: Report, size: int, runs: Runs, baselines: list[float], bodies: list[bytes]) -> None:
    label = f"{size // 1000}k"
    drain = report.add(Result(f"sync drain {label} (accepted)", [round(r.rate) for r in runs.drains], "ev/s",
                              goal=f">= {GOAL_RATE:,.0f} ev/s"))
    drain.met = drain.median >= GOAL_RATE
    resend = report.add(Result(f"sync resend {label} (duplicates)", [round(r.rate) for r in runs.resends], "ev/s",
                               goal=">= the drain"))
    resend.met = resend.median >= drain.median
    report.add(Result(f"sync once {label} vs bare receiver", [round(r.rate) for r in runs.alone], "ev/s"))
    report.add(Result("bare POST loop, same batches", [round(b) for b in baselines], "ev/s"))
    ratio = report.add_ratio(Result("sync drain / bare POST loop",
                                    [r.rate / b for r, b in zip(runs.drains, baselines, strict=True)], "x",
                                    goal=f">= {GOAL_RATIO}"))
    ratio.met = ratio.median >= GOAL_RATIO
    report.add_ratio(Result("sync once vs bare receiver / bare POST loop",
                            [r.rate / b for r, b in zip(runs.alone, baselines, strict=True)], "x"))
    big_rss = statistics.median(r.peak_rss_mb for r in runs.resends)
    report.add(Result(f"sender peak RSS, {SMALL_EVENTS // 1000}k backlog", [round(runs.small.peak_rss_mb, 1)], "MB"))
    report.add(Result(f"sender peak RSS, {label} backlog", [round(r.peak_rss_mb, 1) for r in runs.resends], "MB"))
    memory = report.add_ratio(Result(f"sender peak RSS {label} / {SMALL_EVENTS // 1000}k",
                                     [big_rss / runs.small.peak_rss_mb], "x", goal=f"<= {GOAL_MEMORY_RATIO}"))
    memory.met = memory.median <= GOAL_MEMORY_RATIO
    average_kb = sum(map(len, bodies)) / size / 1024
    report.facts.append(
        f"sync: {size:,} case events ({average_kb:.2f} kB each on the wire), batches of {BATCH_SIZE} (up to "
        f"{Settings.model_fields['sync_batches_in_flight'].default} on the wire at once), sender "
        f"`govhall sync once` (wall incl. start-up: drain {statistics.median(r.wall_seconds for r in runs.drains):.1f}"
        f" s, resend {statistics.median(r.wall_seconds for r in runs.resends):.1f} s), receivers gunicorn -w 2 on "
        "SQLite")
    report.facts.append(
        "sync: share of the sending time spent waiting for the province's answers (the rest is the sender's own "
        f"reading, encoding, signing and marking): drain {_http_share(runs.drains):.0%}, "
        f"resend {_http_share(runs.resends):.0%}")


def _http_share(runs: list[SenderRun]) -> float:
    return statistics.median(r.http_seconds / r.sending_seconds for r in runs)
