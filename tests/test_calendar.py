"""The working-day calendar: seeding, the year-file loader and the clock, on the test database."""

from __future__ import annotations

import re
from datetime import date, timedelta

import chinese_calendar
import pytest
import yaml
from sqlalchemy import select

from app.calendar.clock import NATURAL, WORKING, CalendarMissing, WorkingCalendar
from app.calendar.loader import CalendarFileError, read_calendar_file
from app.calendar.models import CalendarDay, CalendarYear
from app.calendar.services import (
    ADDED,
    KEPT,
    REPLACED,
    UNCHANGED,
    due_date,
    load_calendar,
    replace_year,
    seed_from_chinese_calendar,
)
from app.core.db import make_engine, make_session_factory, session_scope
from app.core.migrate import upgrade
from app.core.tenancy import Scope, set_scope
from tests.conftest import QueryCounter, repo_path

D = date
PACKAGE_YEARS = list(range(2004, 2027))
# A test schedule for 2027 (made up, like the README's example): 元旦 is Friday 1 to Sunday 3 January.
TEST_2027 = {
    "year": 2027,
    "source": "测试用（虚构）2027年节假日安排",
    "holidays": [
        {"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
        {"name": "春节", "from": "2027-02-06", "to": "2027-02-14"},
        {"name": "劳动节", "from": "2027-05-01", "to": "2027-05-05"},
        {"name": "端午节", "from": "2027-06-09"},
    ],
    "workdays": ["2027-02-20", "2027-05-08"],
}


def write_file(tmp_path, data, name="2027.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def empty_session(blank_url):
    """A system-scope session on a freshly migrated database without any calendar year."""
    engine = make_engine(blank_url)
    upgrade(engine)
    session = set_scope(make_session_factory(engine)(), Scope.system())
    yield session
    session.rollback()
    session.close()
    engine.dispose()


@pytest.fixture(scope="module")
def seeded(shared_app):
    """The module's shared demo database with the package's years seeded (committed once)."""
    with session_scope(shared_app.extensions["govhall.sessions"]) as session:
        seed_from_chinese_calendar(set_scope(session, Scope.system()))
    return shared_app


@pytest.fixture
def seeded_session(seeded):
    session = set_scope(seeded.extensions["govhall.sessions"](), Scope.system())
    yield session
    session.rollback()
    session.close()


@pytest.fixture(scope="module")
def calendar(seeded) -> WorkingCalendar:
    session = set_scope(seeded.extensions["govhall.sessions"](), Scope.system())
    try:
        return load_calendar(session, 2004)
    finally:
        session.close()


# --- seeding -------------------------------------------------------------------------------------

def test_seed_agrees_with_the_package_on_every_day(calendar):
    """Does the seeded calendar call the same days working days as chinese-calendar, 2004 to 2026?"""
    assert sorted(calendar.years) == PACKAGE_YEARS
    day = D(2004, 1, 1)
    while day <= D(2026, 12, 31):
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_seed_keeps_the_notices_names_and_source(seeded_session):
    """Are 2026's days stored with the notice's holiday names and the package named as source?"""
    year = seeded_session.get(CalendarYear, 2026)
    assert year is not None and year.source == f"chinese-calendar {chinese_calendar.__version__}"
    days = {d.day: (d.kind, d.name) for d in seeded_session.scalars(select(CalendarDay).where(CalendarDay.year == 2026))}
    assert days[D(2026, 2, 15)] == ("holiday", "春节")
    assert days[D(2026, 2, 14)] == ("workday", "春节")
    assert days[D(2026, 4, 6)] == ("holiday", "清明节")
    assert [d for d, (kind, _) in days.items() if kind == "workday"] == [
        D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)]


def test_seed_twice_changes_nothing(empty_session):
    """Does a second seed report every year unchanged and leave the rows (and loaded_at) as they were?"""
    first = seed_from_chinese_calendar(empty_session)
    assert first == {ADDED: len(PACKAGE_YEARS)}
    before = empty_session.execute(select(CalendarYear.year, CalendarYear.loaded_at)).all()
    empty_session.commit()
    second = seed_from_chinese_calendar(empty_session)
    assert second == {UNCHANGED: len(PACKAGE_YEARS)}
    assert empty_session.execute(select(CalendarYear.year, CalendarYear.loaded_at)).all() == before


def test_seed_keeps_a_year_loaded_from_a_notice(empty_session, tmp_path):
    """Does seeding leave alone a year an admin loaded from a notice file?"""
    seed_from_chinese_calendar(empty_session)
    corrected = dict(TEST_2027, year=2026, source="国办发明电〔2025〕7号（测试）", workdays=[],
                     holidays=[{"name": "元旦", "from": "2026-01-01", "to": "2026-01-03"}])
    assert replace_year(empty_session, read_calendar_file(write_file(tmp_path, corrected))) == REPLACED
    assert seed_from_chinese_calendar(empty_session) == {UNCHANGED: len(PACKAGE_YEARS) - 1, KEPT: 1}
    assert empty_session.get(CalendarYear, 2026).source.startswith("国办发明电")


# --- working days ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("day", "working"), [
    (D(2026, 2, 13), True),   # Friday before Spring Festival
    (D(2026, 2, 14), True),   # Saturday declared a working day (调休)
    (D(2026, 2, 16), False),  # Monday in the holiday
    (D(2026, 2, 21), False),  # Saturday in the holiday
    (D(2026, 2, 24), True),   # first day back
    (D(2026, 3, 7), False),   # an ordinary Saturday
    (D(2026, 10, 10), True),  # Saturday after National Day (调休)
])
def test_is_working_day(calendar, day, working):
    """Is each day a working day exactly when the 2026 notice says so?"""
    assert calendar.is_working_day(day) is working


