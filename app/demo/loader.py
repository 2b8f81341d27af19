"""Load the Jinan demo into an empty or earlier demo database; safe to run again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.calendar.services import seed_from_chinese_calendar
from app.core.auth import find_staff, hash_password
from app.tenants.divisions import ImportResult, import_divisions
from app.tenants.plan import Plan
from app.tenants.services import apply_directory

DIVISIONS_FILE = Path("divisions") / "shandong.csv"
# Demo accounts only: a real deployment sets passwords with `govhall staff password`.
DEMO_PASSWORD = "govhall-demo-2026"  # noqa: S105 - published demo password
DEMO_LOGINS = (
    ("jn_admin", "济南市 city admin"),
    ("lx_admin", "历下区 county admin"),
    ("lx_jfl_clerk", "历下区解放路街道 clerk and issuer"),
    ("lx_reviewer_zj", "历下区 housing (ZJ) reviewer"),
    ("lx_reviewer_mz", "历下区 civil affairs (MZ) reviewer"),
    ("lx_reviewer_ga", "历下区 police (GA) reviewer"),
    ("lc_admin", "历城区 county admin"),
    ("lc_sdl_clerk", "历城区山大路街道 clerk"),
)


@dataclass(frozen=True)
class DemoResult:
    divisions: ImportResult
    plan: Plan


def load_demo(session: Session, tenants_dir: Path, root: str) -> DemoResult:
    divisions = import_divisions(session, tenants_dir / DIVISIONS_FILE)
    seed_from_chinese_calendar(session)
    plan = apply_directory(session, tenants_dir, root)
    for username, _label in DEMO_LOGINS:
        staff = find_staff(session, username)
        if staff is not None and staff.password_hash is None:
            staff.password_hash = hash_password(DEMO_PASSWORD)
    session.flush()
    return DemoResult(divisions, plan)
