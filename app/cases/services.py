"""Case services: opening a case at the front desk (一窗受理) and looking cases up. They flush;
the request commits. Input is checked completely before anything is added to the session."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NoReturn, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager

from app.calendar.services import load_calendar
from app.cases import workflow
from app.cases.models import Case, CaseMaterial
from app.cases.numbers import next_case_number
from app.cases.states import CaseState
from app.catalog.models import Item, Material, TenantItem
from app.core.auth import Principal
from app.core.errors import Forbidden, NotFound, UserError
from app.core.identity import InvalidIdentity, normalise_credit_code, normalise_person_id
from app.core.tenancy import CODE_PATTERN, Scope, core_statement_in_scope, get_scope
from app.tenants.queries import tenant_or_404

MATERIAL_STATUSES = ("paper", "electronic", "missing", "deferred")


@dataclass(frozen=True)
class Applicant:
    kind: str  # person | organisation
    name: str
    id_number: str
    contact_name: str
    contact_phone: str
    agent_name: str = ""
    agent_id_number: str = ""


@dataclass(frozen=True)
class WindowApplication:
    """What the clerk enters: the item, the applicant and the checklist (position → status)."""

    basic_code: str
    applicant: Applicant
    materials: dict[int, str] = field(default_factory=dict)
    deferred_until: dict[int, dt.date] = field(default_factory=dict)
    window_number: str = ""
    decide_now: bool = False  # 即办件 decided at the window


def open_at_window(session: Session, actor: Principal, place: str, application: WindowApplication,
                   today: dt.date) -> Case:
    """Register the application and act on the checklist: accept it, or issue the one-time
    correction notice (补正告知) listing every required material that is missing."""
    _check_clerk_at(session, actor, place, "accepting applications needs the clerk role at this place")
    offered = offer(session, place, application.basic_code)
    applicant = checked_applicant(application.applicant)
    materials = checked_materials(offered.materials, application, today)
    missing = [m.name for m in materials if m.necessity == "required" and m.status == "missing"]
    # Read before the case number is taken: from then on the place's counter row (PostgreSQL) or the
    # whole database (SQLite) stays locked until the commit, so only the case's writes should follow.
    calendar = None if missing else load_calendar(session, today)
    case = _new_case(session, place, offered, applicant, materials, application.window_number, today)
    if missing:
        workflow.request_correction(session, case, actor, today, missing)
        return case
    workflow.accept(session, case, actor, today, list(offered.review_departments), calendar)
    if application.decide_now:
        workflow.decide_at_window(session, case, actor)
    return case


def submit_online(session: Session, actor: Principal, place: str, application: WindowApplication,
                  today: dt.date) -> Case:
    """申办: an application relayed from the online hall (全程网办). It waits for a clerk of the place
    to check it (预受理) and accept it; the clock starts only then."""
    _check_clerk_at(session, actor, place, "relaying online applications needs the clerk role at this place")
    if application.decide_now or application.window_number:
        raise UserError("an online application has no window and is not decided at once", place="channel")
    offered = offer(session, place, application.basic_code)
    case = _new_case(session, place, offered, checked_applicant(application.applicant),
                     checked_materials(offered.materials, application, today), "", today, channel="online")
    workflow.record_submission(session, case, actor)
    return case


def _check_clerk_at(session: Session, actor: Principal, place: str, message: str) -> None:
    """A place out of sight or that does not exist is 404, a place without the actor's clerk role
    403. Whether the place exists is looked up only on the way to an error (here, or in
    `offered_item` when its item is not found): an acceptance needs no query for it."""
    if not get_scope(session).contains(place):
        raise NotFound("not found")
    if not actor.has_role_at(place, "clerk"):
        tenant_or_404(session, place)
        raise Forbidden(message)


class ChecklistLine(Protocol):
    """A line of an item's material list: a catalogue `Material` or an `Offer`'s `MaterialLine`."""

    @property
    def position(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def necessity(self) -> str: ...


@dataclass(frozen=True)
class MaterialLine:
    """A line of the item's material list, as `offer` reads it."""

    position: int
    name: str
    necessity: str


