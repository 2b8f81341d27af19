"""Measurements 1 and 2: import + apply of all of Shandong, and a no-op re-apply.

Setup (not timed): a migrated empty SQLite template, and a tenants folder for a province node
(root 370000000000) — the shipped catalogue and defaults, one places file for the province, one
per city, and one per county written by the onboarding code (`render_places(onboarding_places())`).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import sqlite3
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

import app.models  # noqa: F401 - every mapped class registered before the first query
from app.core.db import Base, make_engine, make_session_factory, session_scope
from app.core.migrate import upgrade
from app.core.tenancy import Scope, install_scoping, set_scope
from app.tenants import services
from app.tenants.divisions import ImportResult, import_divisions
from app.tenants.files import PLACES_DIR
from app.tenants.models import Division
from app.tenants.onboarding import onboarding_places, render_places
from app.tenants.plan import Plan
from app.tenants.schema import PlaceSpec
from bench.common import (
    BENCH_SECRET_KEY,
    REPO,
    Report,
    Result,
    clean_env,
    log,
    run_cli,
    sqlite_url,
)

ROOT = "370000000000"
DIVISIONS_CSV = REPO / "tenants" / "divisions" / "shandong.csv"
GOAL_IMPORT_APPLY_S = 5.0
GOAL_REAPPLY_S = 1.0
COUNTED_TABLES = ("divisions", "tenants", "tenant_items", "windows", "items", "materials", "staff", "role_grants")
PHASES = ("load_config", "build_desired", "make_plan", "apply_plan")


@dataclass
class Fixture:
    work: Path
    folder: Path
    template: Path  # migrated to head, no rows
    files: int = 0
    places: int = 0


@dataclass
class ApplyRun:
    seconds: float
    cpu: float
    plan: Plan
    divisions: ImportResult
    phases: dict[str, float] = field(default_factory=dict)


# -------------------------------------------------------------------- setup ---


def fresh_database(fixture: Fixture, name: str) -> Path:
    """A copy of the migrated, empty template (the migration itself is never timed)."""
    path = fixture.work / f"{name}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(fixture.template, path)
    return path


def build_fixture(work: Path) -> Fixture:
    install_scoping()
    folder = work / "tenants-shandong"
    (folder / PLACES_DIR).mkdir(parents=True)
    for name in ("catalogue.yaml", "defaults.yaml"):
        shutil.copyfile(REPO / "tenants" / name, folder / name)
    fixture = Fixture(work=work, folder=folder, template=work / "template.sqlite")

    engine = make_engine(sqlite_url(fixture.template))
    try:
        upgrade(engine)
    finally:
        engine.dispose()

    scratch = fresh_database(fixture, "scratch")
    engine = make_engine(sqlite_url(scratch))
    try:
        with session_scope(make_session_factory(engine)) as session:
            set_scope(session, Scope.system())
            import_divisions(session, DIVISIONS_CSV)
            _write_places_files(session, folder, fixture)
    finally:
        engine.dispose()
    return fixture


def _write_places_files(session: Session, folder: Path, fixture: Fixture) -> None:
    divisions = list(session.scalars(select(Division).order_by(Division.code)))
    by_level: dict[str, list[Division]] = defaultdict(list)
    for division in divisions:
        by_level[division.level].append(division)
    (province,) = (d for d in by_level["province"] if d.code == ROOT)
    single = [PlaceSpec(code=province.code, name=province.name, level="province")]
    single += [PlaceSpec(code=c.code, name=c.name, level="city", parent=c.parent_code) for c in by_level["city"]]
    for spec in single:
        body = {"places": [spec.model_dump(mode="json", exclude_defaults=True)]}
        text = f"# {spec.name} ({spec.code}), written by the benchmark\n"
        text += yaml.safe_dump(body, allow_unicode=True, sort_keys=False)
        (folder / PLACES_DIR / f"{spec.code}.yaml").write_text(text, encoding="utf-8")
        fixture.files += 1
        fixture.places += 1
    for county in by_level["county"]:
        places = onboarding_places(session, county.code)
        (folder / PLACES_DIR / f"{county.code}.yaml").write_text(render_places(places), encoding="utf-8")
        fixture.files += 1
        fixture.places += len(places)


# ----------------------------------------------------------------- timing ---


@contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Time the steps of `services.apply_directory` by wrapping the names it calls (no file edits)."""
    totals: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    originals = {name: getattr(services, name) for name in PHASES}

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - start
        return timed

    for name, function in originals.items():
        setattr(services, name, wrap(name, function))
    try:
        yield totals
    finally:
        for name, function in originals.items():
            setattr(services, name, function)


