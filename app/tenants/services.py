"""Tenant services: plan and apply tenant files, import divisions, onboard counties."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import UserError
from app.core.tenancy import is_within, subtree_range
from app.tenants.apply import apply_plan
from app.tenants.desired import CatalogueIndex, build_desired
from app.tenants.files import TenantConfig, load_config, load_defaults
from app.tenants.models import Tenant
from app.tenants.onboarding import onboarding_places, sourced
from app.tenants.plan import Plan, make_plan
from app.tenants.schema import PlaceSpec


def known_tenant_codes(session: Session, root: str) -> set[str]:
    low, high = subtree_range(root)
    return set(session.scalars(select(Tenant.code).where(Tenant.code.between(low, high))))


def plan_config(session: Session, config: TenantConfig, root: str) -> Plan:
    """Validate `config` against itself and the database and diff it; writes nothing."""
    catalogue = (
        CatalogueIndex.from_file(config.catalogue) if config.catalogue is not None
        else CatalogueIndex.from_db(session)
    )
    desired = build_desired(config, catalogue, root, known_tenant_codes(session, root))
    return make_plan(session, desired, root)


def plan_directory(session: Session, directory: Path, root: str) -> Plan:
    return plan_config(session, load_config(directory), root)


def apply_directory(session: Session, directory: Path, root: str) -> Plan:
    """Plan and apply in the caller's transaction; a second run finds no changes."""
    plan = plan_directory(session, directory, root)
    apply_plan(session, plan)
    return plan


def plan_onboarding(
    session: Session, county_code: str, directory: Path, root: str
) -> tuple[Plan, list[PlaceSpec]]:
    """What onboarding a county would change, using the shipped level defaults. A county that is
    already onboarded is refused: from then on its tenant file is where it changes."""
    if not is_within(county_code, root):
        raise UserError(f"{county_code} is not under this node's place {root}", place="county_code")
    if session.get(Tenant, county_code) is not None:
        raise UserError(f"{county_code} is onboarded already; change it through its tenant file", place="county_code")
    places = onboarding_places(session, county_code)
    config = TenantConfig(defaults=load_defaults(directory), places=sourced(places, f"onboarding {county_code}"))
    return plan_config(session, config, root), places


def apply_onboarding(session: Session, county_code: str, directory: Path, root: str) -> Plan:
    plan, _places = plan_onboarding(session, county_code, directory, root)
    apply_plan(session, plan)
    return plan
