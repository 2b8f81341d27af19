"""Measurement 3: one town's items API under gunicorn, against a bare Flask JSON endpoint.

Both servers run `gunicorn -w 2` on 127.0.0.1 and are driven by the same in-process client
(threads, each with its own keep-alive-capable http.client connection; gunicorn's sync workers
close after every response, so every request is a fresh TCP connection for both servers). The
two servers alternate over several rounds so drift in machine load hits both alike.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.common import (
    BENCH_SECRET_KEY,
    GUNICORN,
    REPO,
    Report,
    Result,
    clean_env,
    log,
    percentile,
    run_cli,
    run_concurrently,
    sqlite_url,
)

DEMO_ROOT = "370100000000"
TOWN = "370102001000"  # 历下区解放路街道, the clerk's own town
CLERK = "lx_jfl_clerk"
ITEMS_PATH = f"/api/v1/tenants/{TOWN}/items"
WORKERS = 2
CONCURRENCY = 4
GOAL_RATIO = 0.5
HOST = "127.0.0.1"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log_file: IO[bytes]


@dataclass
class Series:
    """Per-round throughput and every request's latency, for one server."""

    rps: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    cpu_ms_per_request: list[float] = field(default_factory=list)  # master + workers, per round


PROC = Path("/proc")


def group_cpu_seconds(pgid: int) -> float | None:
    """User + system CPU of every live process in the group (gunicorn master and workers), from /proc.
    Workers live as long as the server, so the difference over a round is the round's server CPU."""
    if not PROC.is_dir():
        return None
    ticks = 0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state ppid pgrp … utime(11) stime(12)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, headers: dict[str, str], timeout: float = 10) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def start_gunicorn(name: str, target: str, env: dict[str, str], work: Path, ready_path: str) -> Server:
    """Start gunicorn in its own process group and wait until `ready_path` answers 200."""
    for attempt in range(1, 4):
        port = free_port()
        log_path = work / f"gunicorn-{name}-{attempt}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [GUNICORN, "-w", str(WORKERS), "--bind", f"{HOST}:{port}", target],
            cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        server = Server(name, process, port, log_path, log_file)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if _get(port, ready_path, {}, timeout=2)[0] == 200:
                    log(f"{name}: gunicorn -w {WORKERS} on {HOST}:{port} (pid {process.pid})")
                    return server
            except OSError:
                pass
            time.sleep(0.1)
        stop_server(server)
        log(f"{name}: gunicorn did not become ready (attempt {attempt}); log:\n"
            f"{log_path.read_text(errors='replace')[-2000:]}")
    raise RuntimeError(f"could not start gunicorn for {name}")


def stop_server(server: Server) -> None:
    """Stop the whole process group (master and workers): TERM, then KILL after 10 s."""
    process = server.process
    try:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # Workers that outlived their master would still be in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    finally:
        server.log_file.close()


def drive(port: int, headers: dict[str, str], requests: int, expected_size: int) -> tuple[float, list[float]]:
    """`requests` GETs of the items path with CONCURRENCY threads; (seconds, latencies in ms)."""
    tickets = itertools.count()  # next() on a count is atomic under the GIL

    def worker() -> list[float]:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies = []
        try:
            while next(tickets) < requests:
                start = time.perf_counter()
                connection.request("GET", ITEMS_PATH, headers=headers)
                response = connection.getresponse()
                body = response.read()
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status != 200 or len(body) != expected_size:
                    raise RuntimeError(f"port {port}: HTTP {response.status}, {len(body)} bytes: {body[:300]!r}")
                if response.will_close:
                    connection.close()  # http.client reconnects on the next request
        finally:
            connection.close()
        return latencies

    return run_concurrently(worker, CONCURRENCY)


def build_demo(work: Path) -> tuple[dict[str, str], str]:
    """A demo database via the real CLI (`db upgrade`, `demo load`) and a bearer token."""
    db_path = work / "demo.sqlite"
    env = clean_env(database_url=sqlite_url(db_path), secret_key=BENCH_SECRET_KEY, root_tenant=DEMO_ROOT,
                    session_cookie_secure="false", tenants_dir=str(REPO / "tenants"), demo_mode="true")
    run_cli(["db", "upgrade"], env)
    run_cli(["demo", "load"], env)
    token = run_cli(["staff", "token", CLERK], env).stdout.strip().splitlines()[-1]
    return env, token