def test_acceptance_on_a_holiday_counts_from_the_next_working_day(calendar):
    """Accepted on Saturday 3 October 2026 (National Day): is 1 working day Thursday 8 October?"""
    assert calendar.due_date(D(2026, 10, 3), 1, WORKING).day == D(2026, 10, 8)


def test_acceptance_on_a_friday(calendar):
    """Accepted on Friday 6 March 2026: is 1 working day the Monday and 5 the next Friday?"""
    assert calendar.add_working_days(D(2026, 3, 6), 1) == D(2026, 3, 9)
    assert calendar.due_date(D(2026, 3, 6), 5, WORKING).day == D(2026, 3, 13)


def test_across_spring_festival(calendar):
    """Accepted Friday 13 February 2026: do 5 working days count the 调休 Saturday, skip 15–23 February
    and end on Friday 27 February?"""
    assert calendar.due_date(D(2026, 2, 13), 5, WORKING).day == D(2026, 2, 27)


def test_acceptance_on_a_swapped_saturday(calendar):
    """Accepted on Saturday 14 February 2026 (a 调休 working day): is the acceptance day still not
    counted, so 1 working day is Tuesday 24 February? And can a deadline land on the 调休 Saturday 28th?"""
    assert calendar.due_date(D(2026, 2, 14), 1, WORKING).day == D(2026, 2, 24)
    assert calendar.due_date(D(2026, 2, 27), 1, WORKING).day == D(2026, 2, 28)


def test_immediate_items_are_due_the_same_day(calendar):
    """Is a 0-day limit (即办) due on the day of acceptance, even on a holiday?"""
    assert calendar.due_date(D(2026, 10, 3), 0, WORKING).day == D(2026, 10, 3)


def test_a_pause_spanning_a_holiday(calendar):
    """Paused from Wednesday 30 September to Friday 9 October 2026: does it add only the 2 working days
    (30 September and 8 October) to a 20-working-day limit?"""
    paused = calendar.working_days_between(D(2026, 9, 30), D(2026, 10, 9))
    assert paused == 2
    assert calendar.due_date(D(2026, 9, 21), 20, WORKING).day == D(2026, 10, 26)
    assert calendar.due_date(D(2026, 9, 21), 20, WORKING, paused_working_days=paused).day == D(2026, 10, 28)


