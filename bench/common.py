"""Shared helpers: results and their table, statistics, subprocesses, environments."""

from __future__ import annotations

import math
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
GOVHALL = str(VENV_BIN / "govhall")
GUNICORN = str(VENV_BIN / "gunicorn")
# A throwaway signing key: the benchmark databases are temporary and only reached on 127.0.0.1.
BENCH_SECRET_KEY = "bench-secret-key-not-for-production"  # noqa: S105


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ results ---


@dataclass
class Result:
    """One line of the table: a series of samples in `unit`, with an optional goal."""

    name: str
    samples: list[float]
    unit: str  # "s", "ms", "req/s", "x"
    goal: str = ""
    met: bool | None = None  # None: no goal (informational)
    note: str = ""
    cpu: list[float] = field(default_factory=list)  # CPU seconds of the same runs, when measured

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "-"
        return "ok" if self.met else "MISSED"


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    ratios: list[Result] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # row counts and other plain lines
    notes: list[str] = field(default_factory=list)

    def add(self, result: Result) -> Result:
        self.results.append(result)
        return result

    def add_ratio(self, result: Result) -> Result:
        self.ratios.append(result)
        return result


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s" if value < 100 else f"{value:.1f} s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "req/s":
        return f"{value:.0f} req/s" if value >= 100 else f"{value:.1f} req/s"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g} {unit}"


MIN_RUNS_FOR_P95 = 10


def render_table(results: list[Result]) -> str:
    header = ("name", "runs", "median", "cpu", "p95", "min", "max", "goal", "verdict")
    rows = [header]
    for r in results:
        many = len(r.samples) >= MIN_RUNS_FOR_P95
        rows.append((
            r.name, str(len(r.samples)), fmt(r.median, r.unit),
            fmt(statistics.median(r.cpu), r.unit) if r.cpu else "-",
            fmt(percentile(r.samples, 0.95), r.unit) if many else "-",
            fmt(min(r.samples), r.unit) if len(r.samples) > 1 else "-",
            fmt(max(r.samples), r.unit) if len(r.samples) > 1 else "-",
            r.goal or "-", r.verdict,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i in (0, 7, 8) else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------ machine ---


def machine_lines() -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
        f"nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), load average {load}",
        f"python:  {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"sqlite:  {sqlite3.sqlite_version} (python module)",
    ]


# -------------------------------------------------------------- subprocesses ---


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any GOVHALL_* setting, plus `settings` (GOVHALL_<KEY>)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVHALL_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update({f"GOVHALL_{key.upper()}": value for key, value in settings.items()})
    return env


@dataclass(frozen=True)
class CliRun:
    wall: float  # seconds, including Python start-up
    cpu: float  # user + system seconds of the child process
    stdout: str


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> CliRun:
    """Run `govhall ARGS…` and time it. Raises with its stderr on failure."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([GOVHALL, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"govhall {' '.join(args)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return CliRun(wall, _children_cpu() - cpu_before, done.stdout)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def run_concurrently(worker: Callable[[], list[float]], threads: int) -> tuple[float, list[float]]:
    """Run `worker` in `threads` threads at once; (seconds, every latency the workers returned)."""
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        futures = [pool.submit(worker) for _ in range(threads)]
        latencies = [ms for future in futures for ms in future.result()]
        return time.perf_counter() - start, latencies