def import_and_apply(db_path: Path, folder: Path) -> ApplyRun:
    """What `tenants import-divisions` + `tenants apply` do, in one process and one transaction."""
    engine = make_engine(sqlite_url(db_path))
    factory = make_session_factory(engine)
    try:
        with phase_timers() as phases:
            cpu_start = time.process_time()
            start = time.perf_counter()
            with session_scope(factory) as session:
                set_scope(session, Scope.system())
                divisions = import_divisions(session, DIVISIONS_CSV)
                imported = time.perf_counter()
                plan = services.apply_directory(session, folder, ROOT)
                applied = time.perf_counter()
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
        breakdown = {"import_divisions": imported - start, **phases,
                     "commit": seconds - (applied - start)}
    finally:
        engine.dispose()
    return ApplyRun(seconds, cpu, plan, divisions, breakdown)


def reapply(db_path: Path, folder: Path) -> tuple[float, float, Plan]:
    """`tenants apply` again: (wall seconds, CPU seconds, plan)."""
    engine = make_engine(sqlite_url(db_path))
    factory = make_session_factory(engine)
    try:
        cpu_start = time.process_time()
        start = time.perf_counter()
        with session_scope(factory) as session:
            set_scope(session, Scope.system())
            plan = services.apply_directory(session, folder, ROOT)
        return time.perf_counter() - start, time.process_time() - cpu_start, plan
    finally:
        engine.dispose()


def row_counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as connection:
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED_TABLES}  # noqa: S608


def raw_insert_floor(source: Path, target: Path) -> float:
    """Baseline: insert the very rows the apply wrote with sqlite3.executemany, one transaction,
    same pragmas. What SQLite alone costs; the rest of the apply is Python."""
    tables = [t.name for t in Base.metadata.sorted_tables]
    with sqlite3.connect(source) as src:
        data = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in tables}  # noqa: S608
    connection = sqlite3.connect(target, isolation_level=None)
    try:
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
            connection.execute(f"PRAGMA {pragma}")
        start = time.perf_counter()
        connection.execute("BEGIN")
        for table in tables:
            rows = data[table]
            if rows:
                marks = ",".join("?" * len(rows[0]))
                connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608
        connection.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        connection.close()


# ------------------------------------------------------------ measurements ---


def measure_import_apply(fixture: Fixture, report: Report, runs: int, profile: bool) -> tuple[Path, float]:
    """Measurement 1 (in-process). Returns the database of the last run (for the re-apply) and the median."""
    samples: list[float] = []
    cpu: list[float] = []
    phases: dict[str, list[float]] = defaultdict(list)
    db_path = fixture.work / "unused"
    last: ApplyRun | None = None
    for n in range(runs):
        db_path = fresh_database(fixture, f"apply{n}")
        last = import_and_apply(db_path, fixture.folder)
        log(f"import+apply run {n + 1}/{runs}: {last.seconds:.3f} s, CPU {last.cpu:.3f} s ({last.plan.summary()})")
        samples.append(last.seconds)
        cpu.append(last.cpu)
        for name, seconds in last.phases.items():
            phases[name].append(seconds)
    assert last is not None
    counts = row_counts(db_path)
    met = statistics.median(samples) <= GOAL_IMPORT_APPLY_S
    report.add(Result("import+apply Shandong (in-process)", samples, "s", f"<= {GOAL_IMPORT_APPLY_S:g} s", met,
                      cpu=cpu))
    for name, values in phases.items():
        report.add(Result(f"  phase: {name}", values, "s"))
    report.facts.append(
        f"fixture: {fixture.files} places files, {fixture.places} places under root {ROOT}"
    )
    report.facts.append(
        f"import+apply created: {counts['tenants']} tenants, {counts['tenant_items']} tenant items, "
        f"{counts['windows']} windows ({counts['divisions']} divisions, {counts['items']} catalogue items, "
        f"{counts['materials']} materials); divisions: {last.divisions}; plan: {last.plan.summary()}"
    )

    floor_db = fresh_database(fixture, "floor")
    floor = [raw_insert_floor(db_path, floor_db)]
    report.add(Result("  baseline: sqlite3 executemany of the same rows", floor, "s"))
    report.add_ratio(Result("import+apply / raw sqlite3 insert of the same rows",
                            [statistics.median(samples) / floor[0]], "x"))
    if profile:
        profile_import_apply(fixture)
    return db_path, statistics.median(samples)