def test_pause_bounds(calendar):
    """Does a pause count its first day and not its last, and a same-day pause nothing?"""
    assert calendar.working_days_between(D(2026, 3, 6), D(2026, 3, 9)) == 1  # Friday to Monday
    assert calendar.working_days_between(D(2026, 3, 7), D(2026, 3, 9)) == 0  # Saturday to Monday
    assert calendar.working_days_between(D(2026, 3, 9), D(2026, 3, 9)) == 0
    with pytest.raises(ValueError, match="before"):
        calendar.working_days_between(D(2026, 3, 9), D(2026, 3, 6))


@pytest.mark.parametrize(("accepted", "days", "due"), [
    (D(2026, 9, 20), 10, D(2026, 9, 30)),   # lands on a working Wednesday
    (D(2026, 9, 24), 7, D(2026, 10, 8)),    # lands on 1 October: moves past the holiday (§203)
    (D(2026, 3, 1), 6, D(2026, 3, 9)),      # lands on a Saturday: moves to Monday
    (D(2026, 10, 3), 7, D(2026, 10, 10)),   # lands on a 调休 Saturday: stays
])
def test_natural_days(calendar, accepted, days, due):
    """Is a natural-day limit acceptance + N days, moved to the next working day when that is not one?"""
    assert calendar.due_date(accepted, days, NATURAL).day == due


def test_due_soon_and_overdue(calendar):
    """With a due day of Thursday 8 October 2026: is it due soon on 30 September (the holiday leaves one
    working day), not on 29 September, still in time on the day, and overdue the day after?"""
    due = D(2026, 10, 8)
    assert calendar.due_soon(due, D(2026, 9, 30)) and not calendar.overdue(due, D(2026, 9, 30))
    assert not calendar.due_soon(due, D(2026, 9, 29))
    assert calendar.due_soon(due, due) and not calendar.overdue(due, due)
    assert calendar.overdue(due, D(2026, 10, 9)) and not calendar.due_soon(due, D(2026, 10, 9))
    assert calendar.working_days_left(due, D(2026, 10, 12)) == -3  # 9th, the 调休 Saturday 10th, 12th
    assert calendar.due_soon(due, D(2026, 9, 29), warn_days=2)


def test_a_bad_unit_or_count_is_a_programming_error(calendar):
    """Are an unknown unit and a negative count refused loudly rather than computed?"""
    with pytest.raises(ValueError, match="unknown unit"):
        calendar.due_date(D(2026, 3, 6), 5, "hours")
    with pytest.raises(ValueError, match="cannot count"):
        calendar.due_date(D(2026, 3, 6), -1, WORKING)


# --- missing years -------------------------------------------------------------------------------

def test_missing_year_is_flagged_then_resolved_by_loading_it(empty_session, tmp_path):
    """Accepted 28 December 2026 with 10 working days: is the result "calendar missing for 2027", and
    after loading a 2027 file, Tuesday 12 January 2027?"""
    seed_from_chinese_calendar(empty_session)
    missing = due_date(empty_session, D(2026, 12, 28), 10, WORKING)
    assert missing.calendar_missing and missing.day is None
    assert missing.missing_years == (2027,)
    assert str(missing) == "calendar missing for 2027"
    assert due_date(empty_session, D(2026, 12, 28), 10, NATURAL).missing_years == (2027,)
    assert due_date(empty_session, D(2026, 12, 28), 3, WORKING).day == D(2026, 12, 31)

    assert replace_year(empty_session, read_calendar_file(write_file(tmp_path, TEST_2027))) == ADDED
    assert due_date(empty_session, D(2026, 12, 28), 10, WORKING).day == D(2027, 1, 12)
    assert due_date(empty_session, D(2026, 12, 28), 10, NATURAL).day == D(2027, 1, 7)


