"""Onboarding a county (县区): its tenant file, written from the division list for review."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import UserError
from app.core.tenancy import subtree_range
from app.tenants.files import PLACES_DIR, SourcedPlace
from app.tenants.models import Division
from app.tenants.schema import PlaceSpec

HEADER = """\
# {name} ({code}) and its towns and subdistricts, written by `govhall tenants onboard {code}`
# from the division list. Review, add what differs from the level defaults (items.add / drop /
# promised, extra windows, staff), then `govhall tenants plan` and `govhall tenants apply`.
"""


def onboarding_places(session: Session, county_code: str) -> list[PlaceSpec]:
    """The county and every town/subdistrict under it, as place specs with level defaults."""
    county = session.get(Division, county_code)
    if county is None or county.level != "county":
        raise UserError(f"{county_code} is not a county-level unit in the division list", place="county")
    low, high = subtree_range(county_code)
    towns = session.scalars(
        select(Division).where(Division.code.between(low, high), Division.level == "town").order_by(Division.code)
    )
    places = [PlaceSpec(code=county.code, name=county.name, level="county", parent=county.parent_code)]
    places += [PlaceSpec(code=t.code, name=t.name, level="town", parent=t.parent_code) for t in towns]
    return places


def sourced(places: list[PlaceSpec], label: str) -> list[SourcedPlace]:
    return [SourcedPlace(spec, f"{label}: places[{i}] ({spec.code})") for i, spec in enumerate(places)]


def render_places(places: list[PlaceSpec]) -> str:
    county = places[0]
    body = {"places": [p.model_dump(mode="json", exclude_defaults=True) for p in places]}
    text = yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100)
    return HEADER.format(name=county.name, code=county.code) + text


def places_file_path(directory: Path, county_code: str) -> Path:
    return directory / PLACES_DIR / f"{county_code}.yaml"


def write_onboarding_file(session: Session, county_code: str, directory: Path, force: bool = False) -> Path:
    """Write the county's file; refuses to overwrite a reviewed file unless `force`."""
    path = places_file_path(directory, county_code)
    if path.exists() and not force:
        raise UserError(f"{path} exists already; review it, or pass --force to rewrite it")
    text = render_places(onboarding_places(session, county_code))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
