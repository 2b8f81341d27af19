"""The pure functions of app.core.tenancy: levels, subtree ranges, ancestry and scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select

from app.core.tenancy import Scope, ancestors_of, is_within, level_of, prefix_of, subtree_range
from tests.conftest import CITY, LICHENG, LICHENG_SHANDALU, LIXIA, LIXIA_JIEFANGLU, LIXIA_QIANFOSHAN

PROVINCE = "370000000000"
VILLAGE_OF_A = "370102001001"  # a community (社区) under 解放路街道
DONGGUAN = "441900000000"  # a prefecture-level city without counties (不设区的地级市)
DONGGUAN_TOWN = "441900003000"  # a town directly under it
GUANGDONG = "440000000000"


@pytest.mark.parametrize(("code", "level"), [
    (PROVINCE, "province"), (CITY, "city"), (LIXIA, "county"), (LIXIA_JIEFANGLU, "town"),
    (VILLAGE_OF_A, "village"), (DONGGUAN, "city"), (DONGGUAN_TOWN, "town"), ("370102010000", "town"),
])
def test_level_of(code, level):
    """Which level does a 12-digit code denote, judged by its trailing zeros?"""
    assert level_of(code) == level


@pytest.mark.parametrize("bad", ["", "3701", "3701020010000", "37010200100a", " 370102001000", "370102001000\n"])
def test_level_of_refuses_what_is_not_a_division_code(bad):
    """Is anything but exactly twelve digits refused with a message naming it?"""
    with pytest.raises(ValueError, match="12-digit"):
        level_of(bad)


def test_level_of_refuses_full_width_digits():
    """Is a code written in full-width digits (３７０１…), which sorts outside every range, refused?"""
    with pytest.raises(ValueError, match="12-digit"):
        level_of("３７０１０２００１０００")


@pytest.mark.parametrize(("code", "prefix"), [
    (PROVINCE, "37"), (CITY, "3701"), (LIXIA, "370102"), (LIXIA_JIEFANGLU, "370102001"), (VILLAGE_OF_A, VILLAGE_OF_A),
])
def test_prefix_of(code, prefix):
    """Is a place's prefix exactly the significant part of its level?"""
    assert prefix_of(code) == prefix


@pytest.mark.parametrize(("code", "bounds"), [
    (PROVINCE, (PROVINCE, "379999999999")),
    (CITY, (CITY, "370199999999")),
    (LIXIA, (LIXIA, "370102999999")),
    (LIXIA_JIEFANGLU, (LIXIA_JIEFANGLU, "370102001999")),
    (VILLAGE_OF_A, (VILLAGE_OF_A, VILLAGE_OF_A)),
    (DONGGUAN, (DONGGUAN, "441999999999")),
])
def test_subtree_range(code, bounds):
    """Is "a place and everything under it" the inclusive range from its code to its prefix + 9…9?"""
    assert subtree_range(code) == bounds


@pytest.mark.parametrize(("code", "ancestor"), [
    (LIXIA_JIEFANGLU, LIXIA_JIEFANGLU), (LIXIA_JIEFANGLU, LIXIA), (LIXIA_JIEFANGLU, CITY),
    (LIXIA_JIEFANGLU, PROVINCE), (VILLAGE_OF_A, LIXIA_JIEFANGLU), (LICHENG_SHANDALU, LICHENG),
    (DONGGUAN_TOWN, DONGGUAN), (LIXIA, CITY),
])
def test_is_within_holds_for_a_place_and_its_ancestors(code, ancestor):
    """Is a place within itself and within every place above it?"""
    assert is_within(code, ancestor)


@pytest.mark.parametrize(("code", "other"), [
    (LIXIA_QIANFOSHAN, LIXIA_JIEFANGLU),  # sibling town
    (LICHENG_SHANDALU, LIXIA),  # town of the sibling county
    (LICHENG, LIXIA),  # sibling county
    (LIXIA, LIXIA_JIEFANGLU),  # a county is not within its own town
    (CITY, LIXIA),  # nor a city within its county
    ("370200000000", CITY),  # sibling city
    ("370102002001", LIXIA_JIEFANGLU),  # a village of the sibling town
    ("371000000000", CITY),  # a code that shares the leading digits only
    (DONGGUAN_TOWN, "441900003001"),
])
def test_is_within_refuses_siblings_and_descendants(code, other):
    """Is a sibling, a cousin or a child ever taken to contain the place?"""
    assert not is_within(code, other)


@pytest.mark.parametrize(("code", "ancestors"), [
    (PROVINCE, []),
    (CITY, [PROVINCE]),
    (LIXIA, [PROVINCE, CITY]),
    (LIXIA_JIEFANGLU, [PROVINCE, CITY, LIXIA]),
    (VILLAGE_OF_A, [PROVINCE, CITY, LIXIA, LIXIA_JIEFANGLU]),
    (DONGGUAN, [GUANGDONG]),
    (DONGGUAN_TOWN, [GUANGDONG, DONGGUAN]),  # no county: the "county" 441900000000 is the city itself
    ("441900003005", [GUANGDONG, DONGGUAN, DONGGUAN_TOWN]),
])
def test_ancestors_of(code, ancestors):
    """Which places lie above a code, top first, with no duplicates where a level is skipped?"""
    assert ancestors_of(code) == ancestors