def test_the_clock_never_falls_back_to_monday_to_friday():
    """Does a calendar without a year raise CalendarMissing for any day of it, even an ordinary Tuesday?"""
    calendar = WorkingCalendar(2026, frozenset({2026}))
    with pytest.raises(CalendarMissing, match="2027"):
        calendar.is_working_day(D(2027, 3, 2))
    with pytest.raises(ValueError, match="loaded from 2026"):
        calendar.is_working_day(D(2025, 3, 4))


def test_one_query_per_computation(seeded, seeded_session):
    """Does a due date cost one query, however many years it spans?"""
    with QueryCounter(seeded) as counter:
        assert due_date(seeded_session, D(2024, 12, 20), 60, WORKING).day is not None
    assert counter.count == 1


def test_a_year_loaded_in_another_process_is_used_at_once(blank_url, tmp_path):
    """A worker has read the calendar (and keeps it); `govhall calendar load` adds 2027 from another
    process, then a corrected 2027. Does the worker's next due date use each at once?"""
    worker, loader = make_engine(blank_url), make_engine(blank_url)  # two processes' engines
    upgrade(loader)

    def load(schedule):
        with session_scope(make_session_factory(loader)) as session:
            return replace_year(set_scope(session, Scope.system()), schedule)

    def due_as_worker():
        with make_session_factory(worker)() as session:
            return due_date(set_scope(session, Scope.system()), D(2026, 12, 28), 10, WORKING)

    try:
        with session_scope(make_session_factory(loader)) as session:
            seed_from_chinese_calendar(set_scope(session, Scope.system()))
        assert due_as_worker().missing_years == (2027,)
        assert load(read_calendar_file(write_file(tmp_path, TEST_2027))) == ADDED
        assert due_as_worker().day == D(2027, 1, 12)
        corrected = dict(TEST_2027, holidays=[{"name": "元旦", "from": "2027-01-01", "to": "2027-01-04"}])
        assert load(read_calendar_file(write_file(tmp_path, corrected, "corrected.yaml"))) == REPLACED
        assert due_as_worker().day == D(2027, 1, 13)  # one more day off
    finally:
        worker.dispose()
        loader.dispose()


def test_a_known_calendar_costs_one_small_query(seeded, seeded_session):
    """Once read, is the calendar checked by its version only (no declared day read again) and the same
    object handed out while nothing changed?"""
    first = load_calendar(seeded_session, 2026)
    with QueryCounter(seeded) as counter:
        assert load_calendar(seeded_session, 2026) is first
    assert counter.count == 1 and "calendar_days" not in counter.statements[0]


def test_loading_a_year_twice_changes_nothing_and_a_new_file_replaces_it(empty_session, tmp_path):
    """Is reloading the same file a no-op, and does a changed file replace the whole year?"""
    path = write_file(tmp_path, TEST_2027)
    assert replace_year(empty_session, read_calendar_file(path)) == ADDED
    assert replace_year(empty_session, read_calendar_file(path)) == UNCHANGED
    smaller = dict(TEST_2027, holidays=TEST_2027["holidays"][:1], workdays=[])
    assert replace_year(empty_session, read_calendar_file(write_file(tmp_path, smaller, "b.yaml"))) == REPLACED
    days = empty_session.scalars(select(CalendarDay.day).where(CalendarDay.year == 2027)).all()
    assert sorted(days) == [D(2027, 1, 1), D(2027, 1, 2), D(2027, 1, 3)]


# --- the year file -------------------------------------------------------------------------------

def test_a_valid_file_reads_as_the_notice_says(tmp_path):
    """Does a file turn into every day of each holiday period and the declared workdays?"""
    schedule = read_calendar_file(write_file(tmp_path, TEST_2027))
    assert schedule.year == 2027 and schedule.source == TEST_2027["source"]
    assert schedule.count("holiday") == 3 + 9 + 5 + 1 and schedule.count("workday") == 2
    assert schedule.days[D(2027, 6, 9)] == ("holiday", "端午节")
    assert schedule.days[D(2027, 2, 20)] == ("workday", "")


