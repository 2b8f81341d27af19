"""Tenant files: validation with located messages, plan as a diff, apply in one transaction, idempotency."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from app.catalog.models import Item, TenantItem
from app.core.migrate import upgrade
from app.core.tenancy import level_of, subtree_range
from app.halls.models import RoleGrant, Staff, Window
from app.tenants.divisions import import_divisions
from app.tenants.files import TenantFileError
from app.tenants.models import Tenant
from app.tenants.services import apply_directory, plan_directory
from tests.conftest import LIXIA_JIEFANGLU, ROOT, TENANTS_DIR

CATALOGUE = yaml.safe_load((TENANTS_DIR / "catalogue.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A private copy of the shipped tenant files to edit."""
    return Path(shutil.copytree(TENANTS_DIR, tmp_path / "tenants"))


def edit_place(folder: Path, file_code: str, code: str, **changes) -> None:
    path = folder / "places" / f"{file_code}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    place = next(p for p in data["places"] if p["code"] == code)
    place.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def expected_items(level: str) -> set[str]:
    return {i["basic_code"] for i in CATALOGUE["items"] if level in i["levels"]}


def test_shipped_files_are_applied_in_the_demo_and_replan_is_empty(system_session):
    """After the demo load, does a plan of the shipped files find nothing to change?"""
    plan = plan_directory(system_session, TENANTS_DIR, ROOT)
    assert plan.empty, plan.render()


def test_apply_into_an_empty_database_builds_jinan(blank_url, system_session_factory):
    """From nothing, does apply create the city, 13 counties and 164 towns, and a second apply nothing?"""
    session = system_session_factory(blank_url)
    import_divisions(session, TENANTS_DIR / "divisions" / "shandong.csv")
    first = apply_directory(session, TENANTS_DIR, ROOT)
    session.commit()
    levels = dict(session.execute(select(Tenant.level, func.count()).group_by(Tenant.level)).all())
    assert levels == {"city": 1, "county": 13, "town": 164}
    assert not first.empty
    assert apply_directory(session, TENANTS_DIR, ROOT).empty


def test_a_town_gets_its_level_defaults_minus_drops_with_its_shorter_promise(system_session):
    """Is 解放路街道's implementation list the town defaults, less its drop, with its 5-day 居住证 promise?"""
    offered = dict(system_session.execute(
        select(Item.basic_code, TenantItem.promised_days).join(TenantItem).where(TenantItem.tenant_code == LIXIA_JIEFANGLU)
    ).all())
    assert set(offered) == expected_items("town") - {"210090003000"}
    assert offered["070060002000"] == 5
    sibling = "370102002000"
    sibling_codes = set(system_session.scalars(
        select(Item.basic_code).join(TenantItem).where(TenantItem.tenant_code == sibling)))
    assert sibling_codes == expected_items("town")


def test_implementation_codes_are_basic_code_plus_place(system_session):
    """Does every implementation code (实施编码) read basic code + place code?"""
    rows = system_session.execute(select(TenantItem.implementation_code, Item.basic_code, TenantItem.tenant_code)
                                  .join(Item)).all()
    assert rows and all(code == basic + tenant for code, basic, tenant in rows)


def test_every_demo_place_has_default_windows(system_session):
    """Does every town have the town's two default windows, and the city its extra ones?"""
    low, high = subtree_range(ROOT)
    towns = count(system_session, Tenant, Tenant.level == "town")
    assert count(system_session, Window, Window.number.in_(["1", "2"]),
                 Window.tenant_code.in_(select(Tenant.code).where(Tenant.level == "town"))) == 2 * towns
    city_windows = set(system_session.scalars(select(Window.number).where(Window.tenant_code == ROOT)))
    assert city_windows == {"1", "2", "3", "5", "6", "8", "9"}
    assert low <= LIXIA_JIEFANGLU <= high


def test_changes_show_in_the_plan_and_apply_once(system_session, files):
    """Does editing a file show each change in the plan, and does apply make the next plan empty?"""
    edit_place(files, "370102000000", LIXIA_JIEFANGLU, name="解放路街道（测试）",
               items={"drop": ["210090003000", "210040001000"]}, drop_windows=["2"])
    plan = plan_directory(system_session, files, ROOT)
    text = plan.render()
    assert f"~ tenant {LIXIA_JIEFANGLU} name: '解放路街道' → '解放路街道（测试）'" in text
    assert f"- item {LIXIA_JIEFANGLU}/210040001000" in text
    assert f"~ item {LIXIA_JIEFANGLU}/070060002000 promised_days: 5 → 7" in text
    assert f"- window {LIXIA_JIEFANGLU}/2" in text
    apply_directory(system_session, files, ROOT)
    assert system_session.get(Tenant, LIXIA_JIEFANGLU).name == "解放路街道（测试）"
    assert plan_directory(system_session, files, ROOT).empty


