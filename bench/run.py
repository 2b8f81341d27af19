"""`scripts/bench [--quick] [--only NAME[,NAME…]] [--profile]`: measure, print a table, exit 0.

Goals are reported, not enforced: a missed goal still exits 0. A benchmark that cannot run
(a crash, a re-apply that is not a no-op) exits 1 after printing what did run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Report, log, machine_lines, render_table

MEASUREMENTS = {
    "import-apply": "import + apply of all of Shandong into an empty database, in-process (goal <= 5 s)",
    "import-apply-cli": "the same through the real CLI, plus a CLI no-op re-apply (wall times incl. start-up)",
    "reapply": "no-op re-apply on the applied database, in-process (goal <= 1 s)",
    "api": "one town's items API under gunicorn vs a bare Flask JSON endpoint (goal ratio >= 0.5)",
    "cases": "1,000,000 generated cases (--quick: 100,000) over Shandong's towns: generation rate, worklists on "
             "SQLite and PostgreSQL (goal p95 <= 20 ms), cases API vs bare Flask+SQL (goal >= 0.3), "
             "acceptance over HTTP (goal >= 200/s)",
    "sync": "a city node drains 100,000 case events (--quick: 20,000) to the provincial node under gunicorn with "
            "`govhall sync once` (goal >= 5,000 events/s and >= 0.5 of a bare requests POST loop), resends them all "
            "as duplicates (goal: as fast), sender peak memory at 10,000 and 100,000 (goal: about equal)",
    "deploy": "scripts/build, then ansible site.yml from nothing to 4 healthy local nodes (goal <= 180 s) and a "
              "no-op re-run (goal <= 60 s, changed=0); needs the ops extra",
}


@dataclass(frozen=True)
class Repetitions:
    import_apply: int
    reapply: int
    cli_repeats: int
    api_rounds: int
    api_requests: int
    api_warmup: int


FULL = Repetitions(import_apply=5, reapply=7, cli_repeats=3, api_rounds=6, api_requests=400, api_warmup=50)
QUICK = Repetitions(import_apply=1, reapply=3, cli_repeats=1, api_rounds=2, api_requests=150, api_warmup=20)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description="GovHall benchmarks: report against goals (always exits 0 on a miss).",
        epilog="Measurements: " + "; ".join(f"{k}: {v}" for k, v in MEASUREMENTS.items()),
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help=f"run only these measurements (repeat or comma-separate): {', '.join(MEASUREMENTS)}")
    parser.add_argument("--profile", action="store_true",
                        help="also profile (cProfile, to stderr) one import+apply, one re-apply, in-process "
                             "items requests, worklist pages and acceptances")
    args = parser.parse_args(argv)
    selected = [n.strip() for item in args.only or [] for n in item.split(",") if n.strip()]
    unknown = [n for n in selected if n not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}")
    args.selected = [n for n in MEASUREMENTS if not selected or n in selected]
    return args


def _terminate(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks that stop the servers


def run(args: argparse.Namespace, report: Report, work: Path) -> list[str]:
    """Run the selected measurements; returns the names of those that failed."""
    from bench import tenants

    reps = QUICK if args.quick else FULL
    failed: list[str] = []
    fixture = None
    applied_db = None
    import_apply_median = None

    def attempt(name: str, function: Any, *a: Any) -> Any:
        log(f"--- {name}: {MEASUREMENTS[name]}")
        start = time.perf_counter()
        try:
            return function(*a)
        except Exception:
            failed.append(name)
            report.notes.append(f"{name} FAILED:\n{traceback.format_exc()}")
            log(f"{name} FAILED:\n{traceback.format_exc()}")
            return None
        finally:
            log(f"--- {name} took {time.perf_counter() - start:.1f} s")

    tenant_steps = [n for n in ("import-apply", "import-apply-cli", "reapply") if n in args.selected]
    if tenant_steps:
        log("setup: migrated template, scratch division import, tenants folder for root 370000000000")
        start = time.perf_counter()
        try:
            fixture = tenants.build_fixture(work)
        except Exception:
            failed.extend(tenant_steps)
            report.notes.append(f"setup of {', '.join(tenant_steps)} FAILED:\n{traceback.format_exc()}")
            tenant_steps = []
        else:
            log(f"setup took {time.perf_counter() - start:.1f} s ({fixture.files} files, {fixture.places} places)")

    if "import-apply" in tenant_steps:
        outcome = attempt("import-apply", tenants.measure_import_apply, fixture, report, reps.import_apply,
                          args.profile)
        if outcome is not None:
            applied_db, import_apply_median = outcome
    if "import-apply-cli" in tenant_steps:
        attempt("import-apply-cli", tenants.measure_import_apply_cli, fixture, report, reps.cli_repeats,
                import_apply_median)
    if "reapply" in tenant_steps:

        def reapply_step() -> None:
            database = applied_db
            if database is None:
                log("reapply: importing and applying once first (not timed)")
                database = tenants.fresh_database(fixture, "reapply")
                tenants.import_and_apply(database, fixture.folder)
            tenants.measure_reapply(fixture, database, report, reps.reapply, import_apply_median)
            if args.profile:
                tenants.profile_reapply(fixture, database)

        attempt("reapply", reapply_step)
    if "api" in args.selected:
        from bench import api

        attempt("api", api.measure_api, work, report, reps.api_rounds, reps.api_requests, reps.api_warmup,
                args.profile)
    if "cases" in args.selected:
        from bench import cases

        attempt("cases", cases.measure_cases, work, report, args.quick, fixture, args.profile)
    if "sync" in args.selected:
        from bench import sync

        attempt("sync", sync.measure_sync, work, report, args.quick)
    if "deploy" in args.selected:
        from bench import deploy

        attempt("deploy", deploy.measure_deploy, work, report)
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    header = machine_lines()
    header.append(f"mode:    {'quick' if args.quick else 'full'}; measurements: {', '.join(args.selected)}")
    print("\n".join(header), flush=True)
    report = Report()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="govhall-bench-") as tmp:
        failed = run(args, report, Path(tmp))
    total = time.perf_counter() - started

    print()
    if report.results:
        print(render_table(report.results))
    if report.ratios:
        print("\nRatios (measured in this run):")
        print(render_table(report.ratios))
    if report.facts:
        print()
        print("\n".join(report.facts))
    missed = [r.name.strip() for r in report.results + report.ratios if r.met is False]
    print(f"\nbenchmark took {total:.0f} s; goals missed: {', '.join(missed) if missed else 'none'}")
    for note in report.notes:
        print(f"\n{note}")
    if failed:
        print(f"\nFAILED to measure: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