def test_the_readme_example_is_a_valid_file(tmp_path):
    """Does the example in tenants/calendar/README.md load as documented (unquoted dates, comments)?"""
    readme = repo_path("tenants", "calendar", "README.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", readme, re.DOTALL)
    assert example is not None
    schedule = read_calendar_file(write_file(tmp_path, example.group(1)))
    assert schedule.year == 2027 and "示例" in schedule.source
    assert schedule.count("workday") == 5


def _edited(**changes):
    data = yaml.safe_load(yaml.safe_dump(TEST_2027))
    for key, value in changes.items():
        target, _, field = key.partition("__")
        if field:
            data["holidays"][int(target.removeprefix("h"))][field] = value
        elif value is None:
            del data[target]
        else:
            data[target] = value
    return data


@pytest.mark.parametrize(("data", "message"), [
    (_edited(workdays=["2027-04-26"]),
     "workdays[0]: 2027-04-26 is a Monday; only a Saturday or Sunday can be declared a working day"),
    (_edited(workdays=["2027-02-06"]), "workdays[0]: 2027-02-06 is also a holiday (春节)"),
    (_edited(workdays=["2027-02-20", "2027-02-20"]), "workdays[1]: 2027-02-20 is listed twice"),
    (_edited(workdays=["2026-12-26"]), "workdays[0]: 2026-12-26 is not in 2027"),
    (_edited(h0__from="2026-12-31"), "holidays[0] (元旦).from: 2026-12-31 is not in 2027"),
    (_edited(h2__to="2028-01-01"), "holidays[2] (劳动节).to: 2028-01-01 is not in 2027"),
    (_edited(h2__to="2027-04-30"), "holidays[2] (劳动节): 'to' 2027-04-30 is before 'from' 2027-05-01"),
    (_edited(h1__from="2027-01-03"), "holidays[1] (春节): 2027-01-03 is already in holidays[0] (元旦)"),
    (_edited(h0__name="  "), "holidays[0].name: String should have at least 1 character"),
    (_edited(h0__from="2027-02-30"), "holidays[0].from: 2027-02-30 is not a date"),
    (_edited(h0__from="2027/01/01"), "holidays[0].from: expected a date as YYYY-MM-DD, got '2027/01/01'"),
    (_edited(source=None), "source: Field required"),
    (_edited(source=""), "source: String should have at least 1 character"),
    (_edited(holidays=[]), "holidays: List should have at least 1 item"),
    (_edited(year=1990), "year: Input should be greater than or equal to 2000"),
    (dict(TEST_2027, workday=["2027-02-20"]), "workday: Extra inputs are not permitted"),
    ("- 2027-01-01\n", "top level: Input should be a valid dictionary"),
    ("year: 2027\nholidays: [\n", "cannot read"),
])
def test_the_loader_refuses_with_the_place_named(tmp_path, data, message):
    """Is each kind of mistake in a year file refused with its place in the file named?"""
    path = write_file(tmp_path, data)
    with pytest.raises(CalendarFileError) as refused:
        read_calendar_file(path)
    assert any(problem.startswith(f"{path}: {message}") for problem in refused.value.problems), refused.value.problems


def test_the_loader_reports_every_problem_at_once(tmp_path):
    """Are all problems of a file listed together, not just the first?"""
    path = write_file(tmp_path, _edited(workdays=["2027-04-26", "2027-02-06"], h2__to="2027-04-30"))
    with pytest.raises(CalendarFileError) as refused:
        read_calendar_file(path)
    assert len(refused.value.problems) == 3


def test_a_missing_file_is_named(tmp_path):
    """Does loading a file that is not there say so, naming it?"""
    with pytest.raises(CalendarFileError, match="2027.yaml: file not found"):
        read_calendar_file(tmp_path / "2027.yaml")