@dataclass(frozen=True)
class Offer:
    """What opening a case needs of a place's entry for an item, and of the item."""

    tenant_item_id: int
    implementation_code: str
    promised_days: int
    item_id: int
    item_name: str
    promised_unit: str
    statutory_days: int
    statutory_unit: str
    review_departments: tuple[str, ...]
    materials: tuple[MaterialLine, ...]


# One row per material of the item (one row without any), by position. Built once; `_offer_rows_in`
# adds a scope's criterion, once per scope.
OFFER_ROWS = (
    select(TenantItem.id.label("tenant_item_id"), TenantItem.implementation_code, TenantItem.promised_days,
           Item.id.label("item_id"), Item.name.label("item_name"), Item.promised_unit, Item.statutory_days,
           Item.statutory_unit, Item.review_departments, Material.position, Material.name.label("material_name"),
           Material.necessity)
    .join(Item, Item.id == TenantItem.item_id)
    .outerjoin(Material, Material.item_id == Item.id)
    .where(TenantItem.tenant_code == bindparam("place"), Item.basic_code == bindparam("basic_code"),
           TenantItem.active.is_(True))
    .order_by(Material.position)
)


def offer(session: Session, place: str, basic_code: str) -> Offer:
    """The place's active entry for the item with the item's checklist, for opening a case: one query
    on Core, no ORM objects (building them cost about a sixth of an acceptance's CPU, scripts/bench).
    A place that does not exist (or is out of sight) is 404, an item it does not offer 400."""
    rows = session.connection().execute(_offer_rows_in(get_scope(session)),
                                        {"place": place, "basic_code": basic_code}).all()
    if not rows:
        _not_offered(session, place, basic_code)
    first = rows[0]
    return Offer(
        first.tenant_item_id, first.implementation_code, first.promised_days, first.item_id, first.item_name,
        first.promised_unit, first.statutory_days, first.statutory_unit, tuple(first.review_departments),
        tuple(MaterialLine(r.position, r.material_name, r.necessity) for r in rows if r.position is not None),
    )


@lru_cache(maxsize=512)
def _offer_rows_in(scope: Scope) -> Any:
    """OFFER_ROWS with the scope added by hand (it runs on the session's connection, which the ORM's
    scope hook does not see): reviewed like raw SQL."""
    return core_statement_in_scope(OFFER_ROWS, TenantItem.tenant_code, scope)


OFFERED = (
    select(TenantItem).join(TenantItem.item)
    .where(TenantItem.tenant_code == bindparam("place"), Item.basic_code == bindparam("basic_code"),
           TenantItem.active.is_(True))
    .options(contains_eager(TenantItem.item).joinedload(Item.materials))
)


def offered_item(session: Session, place: str, basic_code: str) -> TenantItem:
    """The place's active entry for the item as ORM objects, with the item and its checklist (one
    query), for the front desk's page. Errors as `offer`."""
    entry = session.scalars(OFFERED, {"place": place, "basic_code": basic_code}).unique().one_or_none()
    if entry is None:
        _not_offered(session, place, basic_code)
    return entry


def _not_offered(session: Session, place: str, basic_code: str) -> NoReturn:
    tenant_or_404(session, place)
    if session.scalar(select(Item.id).where(Item.basic_code == basic_code)) is None:
        raise UserError(f"unknown item {basic_code}", place="basic_code")
    raise UserError(f"item {basic_code} is not offered at this place", place="basic_code")