def measure_import_apply_cli(fixture: Fixture, report: Report, repeats: int,
                             import_apply_median: float | None) -> None:
    """The same through the real CLI (two processes, wall time incl. start-up), then CLI no-op re-applies."""
    db_path = fresh_database(fixture, "cli")
    env = clean_env(database_url=sqlite_url(db_path), secret_key=BENCH_SECRET_KEY, root_tenant=ROOT,
                    tenants_dir=str(fixture.folder), session_cookie_secure="false")
    startup = [run_cli(["db", "current"], env) for _ in range(repeats)]
    imported = run_cli(["tenants", "import-divisions", str(DIVISIONS_CSV)], env)
    applied = run_cli(["tenants", "apply", str(fixture.folder)], env)
    log(f"CLI: {imported.stdout.strip()} / {applied.stdout.strip()}")
    total = imported.wall + applied.wall
    counts = row_counts(db_path)
    report.add(Result("import+apply Shandong (real CLI, 2 processes)", [total], "s",
                      f"<= {GOAL_IMPORT_APPLY_S:g} s", total <= GOAL_IMPORT_APPLY_S, cpu=[imported.cpu + applied.cpu]))
    report.add(Result("  govhall tenants import-divisions", [imported.wall], "s", cpu=[imported.cpu]))
    report.add(Result("  govhall tenants apply", [applied.wall], "s", cpu=[applied.cpu]))
    report.add(Result("  baseline: CLI start-up (govhall db current)", [r.wall for r in startup], "s",
                      cpu=[r.cpu for r in startup]))
    report.facts.append(
        f"CLI created: {counts['tenants']} tenants, {counts['tenant_items']} tenant items, "
        f"{counts['windows']} windows; it said: {imported.stdout.strip()!r}, {applied.stdout.strip()!r}"
    )
    again = [run_cli(["tenants", "apply", str(fixture.folder)], env) for _ in range(repeats)]
    for run in again:
        if run.stdout.strip() != "No changes.":
            raise RuntimeError(f"CLI re-apply was not a no-op: {run.stdout!r}")
    # Informational: the 1 s goal is for the apply itself (in-process row); this adds Python start-up.
    report.add(Result("no-op re-apply (real CLI; says 'No changes.')", [r.wall for r in again], "s",
                      cpu=[r.cpu for r in again]))
    if import_apply_median:
        report.add_ratio(Result("import+apply real CLI / in-process", [total / import_apply_median], "x"))


def measure_reapply(fixture: Fixture, db_path: Path, report: Report, runs: int,
                    import_apply_median: float | None) -> None:
    samples, cpu = [], []
    for n in range(runs):
        seconds, cpu_seconds, plan = reapply(db_path, fixture.folder)
        rendered = plan.render()
        if not plan.empty or not rendered.endswith("No changes."):
            raise RuntimeError(f"re-apply was not a no-op:\n{rendered[-2000:]}")
        log(f"no-op re-apply run {n + 1}/{runs}: {seconds:.3f} s, CPU {cpu_seconds:.3f} s "
            f"({rendered.splitlines()[-1]})")
        samples.append(seconds)
        cpu.append(cpu_seconds)
    met = statistics.median(samples) <= GOAL_REAPPLY_S
    report.add(Result("no-op re-apply (in-process; 'No changes.')", samples, "s", f"<= {GOAL_REAPPLY_S:g} s", met,
                      cpu=cpu))
    if import_apply_median:
        report.add_ratio(Result("no-op re-apply / import+apply", [statistics.median(samples) / import_apply_median],
                                "x"))


def profile_import_apply(fixture: Fixture) -> None:
    """One extra, untimed run under cProfile: what dominates (printed to stderr)."""
    db_path = fresh_database(fixture, "profile")
    profiler = cProfile.Profile()
    profiler.enable()
    run = import_and_apply(db_path, fixture.folder)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    log(f"cProfile of one import+apply ({run.seconds:.3f} s under the profiler):\n{out.getvalue()}")


def profile_reapply(fixture: Fixture, db_path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    seconds, _cpu, _plan = reapply(db_path, fixture.folder)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)
    log(f"cProfile of one no-op re-apply ({seconds:.3f} s under the profiler):\n{out.getvalue()}")
