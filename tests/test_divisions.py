"""The division-list importer: all or nothing, line-numbered errors, idempotent, any province."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.tenants.divisions import DivisionFileError, import_divisions
from app.tenants.models import Division
from tests.conftest import repo_path

SHANDONG = repo_path("tenants", "divisions", "shandong.csv")
# A small real-shaped file for another province (Guangdong, with Dongguan's towns directly
# under a city that has no counties).
GUANGDONG = """code,name,level,parent_code
440000000000,广东省,province,
440100000000,广州市,city,440000000000
440103000000,荔湾区,county,440100000000
440103001000,沙面街道,town,440103000000
441900000000,东莞市,city,440000000000
441900003000,东城街道,town,441900000000
441900101000,石碣镇,town,441900000000
"""


def write(tmp_path: Path, text: str, name: str = "divisions.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def division_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Division)) or 0


def test_shandong_imports_every_row_and_again_changes_nothing(system_session):
    """Does Shandong's list (2,021 rows) import, and is a second import a no-op?"""
    system_session.execute(Division.__table__.delete())
    first = import_divisions(system_session, SHANDONG)
    assert (first.added, first.changed) == (2021, 0)
    second = import_divisions(system_session, SHANDONG)
    assert (second.added, second.changed, second.unchanged) == (0, 0, 2021)
    assert division_count(system_session) == 2021


def test_another_province_imports(system_session, tmp_path):
    """Does a different province's file in the same format import, towns under a county-less city too?"""
    result = import_divisions(system_session, write(tmp_path, GUANGDONG))
    assert result.added == 7
    assert system_session.get(Division, "441900101000").parent_code == "441900000000"


def test_villages_file_builds_on_imported_towns(system_session, tmp_path):
    """Can a villages file whose parents are towns already imported be loaded on its own?"""
    villages = "code,name,level,parent_code\n370102001001,某社区居委会,village,370102001000\n"
    assert import_divisions(system_session, write(tmp_path, villages)).added == 1


def test_a_changed_name_is_updated(system_session, tmp_path):
    """Does re-importing a row with a new name update it rather than duplicate it?"""
    import_divisions(system_session, write(tmp_path, GUANGDONG))
    renamed = GUANGDONG.replace("沙面街道", "沙面街道（新）")
    result = import_divisions(system_session, write(tmp_path, renamed, "renamed.csv"))
    assert (result.added, result.changed) == (0, 1)
    assert system_session.get(Division, "440103001000").name == "沙面街道（新）"


CORRUPTIONS = [
    ("short code", "440103001000,沙面街道,town,", "44010300100,沙面街道,town,440103000000", "5: code '44010300100' is not 12 digits"),
    ("unknown level", "440103001000,沙面街道,town,", "440103001000,沙面街道,hamlet,440103000000", "5: level 'hamlet'"),
    ("level contradicts code", "440103001000,沙面街道,town,", "440103001000,沙面街道,county,440100000000",
     "5: code 440103001000 denotes a town, not a county"),
    ("missing parent", "440103001000,沙面街道,town,440103000000", "440103001000,沙面街道,town,440104000000",
     "5: parent 440104000000 is not in the file or the database"),
    ("prefix does not extend parent", "441900101000,石碣镇,town,441900000000", "441900101000,石碣镇,town,440103000000",
     "8: code 441900101000 does not extend the prefix of parent 440103000000"),
    ("parent below child", "440100000000,广州市,city,440000000000", "440100000000,广州市,city,440103001000",
     "3: parent 440103001000 (town) is not above a city"),
    ("duplicate code", "441900101000,石碣镇,town,441900000000", "441900003000,石碣镇,town,441900000000",
     "8: code 441900003000 duplicates line 7"),
    ("wrong field count", "441900101000,石碣镇,town,441900000000", "441900101000,石碣镇,town",
     "8: expected 4 fields, found 3"),
    ("empty name", "441900101000,石碣镇,town,441900000000", "441900101000,,town,441900000000", "8: code 441900101000 has no name"),
]


@pytest.mark.parametrize(("label", "good", "bad", "message"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_a_corrupted_file_is_refused_whole_with_the_line_named(system_session, tmp_path, label, good, bad, message):
    """Is a file with one bad row refused entirely, naming the line and the problem?"""
    before = division_count(system_session)
    corrupted = GUANGDONG.replace(good, bad)
    assert corrupted != GUANGDONG, label
    path = write(tmp_path, corrupted)
    with pytest.raises(DivisionFileError) as refused:
        import_divisions(system_session, path)
    assert f"{path}:{message}" in str(refused.value)
    assert division_count(system_session) == before


def test_bad_header_is_refused(system_session, tmp_path):
    """Is a file with another header refused before any row is read?"""
    with pytest.raises(DivisionFileError, match="1: header must be code,name,level,parent_code"):
        import_divisions(system_session, write(tmp_path, "id,name\n1,x\n"))


def test_unreadable_file_is_refused(system_session, tmp_path):
    """Is a file that is not UTF-8 refused with a message, not a crash?"""
    path = tmp_path / "latin1.csv"
    path.write_bytes("code,name,level,parent_code\n440000000000,Gu\xe0ngd\xf4ng,province,\n".encode("latin-1"))
    with pytest.raises(DivisionFileError, match="cannot read"):
        import_divisions(system_session, path)
