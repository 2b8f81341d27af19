"""Schema of the tenant files: `defaults.yaml` (per-level defaults) and `places/*.yaml`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.catalog.schema import Level
from app.halls.models import ROLES, WINDOW_KINDS

Role = Literal["city_admin", "county_admin", "clerk", "reviewer", "issuer", "auditor"]
WindowKind = Literal["comprehensive", "issuance", "dedicated"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
assert set(Role.__args__) == set(ROLES) and set(WindowKind.__args__) == set(WINDOW_KINDS)  # type: ignore[attr-defined]
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpeningHours(Strict):
    days: list[Weekday] = Field(min_length=1)
    sessions: list[tuple[str, str]] = Field(min_length=1)

    @field_validator("sessions")
    @classmethod
    def _ordered_clock_times(cls, sessions: list[tuple[str, str]]) -> list[tuple[str, str]]:
        previous_end = "00:00"
        for start, end in sessions:
            if not (CLOCK.match(start) and CLOCK.match(end)):
                raise ValueError(f"session {start}-{end}: times must be HH:MM")
            if not previous_end <= start < end:
                raise ValueError(f"session {start}-{end}: sessions must be in order and not overlap")
            previous_end = end
        return sessions


class WindowSpec(Strict):
    number: str = Field(pattern=r"^[0-9A-Za-z-]{1,10}$")
    name: str = Field(min_length=1, max_length=100)
    kind: WindowKind
    categories: list[str] = Field(default_factory=list)


class LevelDefaults(Strict):
    items: Literal["all"] | list[str] = "all"
    windows: list[WindowSpec] = Field(default_factory=list)
    opening_hours: OpeningHours
    roles: list[Role] = Field(min_length=1)


class DefaultsFile(Strict):
    levels: dict[Level, LevelDefaults]


class ItemOverrides(Strict):
    add: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    promised: dict[str, int] = Field(default_factory=dict, description="basic code -> shorter promise")


class GrantSpec(Strict):
    role: Role
    department: str = ""
    subtree: bool = False


class StaffSpec(Strict):
    username: str = Field(pattern=r"^[a-z][a-z0-9_.-]{2,59}$")
    name: str = Field(min_length=1, max_length=60)
    roles: list[GrantSpec] = Field(min_length=1)


class PlaceSpec(Strict):
    code: str = Field(pattern=r"^[0-9]{12}$")
    name: str = Field(min_length=1, max_length=100)
    level: Level
    parent: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    address: str = ""
    phone: str = ""
    items: ItemOverrides = Field(default_factory=ItemOverrides)
    windows: list[WindowSpec] = Field(default_factory=list, description="added to the level's windows")
    drop_windows: list[str] = Field(default_factory=list)
    opening_hours: OpeningHours | None = None
    staff: list[StaffSpec] = Field(default_factory=list)


class PlacesFile(Strict):
    places: list[PlaceSpec] = Field(min_length=1)
