"""Demo case history (`govhall demo cases`): about 18 months of cases (办件) across the tenant tree.

Every case is what the workflow would have left behind: a number from its place's daily sequence,
an item the place offers, an applicant with a valid ID number or credit code, the item's
checklist as received, one review task per reviewing department in a state that fits the case's,
pauses, due dates from the real working-day calendar, an evaluation once decided.

Written in bulk, in the order the cases came in (ids grow with time, as in a live hall): Core
executemany inserts, one transaction per chunk of `chunk_size` cases, nothing through the ORM.
Each chunk first takes the lock a real acceptance takes (SQLite: the write lock; PostgreSQL:
`case_counters`), so numbers and ids cannot collide with a clerk accepting meanwhile, and leaves
`case_counters` at the last sequence it used, so later acceptances continue after it.
Generated history has no audit events: the audit chains are not touched (they still verify) and
a generated case's timeline is empty. This is system work, like applying tenant files: the
inserts are Core statements that no tenant scope filters, for a CLI command in the system scope.

- `places`: where cases happen (towns, their offers, staff names) and how many each gets;
- `people`: applicants with valid resident ID numbers and credit codes;
- `history`: one case at a time, as the workflow leaves it in each state;
- `writer`: numbers, ids and the bulk inserts of one chunk.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.calendar.clock import WorkingCalendar
from app.calendar.services import load_calendar
from app.cases.deadlines import china_today
from app.cases.demo.history import HISTORY_DAYS, Maker
from app.cases.demo.places import DemoError, load_places, spread
from app.cases.demo.writer import Summary, lock_numbering, refresh_statistics, write_chunk
from app.core.tenancy import Scope, set_scope

__all__ = ["CHUNK_SIZE", "DemoError", "Summary", "generate_cases"]

CHUNK_SIZE = 50_000


def generate_cases(engine: Engine, count: int, seed: int = 1, places: str = "town", today: dt.date | None = None,
                   chunk_size: int = CHUNK_SIZE, progress: Callable[[Summary], None] | None = None) -> Summary:
    """Write `count` cases over the node's towns (`places="town"`) or every place offering items
    (`"all"`), accepted over the 18 months up to `today`. Deterministic for a seed and database."""
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - invented demo data, nothing secret
    today = today or china_today()
    with Session(engine) as session:
        set_scope(session, Scope.system())
        world = load_places(session, places)
        maker = Maker(rng, _calendar(session, today), today, sorted({p.code[:6] for p in world}))
    summary = Summary(places=len(world), first_day=maker.days[0], last_day=maker.days[-1])
    # Planned first, then written in the order they came in: a place's cases lie spread over the
    # table as in a live hall, not side by side (which would flatter every query by place).
    plans = sorted((maker.plan(place) for place in spread(rng, world, count)),
                   key=lambda plan: (plan.day, plan.second, plan.place.code))
    for start in range(0, len(plans), chunk_size):
        with engine.connect() as connection:
            lock_numbering(connection)
            write_chunk(connection, maker, plans[start:start + chunk_size], summary)
            connection.commit()
        summary.seconds = time.perf_counter() - started
        if progress is not None:
            progress(summary)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        refresh_statistics(connection)
    summary.seconds = time.perf_counter() - started
    return summary


def _calendar(session: Session, today: dt.date) -> WorkingCalendar:
    start = today - dt.timedelta(days=HISTORY_DAYS)
    calendar = load_calendar(session, start)
    missing = [year for year in range(start.year, today.year + 1) if not calendar.has_year(year)]
    if missing:
        raise DemoError(f"no working-day calendar for {', '.join(map(str, missing))}: "
                        "run `govhall calendar seed` or `govhall calendar load` first")
    return calendar