def checked_applicant(applicant: Applicant) -> Applicant:
    """The applicant with normalised ID numbers; each problem names its field."""
    for name in ("name", "contact_name", "contact_phone"):
        if not getattr(applicant, name).strip():
            raise UserError(f"{name} is required", place=f"applicant.{name}")
    if applicant.kind not in CHECKERS:
        raise UserError("applicant kind is person or organisation", place="applicant.kind")
    number = _checked(CHECKERS[applicant.kind], applicant.id_number, "applicant.id_number")
    agent = _checked(normalise_person_id, applicant.agent_id_number, "applicant.agent_id_number") \
        if applicant.agent_id_number.strip() else ""
    return Applicant(applicant.kind, applicant.name.strip(), number, applicant.contact_name.strip(),
                     applicant.contact_phone.strip(), applicant.agent_name.strip(), agent)


CHECKERS: dict[str, Callable[[str], str]] = {"person": normalise_person_id, "organisation": normalise_credit_code}


def _checked(check: Callable[[str], str], number: str, place: str) -> str:
    try:
        return check(number)
    except InvalidIdentity as exc:
        raise UserError(str(exc), place=place) from None


def checked_materials(checklist: Sequence[ChecklistLine], application: WindowApplication,
                      today: dt.date) -> list[CaseMaterial]:
    """The item's checklist with the clerk's statuses; 容缺 only for deferrable materials, with a date."""
    known = {m.position for m in checklist}
    unknown = sorted(set(application.materials) - known)
    if unknown:
        raise UserError(f"the item has no material number {unknown[0]}", place=f"materials.{unknown[0]}")
    result = []
    for material in checklist:
        status = application.materials.get(material.position, "missing")
        due = application.deferred_until.get(material.position)
        where = f"materials.{material.position}"
        if status not in MATERIAL_STATUSES:
            raise UserError(f"status must be one of {', '.join(MATERIAL_STATUSES)}", place=where)
        if status == "deferred" and material.necessity != "deferrable":
            raise UserError(f"{material.name} may not be supplied later (not 容缺)", place=where)
        if status == "deferred" and (due is None or due <= today):
            raise UserError(f"{material.name}: a deferred material needs a date after today", place=where)
        result.append(CaseMaterial(position=material.position, name=material.name, necessity=material.necessity,
                                   status=status, due_on=due if status == "deferred" else None))
    return result


def _new_case(session: Session, place: str, offered: Offer, applicant: Applicant,
              materials: list[CaseMaterial], window_number: str, today: dt.date, channel: str = "window") -> Case:
    case = Case(
        tenant_code=place, channel=channel,
        state=CaseState.SUBMITTED.value, satisfaction=None, evaluation_refused=False,
        tenant_item_id=offered.tenant_item_id, item_id=offered.item_id, implementation_code=offered.implementation_code,
        item_name=offered.item_name, applicant_kind=applicant.kind, applicant_name=applicant.name,
        applicant_id_type="111" if applicant.kind == "person" else "001", applicant_id_number=applicant.id_number,
        contact_name=applicant.contact_name, contact_phone=applicant.contact_phone, agent_name=applicant.agent_name,
        agent_id_number=applicant.agent_id_number, window_number=window_number,
        promised_days=offered.promised_days, promised_unit=offered.promised_unit,
        statutory_days=offered.statutory_days, statutory_unit=offered.statutory_unit,
    )
    for material in materials:
        material.tenant_code = place
    # Empty collections instead of lazy loads. Not added to the session: its first step's audit
    # event writes the whole new case at once (workflow._log, app.cases.store).
    case.materials, case.tasks, case.pauses = materials, [], []
    # The number last: taking it locks the place's counter until the commit (see open_at_window).
    case.number = next_case_number(session, place, today)
    return case


def case_or_404(session: Session, number: str) -> Case:
    """A case the caller may see, by number; foreign cases do not exist for them."""
    case = session.scalars(select(Case).where(Case.number == number)).one_or_none()
    if case is None:
        raise NotFound("no such case")
    return case


# --- JSON input (the API) -------------------------------------------------------------------------

APPLICATION_KEYS = {"place", "basic_code", "applicant", "materials", "deferred_until", "window_number", "decide_now",
                    "channel"}