def profile_items_request(env: dict[str, str], headers: dict[str, str], requests: int = 300) -> None:
    """cProfile of the items view in this process (Flask test client, same demo database), to stderr."""
    import cProfile
    import io
    import pstats

    from app import create_app
    from app.core.settings import load_settings

    app = create_app(load_settings(environ=env))
    client = app.test_client()
    for _ in range(20):
        client.get(ITEMS_PATH, headers=headers)
    profiler = cProfile.Profile()
    cpu_start = time.process_time()
    profiler.enable()
    for _ in range(requests):
        response = client.get(ITEMS_PATH, headers=headers)
    profiler.disable()
    cpu = (time.process_time() - cpu_start) * 1000 / requests
    app.extensions["govhall.engine"].dispose()
    if response.status_code != 200:
        raise RuntimeError(f"in-process items request: HTTP {response.status_code}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(45)
    log(f"cProfile of {requests} in-process items requests ({cpu:.2f} ms CPU each under the profiler):\n"
        f"{out.getvalue()}")


def measure_api(work: Path, report: Report, rounds: int, requests: int, warmup: int,
                profile: bool = False) -> None:
    env, token = build_demo(work)
    headers = {"Authorization": f"Bearer {token}"}
    servers: list[Server] = []
    try:
        govhall = start_gunicorn("govhall", "app.wsgi:app", env, work, "/healthz")
        servers.append(govhall)
        status, body = _get(govhall.port, ITEMS_PATH, headers)
        if status != 200:
            raise RuntimeError(f"govhall items API: HTTP {status}: {body[:500]!r}")
        items = len(json.loads(body)["items"])
        captured = work / "items.json"
        captured.write_bytes(body)

        bare_env = clean_env()
        bare_env["BENCH_BARE_BODY"] = str(captured)
        bare = start_gunicorn("bare", "bench.bare_app:app", bare_env, work, "/healthz")
        servers.append(bare)
        bare_status, bare_body = _get(bare.port, ITEMS_PATH, headers)
        if bare_status != 200 or json.loads(bare_body) != json.loads(body):
            raise RuntimeError(f"bare app: HTTP {bare_status}, body differs from govhall's")
        report.facts.append(
            f"items API: GET {ITEMS_PATH} as {CLERK}: {items} items, {len(body)} bytes "
            f"(bare Flask body {len(bare_body)} bytes); {rounds} rounds x {requests} requests per server, "
            f"concurrency {CONCURRENCY}, gunicorn -w {WORKERS} sync workers, client in this process"
        )

        sizes = {govhall.name: len(body), bare.name: len(bare_body)}
        for server in (govhall, bare):
            drive(server.port, headers, warmup, sizes[server.name])
        series = {govhall.name: Series(), bare.name: Series()}
        for n in range(rounds):
            order = (govhall, bare) if n % 2 == 0 else (bare, govhall)
            for server in order:
                cpu_before = group_cpu_seconds(server.process.pid)
                elapsed, latencies = drive(server.port, headers, requests, sizes[server.name])
                cpu_after = group_cpu_seconds(server.process.pid)
                series[server.name].rps.append(requests / elapsed)
                series[server.name].latencies_ms.extend(latencies)
                if cpu_before is not None and cpu_after is not None:
                    series[server.name].cpu_ms_per_request.append((cpu_after - cpu_before) * 1000 / requests)
            log(f"API round {n + 1}/{rounds}: govhall {series['govhall'].rps[-1]:.0f} req/s, "
                f"bare {series['bare'].rps[-1]:.0f} req/s")
    finally:
        for server in reversed(servers):
            stop_server(server)

    if profile:
        profile_items_request(env, headers)
    g, b = series["govhall"], series["bare"]
    report.add(Result(f"items API, govhall (gunicorn -w {WORKERS})", g.rps, "req/s"))
    report.add(Result("  latency per request, govhall", g.latencies_ms, "ms"))
    if g.cpu_ms_per_request:
        report.add(Result("  server CPU per request, govhall", g.cpu_ms_per_request, "ms"))
    report.add(Result(f"  baseline: bare Flask JSON (gunicorn -w {WORKERS})", b.rps, "req/s"))
    report.add(Result("  latency per request, bare Flask", b.latencies_ms, "ms"))
    if b.cpu_ms_per_request:
        report.add(Result("  server CPU per request, bare Flask", b.cpu_ms_per_request, "ms"))
    paired = [gr / br for gr, br in zip(g.rps, b.rps, strict=True)]
    ratio = statistics.median(paired)
    report.add_ratio(Result("items API govhall / bare Flask (req/s, per round)", paired, "x",
                            f">= {GOAL_RATIO:g}", ratio >= GOAL_RATIO))
    if g.cpu_ms_per_request and b.cpu_ms_per_request:
        cpu_ratio = statistics.median(b.cpu_ms_per_request) / statistics.median(g.cpu_ms_per_request)
        report.add_ratio(Result("server CPU per request, bare / govhall (less noise-prone)", [cpu_ratio], "x"))
    report.facts.append(
        f"latency p50/p95: govhall {statistics.median(g.latencies_ms):.1f}/{percentile(g.latencies_ms, 0.95):.1f} ms,"
        f" bare {statistics.median(b.latencies_ms):.1f}/{percentile(b.latencies_ms, 0.95):.1f} ms"
    )