def test_staff_roles_follow_the_file(system_session, files):
    """Does removing a role in the file remove the grant, keeping the account?"""
    edit_place(files, "370102000000", LIXIA_JIEFANGLU, staff=[
        {"username": "lx_jfl_clerk", "name": "刘洋", "roles": [{"role": "clerk"}]}])
    plan = plan_directory(system_session, files, ROOT)
    assert f"- grant lx_jfl_clerk/{LIXIA_JIEFANGLU}/issuer" in plan.render()
    apply_directory(system_session, files, ROOT)
    staff = system_session.scalars(select(Staff).where(Staff.username == "lx_jfl_clerk")).one()
    assert {g.role for g in system_session.scalars(select(RoleGrant).where(RoleGrant.staff_id == staff.id))} == {"clerk"}


def test_catalogue_edits_are_planned_and_materials_replaced(system_session, files):
    """Does a changed promise and material list in the catalogue reach the database?"""
    path = files / "catalogue.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    item = next(i for i in data["items"] if i["basic_code"] == "010100001000")
    item["promised_limit"]["days"] = 8
    item["materials"] = item["materials"][:1]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    text = plan_directory(system_session, files, ROOT).render()
    assert "~ catalogue item 010100001000" in text and "promised_days: 10 → 8" in text
    apply_directory(system_session, files, ROOT)
    stored = system_session.scalars(select(Item).where(Item.basic_code == "010100001000")).one()
    system_session.refresh(stored)
    assert stored.promised_days == 8 and len(stored.materials) == 1


BAD_PLACES = [
    ("unknown item", {"items": {"add": ["999999999999"]}}, "items.add: unknown item 999999999999"),
    ("item not at this level", {"items": {"add": ["010100001000"]}},
     "items.add: item 010100001000 may not be implemented at level town"),
    ("longer promise", {"items": {"promised": {"070060002000": 30}}},
     "items.promised.070060002000: 30 days is not a shorter promise than the catalogue's 7"),
    ("promise for an item not offered", {"items": {"promised": {"010100001000": 1}}},
     "items.promised.010100001000: item is not offered at this place"),
    ("drop of an item not in defaults", {"items": {"drop": ["010100001000"]}},
     "items.drop 010100001000 is not in the town defaults"),
    ("level contradicts code", {"level": "county"}, "level county does not match the code, which is a town"),
    ("parent prefix", {"parent": "370112000000"}, "code does not extend the prefix of parent 370112000000"),
    ("unknown parent", {"parent": "370199000000"}, "parent 370199000000 is neither in the files nor in the database"),
    ("unknown window category", {"windows": [{"number": "7", "name": "x", "kind": "dedicated", "categories": ["nope"]}]},
     "window 7: unknown categories nope"),
    ("drop of an unknown window", {"drop_windows": ["42"]}, "drop_windows 42 is not a default window"),
    ("reviewer without department", {"staff": [{"username": "new_reviewer", "name": "x", "roles": [{"role": "reviewer"}]}]},
     "staff new_reviewer: a reviewer needs a department"),
    ("role not used at level", {"staff": [{"username": "new_admin", "name": "x", "roles": [{"role": "city_admin"}]}]},
     "staff new_admin: role city_admin is not used at this level"),
    ("unknown key", {"colour": "red"}, "places[1].colour: Extra inputs are not permitted"),
    ("bad code", {"opening_hours": {"days": ["mon"], "sessions": [["13:00", "12:00"]]}},
     "sessions must be in order and not overlap"),
]


@pytest.mark.parametrize(("label", "changes", "message"), BAD_PLACES, ids=[b[0] for b in BAD_PLACES])
def test_bad_place_files_are_refused_with_file_and_place_named(system_session, files, label, changes, message):
    """Is each kind of mistake refused, naming the file and place, with nothing written?"""
    edit_place(files, "370102000000", LIXIA_JIEFANGLU, **changes)
    before = count(system_session, Window) + count(system_session, TenantItem)
    with pytest.raises(TenantFileError) as refused:
        apply_directory(system_session, files, ROOT)
    problems = "\n".join(refused.value.problems)
    assert "places/370102000000.yaml" in problems, label
    assert message in problems, problems
    assert count(system_session, Window) + count(system_session, TenantItem) == before