CHANNELS = ("window", "online")
APPLICANT_LIMITS = {"kind": 12, "name": 100, "id_number": 30, "contact_name": 60, "contact_phone": 30,
                    "agent_name": 60, "agent_id_number": 30}  # the columns' sizes (IDs before normalising)
APPLICANT_OPTIONAL = {"agent_name", "agent_id_number"}
WINDOW_NUMBER = re.compile(r"[0-9A-Za-z-]{1,10}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat alone also takes 20261127, 2026-W48-5 …


def channel_from_json(body: object) -> str:
    """`window` (accepted now, the default) or `online` (submitted, waits for a clerk)."""
    channel = body.get("channel", "window") if isinstance(body, dict) else "window"
    if channel not in CHANNELS:
        raise UserError(f"channel is one of {', '.join(CHANNELS)}", place="channel")
    return str(channel)


def application_from_json(body: object) -> tuple[str, WindowApplication]:
    """The place and the application of a JSON request body, checked for shape only (types, sizes,
    unknown keys: a misspelt "materials" must not turn into a correction notice). The rules of
    `open_at_window` come after. Each problem names its field, e.g. "applicant.id_number"."""
    data = _object(body, "body", APPLICATION_KEYS)
    place = _string(data, "place", 12, where="place")
    if not CODE_PATTERN.fullmatch(place):
        raise UserError("place is a 12-digit division code", place="place")
    materials = _positions(data.get("materials", {}), "materials", _status)
    deferred = _positions(data.get("deferred_until", {}), "deferred_until", _date)
    for position in deferred:
        if materials.get(position) != "deferred":
            raise UserError("only a material sent as 'deferred' has a date", place=f"deferred_until.{position}")
    window = _string(data, "window_number", 10, where="window_number", required=False)
    if window and not WINDOW_NUMBER.fullmatch(window):
        raise UserError("window_number is 1 to 10 letters, digits or '-'", place="window_number")
    decide_now = data.get("decide_now", False)
    if not isinstance(decide_now, bool):
        raise UserError("decide_now is true or false", place="decide_now")
    application = WindowApplication(_string(data, "basic_code", 12, where="basic_code"),
                                    _applicant_from_json(data.get("applicant")), materials, deferred, window,
                                    decide_now)
    return place, application


def _applicant_from_json(value: object) -> Applicant:
    data = _object(value, "applicant", set(APPLICANT_LIMITS))
    fields = {name: _string(data, name, limit, where=f"applicant.{name}", required=name not in APPLICANT_OPTIONAL)
              for name, limit in APPLICANT_LIMITS.items()}
    return Applicant(**fields)


def _object(value: object, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a JSON object", place=where)
    unknown = sorted(set(value) - keys)
    if unknown:
        prefix = "" if where == "body" else f"{where}."
        raise UserError(f"unknown field '{unknown[0]}' (expected: {', '.join(sorted(keys))})",
                        place=prefix + unknown[0])
    return value


def _string(data: dict[str, Any], name: str, limit: int, where: str, required: bool = True) -> str:
    value = data.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise UserError(f"{name} is required (a string)" if required else f"{name} must be a string", place=where)
    if len(value) > limit:
        raise UserError(f"{name} is at most {limit} characters", place=where)
    return value


def _positions(value: object, where: str, parse: Callable[[object, str], Any]) -> dict[int, Any]:
    """{"3": …} → {3: …}: material positions as keys."""
    if not isinstance(value, dict):
        raise UserError(f"{where} must be an object of material numbers", place=where)
    result = {}
    for key, inner in value.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 3):
            raise UserError(f"'{key}' is not a material number", place=f"{where}.{key}")
        result[int(key)] = parse(inner, f"{where}.{key}")
    return result


def _status(value: object, where: str) -> str:
    if value not in MATERIAL_STATUSES:
        raise UserError(f"status must be one of {', '.join(MATERIAL_STATUSES)}", place=where)
    return str(value)


def _date(value: object, where: str) -> dt.date:
    try:
        if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError("a date is written YYYY-MM-DD", place=where) from None