def test_scope_of_a_subtree_grant_contains_the_place_and_below_only():
    """Does a county grant with subtree cover its towns but not its city or the sibling county?"""
    scope = Scope.of_places([(LIXIA, True)])
    assert [scope.contains(c) for c in (LIXIA, LIXIA_JIEFANGLU, LIXIA_QIANFOSHAN, VILLAGE_OF_A)] == [True] * 4
    assert [scope.contains(c) for c in (CITY, LICHENG, LICHENG_SHANDALU, PROVINCE)] == [False] * 4


def test_scope_of_a_place_only_grant_does_not_reach_below():
    """Does a grant without subtree cover the place itself and nothing under it?"""
    scope = Scope.of_places([(LIXIA, False)])
    assert scope.contains(LIXIA)
    assert not scope.contains(LIXIA_JIEFANGLU)
    assert not scope.contains(VILLAGE_OF_A)


def test_scope_is_the_union_of_its_grants():
    """Does a person with grants at town A and (with subtree) at county B see exactly both?"""
    scope = Scope.of_places([(LIXIA_JIEFANGLU, False), (LICHENG, True), (LICHENG, True)])
    assert scope.ranges == ((LIXIA_JIEFANGLU, LIXIA_JIEFANGLU), (LICHENG, "370112999999"))
    assert scope.contains(LIXIA_JIEFANGLU) and scope.contains(LICHENG_SHANDALU)
    assert not scope.contains(LIXIA_QIANFOSHAN)
    assert not scope.contains(LIXIA)
    assert scope.writable


def test_empty_system_and_public_scopes():
    """Does the empty scope see nothing, the system scope everything, and a public scope one place read-only?"""
    assert not Scope().contains(LIXIA_JIEFANGLU)
    assert Scope.of_places([]).ranges == ()
    assert Scope.system().contains(LIXIA_JIEFANGLU) and Scope.system().contains("441900003000")
    public = Scope.public(LIXIA_JIEFANGLU)
    assert public.contains(LIXIA_JIEFANGLU)
    assert not public.contains(LIXIA_QIANFOSHAN) and not public.contains(LIXIA)
    assert not public.writable
    assert not Scope.of_places([(LIXIA, True)], writable=False).writable


CODES = [PROVINCE, CITY, LIXIA, LIXIA_JIEFANGLU, VILLAGE_OF_A, LIXIA_QIANFOSHAN, "370102002001", LICHENG,
         LICHENG_SHANDALU, "370200000000", "370202001000", DONGGUAN_TOWN, "370102999999", "370103000000"]


@pytest.mark.parametrize("scope", [
    Scope(), Scope.of_places([(LIXIA, True)]), Scope.of_places([(LIXIA, False)]),
    Scope.of_places([(LIXIA_JIEFANGLU, False), (LICHENG, True)]), Scope.public(LIXIA_QIANFOSHAN),
    Scope.of_places([(CITY, True)]),
], ids=["empty", "county-subtree", "county-only", "union", "public", "city-subtree"])
def test_sql_criterion_selects_what_contains_accepts(scope):
    """Does the SQL criterion the safety net adds select exactly the codes Scope.contains accepts?"""
    table = Table("places", MetaData(), Column("code", String(12)))
    engine = create_engine("sqlite://")
    try:
        table.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(insert(table), [{"code": c} for c in CODES])
            selected = set(connection.scalars(select(table.c.code).where(scope.criterion(table.c.code))))
    finally:
        engine.dispose()
    assert selected == {c for c in CODES if scope.contains(c)}


def test_moving_a_row_to_another_place_is_refused(app):
    """Can a session scoped to town A move one of its windows to town B (by flush or bulk update)?"""
    from sqlalchemy import select, update

    from app.core.tenancy import Scope, ScopeViolation, set_scope
    from app.halls.models import Window

    session = set_scope(app.extensions["govhall.sessions"](), Scope.of_places([("370102001000", False)]))
    try:
        window = session.scalars(select(Window).where(Window.number == "1")).one()
        window.tenant_code = "370102001000"  # unchanged place: allowed (positive control)
        session.flush()
        window.tenant_code = "370112001000"
        with pytest.raises(ScopeViolation):
            session.flush()
        session.rollback()
        with pytest.raises(ScopeViolation, match="moving rows"):
            session.execute(update(Window).values(tenant_code="370102001000"))
    finally:
        session.close()


def test_an_auditor_only_scope_is_read_only(app):
    """Does a principal holding only auditor grants get a read-only scope, and a clerk a writable one?"""
    from app.core.auth import Principal

    auditor = Principal(1, "a", "a", "370100000000", (("370100000000", "auditor", "", True),))
    clerk = Principal(2, "c", "c", "370102001000", (("370102001000", "clerk", "", False),))
    assert auditor.scope.writable is False and auditor.scope.contains("370102001000")
    assert clerk.scope.writable is True
