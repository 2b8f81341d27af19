"""The case's clock (限时办结): due dates from the working-day calendar, recomputed from facts.

Due = the N-th working day after acceptance plus the working days spent in closed pauses (special
procedures and correction during review). Everything is derived from the acceptance date, the
limits and the pauses, so a case flagged "calendar missing" is fixed by `reschedule` once the
year's calendar is loaded. Nothing is ever guessed.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.calendar.clock import CalendarMissing, WorkingCalendar
from app.calendar.services import load_calendar
from app.cases.models import Case
from app.cases.states import CaseState

CHINA = ZoneInfo("Asia/Shanghai")


def china_today() -> dt.date:
    """The date in China: acceptance dates and deadlines are local dates."""
    return dt.datetime.now(CHINA).date()


def schedule(session: Session, case: Case, calendar: WorkingCalendar | None = None) -> None:
    """Set the promised and statutory due dates (or the missing years) of an accepted case."""
    if case.accepted_on is None:
        return
    calendar = calendar or load_calendar(session, case.accepted_on)
    missing: set[int] = set()
    paused = _paused_working_days(case, calendar, missing)
    promised = calendar.due_date(case.accepted_on, case.promised_days, case.promised_unit, paused)
    statutory = calendar.due_date(case.accepted_on, case.statutory_days, case.statutory_unit, paused)
    case.paused_days = paused
    # The promised limit is the clock the hall works to; the statutory one (often longer) is kept
    # for compliance and may still be unknown when the promise is not.
    missing |= set(promised.missing_years)
    case.due_date = None if missing else promised.day
    case.statutory_due_date = None if missing or statutory.calendar_missing else statutory.day
    case.calendar_missing = ",".join(str(year) for year in sorted(missing))


def _paused_working_days(case: Case, calendar: WorkingCalendar, missing: set[int]) -> int:
    total = 0
    for pause in case.pauses:
        if pause.ended_on is None:
            continue
        try:
            pause.working_days = calendar.working_days_between(pause.started_on, pause.ended_on)
        except CalendarMissing as exc:
            missing.update(exc.years)
            continue
        total += pause.working_days
    return total


def reschedule(session: Session) -> int:
    """Recompute the deadlines still waiting for a calendar year (after `govhall calendar load`).
    Returns how many cases now have a due date."""
    # The promised clock's missing years are flagged; a statutory date may be missing on its own.
    still_unknown = or_(Case.calendar_missing != "", and_(Case.accepted_on.is_not(None),
                                                         Case.statutory_due_date.is_(None)))
    waiting = list(session.scalars(
        select(Case).where(still_unknown, Case.state.in_([s.value for s in CaseState if s.is_open]))
    ))
    if not waiting:
        return 0
    calendar = load_calendar(session, min(c.accepted_on for c in waiting if c.accepted_on is not None))
    for case in waiting:
        schedule(session, case, calendar)
    return sum(1 for case in waiting if case.due_date is not None and case.statutory_due_date is not None)
