"""The catalogue's consistency rules (DOMAIN §3), one at a time, on a valid item."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from app.catalog.schema import CatalogueFile, ItemSpec, item_rule_violations
from tests.conftest import TENANTS_DIR

CATALOGUE = yaml.safe_load((TENANTS_DIR / "catalogue.yaml").read_text(encoding="utf-8"))
VALID = {
    "basic_code": "010010099000", "name": "测试事项", "name_en": "Test item", "type": "01", "department": "SCJG",
    "review_departments": ["SCJG"], "category": "enterprise", "levels": ["county", "town"],
    "legal_basis": "《中华人民共和国行政许可法》", "statutory_limit": {"days": 20, "unit": "working"},
    "promised_limit": {"days": 5, "unit": "working"}, "kind": "promised", "visits": 1, "onsite_reason": "核验原件",
    "online_depth": 3, "mail_allowed": False, "bookable": True, "fee": {"charged": False},
    "result": {"name": "许可证", "type": "certificate"},
    "materials": [{"name": "申请表", "necessity": "required", "type": 2, "source": 10, "form": "both", "copies": 1}],
}

RULES = [
    ("depth IV needs 0 visits", {"online_depth": 4}, "online depth IV (全程网办) requires 0 visits"),
    ("0 visits offline needs mail", {"visits": 0, "onsite_reason": "", "online_depth": 2},
     "0 visits without online handling requires mail application"),
    ("visits need a reason", {"onsite_reason": " "}, "1 visit(s) require an onsite_reason"),
    ("promise within statute", {"promised_limit": {"days": 25, "unit": "working"}},
     "promised limit 25 exceeds the statutory limit 20"),
    ("same unit", {"promised_limit": {"days": 5, "unit": "natural"}}, "must use the same unit"),
    ("immediate has 0 days", {"kind": "immediate"}, "an immediate item (即办件) has a promised limit of 0 days"),
    ("promised has days", {"promised_limit": {"days": 0, "unit": "working"}}, "needs a promised limit above 0 days"),
    ("hall item types only", {"type": "02"}, "type 02 is not applied for in a hall"),
]


def test_the_valid_item_passes():
    """Is the baseline item valid, so each rule below is what fails?"""
    assert item_rule_violations(ItemSpec(**VALID)) == []


@pytest.mark.parametrize(("label", "change", "message"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_is_enforced_with_a_clear_message(label, change, message):
    """Does breaking one rule give that rule's message?"""
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ItemSpec(**(VALID | change))


def test_charged_fee_needs_standard_and_basis():
    """Can a fee be charged without its standard and legal basis?"""
    with pytest.raises(ValidationError, match="needs its standard and its legal basis"):
        ItemSpec(**(VALID | {"fee": {"charged": True}}))


def test_shipped_catalogue_is_valid_and_broad():
    """Does the demo catalogue hold 40+ items from 10+ departments covering every level, incl. the seed's items?"""
    catalogue = CatalogueFile.model_validate(CATALOGUE)
    assert len(catalogue.items) >= 40
    assert len({i.department for i in catalogue.items}) >= 10
    levels = {level for item in catalogue.items for level in item.levels}
    assert levels == {"province", "city", "county", "town", "village"}
    names = {i.name for i in catalogue.items}
    assert {"辐射安全许可证核发", "内部资料性出版物准印证核发", "居住证申领"} <= names


def test_unknown_department_reference_is_refused():
    """Is an item naming a department the file does not define refused?"""
    data = dict(CATALOGUE)
    data["items"] = [dict(CATALOGUE["items"][0], department="NOPE")]
    with pytest.raises(ValidationError, match="unknown department"):
        CatalogueFile.model_validate(data)
