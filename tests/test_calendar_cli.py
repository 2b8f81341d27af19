"""`govhall calendar …` as ops use it: real processes, exit codes and messages."""

from __future__ import annotations

import pytest
import yaml

from tests.test_calendar import TEST_2027
from tests.test_cli import run


@pytest.fixture
def seeded_url(blank_url: str) -> str:
    assert run(blank_url, "db", "upgrade").returncode == 0
    seeded = run(blank_url, "calendar", "seed")
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.strip() == "calendar years: 23 added"
    return blank_url


def test_seed_twice_says_no_changes(seeded_url):
    """Does a second `calendar seed` report no changes?"""
    again = run(seeded_url, "calendar", "seed")
    assert again.returncode == 0
    assert again.stdout.splitlines() == ["No changes.", "calendar years: 23 unchanged"]


def test_due_prints_the_date(seeded_url):
    """Does `calendar due` print the due date for working and natural days, with a pause?"""
    assert run(seeded_url, "calendar", "due", "2026-02-13", "5").stdout.strip() == "2026-02-27 Fri"
    natural = run(seeded_url, "calendar", "due", "2026-09-24", "7", "--unit", "natural")
    assert natural.stdout.strip() == "2026-10-08 Thu"
    paused = run(seeded_url, "calendar", "due", "2026-09-21", "20", "--paused", "2")
    assert paused.stdout.strip() == "2026-10-28 Wed"


def test_due_into_a_missing_year_then_load_it(seeded_url, tmp_path):
    """Does `calendar due` name the missing year and fail, and answer once the year is loaded?"""
    missing = run(seeded_url, "calendar", "due", "2026-12-28", "10")
    assert missing.returncode == 1
    assert "calendar missing for 2027" in missing.stderr and "calendar load" in missing.stderr
    path = tmp_path / "2027.yaml"
    path.write_text(yaml.safe_dump(TEST_2027, allow_unicode=True), encoding="utf-8")
    loaded = run(seeded_url, "calendar", "load", str(path))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("2027: added (18 days off, 2 weekend working days;")
    assert run(seeded_url, "calendar", "load", str(path)).stdout.startswith("2027: unchanged")
    assert run(seeded_url, "calendar", "due", "2026-12-28", "10").stdout.strip() == "2027-01-12 Tue"


def test_a_refused_file_loads_nothing(seeded_url, tmp_path):
    """Is a file with a weekday "workday" refused with its place named, leaving 2027 not loaded?"""
    path = tmp_path / "2027.yaml"
    path.write_text(yaml.safe_dump(dict(TEST_2027, workdays=["2027-04-26"]), allow_unicode=True), encoding="utf-8")
    refused = run(seeded_url, "calendar", "load", str(path))
    assert refused.returncode == 1
    assert "nothing loaded" in refused.stderr
    assert f"{path}: workdays[0]: 2027-04-26 is a Monday" in refused.stderr
    shown = run(seeded_url, "calendar", "show", "2027")
    assert shown.returncode == 1 and "no calendar for 2027" in shown.stderr


def test_show_lists_a_year(seeded_url):
    """Does `calendar show 2026` name the source and list Spring Festival and its 调休 Saturday?"""
    shown = run(seeded_url, "calendar", "show", "2026")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("2026: chinese-calendar 1.11")
    assert "2026-02-16 Mon  holiday  春节" in lines
    assert "2026-02-14 Sat  workday  春节 调休" in lines