def test_duplicate_place_across_files_is_refused(system_session, files):
    """Is a place defined in two files refused, naming both?"""
    data = {"places": [{"code": LIXIA_JIEFANGLU, "name": "重复", "level": "town", "parent": "370102000000"}]}
    (files / "places" / "zz-duplicate.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TenantFileError, match="code also defined at places/370102000000.yaml"):
        plan_directory(system_session, files, ROOT)


def test_place_outside_the_node_is_refused(system_session, files):
    """Can a city node's files define a place in another city?"""
    data = {"places": [{"code": "370200000000", "name": "青岛市", "level": "city", "parent": "370000000000"}]}
    (files / "places" / "qingdao.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TenantFileError, match="outside this node's subtree 370100000000"):
        plan_directory(system_session, files, ROOT)


def test_broken_yaml_is_refused_with_the_file_named(system_session, files):
    """Is a YAML syntax error reported with the file, and other files' problems too?"""
    (files / "places" / "370103000000.yaml").write_text("places: [\n  - code: '1\n", encoding="utf-8")
    edit_place(files, "370102000000", LIXIA_JIEFANGLU, level="county")
    with pytest.raises(TenantFileError) as refused:
        plan_directory(system_session, files, ROOT)
    problems = "\n".join(refused.value.problems)
    assert "places/370103000000.yaml: cannot read" in problems


def test_catalogue_rule_breaks_are_refused(system_session, files):
    """Is a catalogue item that breaks a DOMAIN §3 rule refused with its position?"""
    path = files / "catalogue.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    item = data["items"][3]
    item["online_depth"], item["visits"], item["onsite_reason"] = 4, 1, "核验原件"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TenantFileError, match=r"catalogue.yaml: items\[3\]: online depth IV \(全程网办\) requires 0 visits"):
        plan_directory(system_session, files, ROOT)


def test_level_of_every_shipped_place_matches_its_code():
    """Do the shipped files agree with the code rules (a cheap guard on hand edits)?"""
    for path in (TENANTS_DIR / "places").glob("*.yaml"):
        for place in yaml.safe_load(path.read_text(encoding="utf-8"))["places"]:
            assert level_of(place["code"]) == place["level"], (path.name, place["code"])


@pytest.fixture
def system_session_factory():
    """Open a migrated system-scope session on another database URL (closed afterwards)."""
    from app.core.db import make_engine, make_session_factory
    from app.core.tenancy import Scope, install_scoping, set_scope

    opened = []

    def open_session(url: str):
        engine = make_engine(url)
        upgrade(engine)
        install_scoping()
        session = set_scope(make_session_factory(engine)(), Scope.system())
        opened.append((engine, session))
        return session

    yield open_session
    for engine, session in opened:
        session.close()
        engine.dispose()


def test_onboarding_an_onboarded_county_is_refused(system_session):
    """Can the onboarding page overwrite a county that already runs on its own tenant file?"""
    from app.core.errors import UserError
    from app.tenants.services import plan_onboarding

    with pytest.raises(UserError, match="onboarded already"):
        plan_onboarding(system_session, "370102000000", TENANTS_DIR, ROOT)


def test_onboarding_plan_for_a_new_county_lists_its_towns(system_session):
    """Does the onboarding preview of a county not yet onboarded add it and all its towns?"""
    from app.tenants.services import apply_onboarding, plan_onboarding

    system_session.execute(TenantItem.__table__.delete().where(TenantItem.tenant_code.like("370126%")))
    system_session.execute(Window.__table__.delete().where(Window.tenant_code.like("370126%")))
    system_session.execute(Tenant.__table__.delete().where(Tenant.code.like("370126%")))
    plan, places = plan_onboarding(system_session, "370126000000", TENANTS_DIR, ROOT)
    added = {c.key for c in plan.changes if c.kind == "tenant" and c.action == "add"}
    assert added == {p.code for p in places} and "370126000000" in added and len(added) > 5
    apply_onboarding(system_session, "370126000000", TENANTS_DIR, ROOT)
    assert count(system_session, Tenant, Tenant.parent_code == "370126000000") == len(places) - 1


def test_a_window_added_in_the_ui_survives_apply(system_session, files):
    """Does `tenants apply` leave alone a window an admin added in the UI, while removing file windows?"""
    from app.halls.services import add_window

    add_window(system_session, LIXIA_JIEFANGLU, "7", "临时窗口", "dedicated", [])
    edit_place(files, "370102000000", LIXIA_JIEFANGLU, drop_windows=["2"])
    text = plan_directory(system_session, files, ROOT).render(1000)
    assert f"- window {LIXIA_JIEFANGLU}/2" in text
    assert f"{LIXIA_JIEFANGLU}/7" not in text
    apply_directory(system_session, files, ROOT)
    numbers = set(system_session.scalars(select(Window.number).where(Window.tenant_code == LIXIA_JIEFANGLU)))
    assert numbers == {"1", "7"}


def test_a_dropped_item_is_retired_and_can_come_back(system_session, files):
    """Is a dropped item kept as a retired row (cases point at it), hidden, and reactivated when re-added?"""
    from app.tenants.queries import place_items

    edit_place(files, "370102000000", LIXIA_JIEFANGLU, items={"drop": ["210090003000", "210040001000"]})
    apply_directory(system_session, files, ROOT)
    retired = system_session.scalars(select(TenantItem).join(Item).where(
        TenantItem.tenant_code == LIXIA_JIEFANGLU, Item.basic_code == "210040001000")).one()
    assert retired.active is False
    assert "210040001000" not in {e.item.basic_code for e in place_items(system_session, LIXIA_JIEFANGLU)}
    assert plan_directory(system_session, files, ROOT).empty
    apply_directory(system_session, TENANTS_DIR, ROOT)
    system_session.refresh(retired)
    assert retired.active is True


def test_a_promised_item_cannot_be_promised_in_zero_days(system_session, files):
    """Can a place turn a 承诺件 into a 0-day promise (which only 即办件 may have)?"""
    edit_place(files, "370102000000", LIXIA_JIEFANGLU, items={"promised": {"070060002000": 0}})
    with pytest.raises(TenantFileError, match="at least 1 day for 承诺件"):
        plan_directory(system_session, files, ROOT)
