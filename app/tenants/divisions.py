"""Import the official division list (code,name,level,parent_code CSV) — all or nothing.

Every row is checked before anything is written: 12-digit codes, a known level that matches
the code, a parent that exists (earlier in the file or already imported) at a higher level and
whose prefix the code extends, and no duplicates. Any problem refuses the whole file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.core.tenancy import CODE_PATTERN, LEVELS, is_within, level_of
from app.tenants.models import Division

HEADER = ["code", "name", "level", "parent_code"]
MAX_PROBLEMS_SHOWN = 20
MAX_NAME = 100  # the column's width


class DivisionFileError(Exception):
    def __init__(self, label: str, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        text = "\n".join(f"{label}:{p}" for p in shown) + (f"\n… and {more} more problems" if more else "")
        super().__init__(text)
        self.problems = problems


@dataclass(frozen=True)
class DivisionRow:
    line: int
    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass(frozen=True)
class ImportResult:
    added: int
    changed: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.added} added, {self.changed} changed, {self.unchanged} unchanged"


def read_rows(text: str) -> tuple[list[DivisionRow], list[str]]:
    """Parse the CSV; returns rows and line-numbered problems of form and single-row rules."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header != HEADER:
        return [], [f"1: header must be {','.join(HEADER)}, found {','.join(header or [])!r}"]
    rows, problems = [], []
    for fields in reader:
        line = reader.line_num
        if not fields:
            continue
        if len(fields) != len(HEADER):
            problems.append(f"{line}: expected 4 fields, found {len(fields)}")
            continue
        code, name, level, parent = (f.strip() for f in fields)
        problem = _row_problem(code, name, level, parent)
        if problem:
            problems.append(f"{line}: {problem}")
        else:
            rows.append(DivisionRow(line, code, name, level, parent or None))
    return rows, problems


def _row_problem(code: str, name: str, level: str, parent: str) -> str:
    if not CODE_PATTERN.fullmatch(code):
        return f"code {code!r} is not 12 digits"
    if level not in LEVELS:
        return f"level {level!r} is not one of {', '.join(LEVELS)}"
    if level_of(code) != level:
        return f"code {code} denotes a {level_of(code)}, not a {level}"
    if not name:
        return f"code {code} has no name"
    if len(name) > MAX_NAME:
        return f"name of {code} is longer than {MAX_NAME} characters"
    if parent and not CODE_PATTERN.fullmatch(parent):
        return f"parent_code {parent!r} is not 12 digits"
    return ""


def check_tree(rows: list[DivisionRow], existing: dict[str, str]) -> list[str]:
    """Duplicates and parent rules across rows; `existing` maps imported codes to levels."""
    problems: list[str] = []
    levels = dict(existing)
    first_line: dict[str, int] = {}
    for row in rows:
        if row.code in first_line:
            problems.append(f"{row.line}: code {row.code} duplicates line {first_line[row.code]}")
            continue
        first_line[row.code] = row.line
        levels[row.code] = row.level
    for row in rows:
        problem = _parent_problem(row, levels)
        if problem:
            problems.append(f"{row.line}: {problem}")
    return problems


def _parent_problem(row: DivisionRow, levels: dict[str, str]) -> str:
    if row.parent_code is None:
        return "" if row.level == "province" else f"a {row.level} needs a parent_code"
    parent_level = levels.get(row.parent_code)
    if parent_level is None:
        return f"parent {row.parent_code} is not in the file or the database"
    if LEVELS.index(parent_level) >= LEVELS.index(row.level):
        return f"parent {row.parent_code} ({parent_level}) is not above a {row.level}"
    if not is_within(row.code, row.parent_code):
        return f"code {row.code} does not extend the prefix of parent {row.parent_code}"
    return ""


def import_divisions(session: Session, path: Path) -> ImportResult:
    """Validate the whole file, then upsert; raises DivisionFileError with nothing written."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DivisionFileError(label, [f" cannot read: {exc}"]) from None
    rows, problems = read_rows(text)
    current = {d.code: d for d in session.scalars(select(Division))}
    problems += check_tree(rows, {code: d.level for code, d in current.items()})
    if problems:
        raise DivisionFileError(label, problems)
    return _upsert(session, rows, current)


def _upsert(session: Session, rows: list[DivisionRow], current: dict[str, Division]) -> ImportResult:
    new, changed = [], []
    for row in rows:
        values = {"code": row.code, "name": row.name, "level": row.level, "parent_code": row.parent_code}
        old = current.get(row.code)
        if old is None:
            new.append(values)
        elif (old.name, old.level, old.parent_code) != (row.name, row.level, row.parent_code):
            changed.append(values)
    if new:
        session.execute(insert(Division), new)
    if changed:
        session.execute(update(Division), changed)
    session.flush()
    return ImportResult(len(new), len(changed), len(rows) - len(new) - len(changed))
