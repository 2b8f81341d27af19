"""The catalogue file (`tenants/catalogue.yaml`): schema and the consistency rules of DOMAIN §3."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HALL_ITEM_TYPES = ("01", "05", "07", "08", "09", "20", "21")
Level = Literal["province", "city", "county", "town", "village"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategorySpec(Strict):
    code: str = Field(pattern=r"^[a-z_]{2,30}$")
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)


class DepartmentSpec(Strict):
    code: str = Field(pattern=r"^[A-Z0-9]{2,10}$")
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=150)


class TimeLimit(Strict):
    days: int = Field(ge=0, le=365)
    unit: Literal["working", "natural"]


class Fee(Strict):
    charged: bool
    standard: str = ""
    basis: str = ""
    waivable: bool = False

    @model_validator(mode="after")
    def _charged_needs_standard(self) -> Fee:
        if self.charged and not (self.standard and self.basis):
            raise ValueError("a charged fee needs its standard and its legal basis")
        return self


class ResultSpec(Strict):
    name: str = Field(min_length=1, max_length=200)
    type: Literal["certificate", "approval", "proof", "other"]


class MaterialSpec(Strict):
    name: str = Field(min_length=1, max_length=200)
    necessity: Literal["required", "optional", "deferrable"]
    type: Literal[1, 2, 3]
    source: Literal[10, 20, 99]
    form: Literal["paper", "electronic", "both"]
    copies: int = Field(ge=1, le=20)


class ItemSpec(Strict):
    basic_code: str = Field(pattern=r"^[0-9]{12}$")
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    type: str
    department: str
    review_departments: list[str] = Field(min_length=1)
    category: str
    levels: list[Level] = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    statutory_limit: TimeLimit
    promised_limit: TimeLimit
    kind: Literal["promised", "immediate"]
    visits: int = Field(ge=0, le=5)
    onsite_reason: str = ""
    online_depth: int = Field(ge=1, le=4)
    mail_allowed: bool
    bookable: bool
    fee: Fee
    result: ResultSpec
    materials: list[MaterialSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ItemSpec:
        for problem in item_rule_violations(self):
            raise ValueError(problem)
        return self


def item_rule_violations(item: ItemSpec) -> list[str]:
    """The consistency rules of DOMAIN §3, each with a message a catalogue editor can act on."""
    problems = []
    if item.type not in HALL_ITEM_TYPES:
        problems.append(f"type {item.type} is not applied for in a hall (allowed: {', '.join(HALL_ITEM_TYPES)})")
    if item.online_depth == 4 and item.visits != 0:
        problems.append("online depth IV (全程网办) requires 0 visits")
    if item.visits == 0 and item.online_depth <= 2 and not item.mail_allowed:
        problems.append("0 visits without online handling requires mail application (mail_allowed: true)")
    if item.visits > 0 and not item.onsite_reason.strip():
        problems.append(f"{item.visits} visit(s) require an onsite_reason")
    statutory, promised = item.statutory_limit, item.promised_limit
    if promised.unit != statutory.unit:
        problems.append("promised and statutory limits must use the same unit")
    elif promised.days > statutory.days:
        problems.append(f"promised limit {promised.days} exceeds the statutory limit {statutory.days}")
    if item.kind == "immediate" and promised.days != 0:
        problems.append("an immediate item (即办件) has a promised limit of 0 days")
    if item.kind == "promised" and promised.days == 0:
        problems.append("a promised item (承诺件) needs a promised limit above 0 days")
    return problems


class CatalogueFile(Strict):
    categories: list[CategorySpec] = Field(min_length=1)
    departments: list[DepartmentSpec] = Field(min_length=1)
    items: list[ItemSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> CatalogueFile:
        _unique("categories", [c.code for c in self.categories])
        _unique("departments", [d.code for d in self.departments])
        _unique("items", [i.basic_code for i in self.items])
        departments = {d.code for d in self.departments}
        categories = {c.code for c in self.categories}
        for index, item in enumerate(self.items):
            where = f"items[{index}] ({item.basic_code})"
            unknown = [d for d in [item.department, *item.review_departments] if d not in departments]
            if unknown:
                raise ValueError(f"{where}: unknown department(s) {', '.join(unknown)}")
            if item.category not in categories:
                raise ValueError(f"{where}: unknown category {item.category}")
        return self


def _unique(what: str, codes: list[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ValueError(f"{what}: code {code} appears twice")
        seen.add(code)
