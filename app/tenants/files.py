"""Reading the tenant files: every problem is collected with its file and location."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from app.catalog.schema import CatalogueFile
from app.core import yamlfiles
from app.core.errors import UserError
from app.tenants.schema import DefaultsFile, PlacesFile, PlaceSpec

M = TypeVar("M", bound=BaseModel)
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CATALOGUE_FILE = "catalogue.yaml"
DEFAULTS_FILE = "defaults.yaml"
PLACES_DIR = "places"


class TenantFileError(UserError):
    """One or more problems in the tenant files; nothing has been written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems), place="tenant files")
        self.problems = problems


@dataclass(frozen=True)
class SourcedPlace:
    spec: PlaceSpec
    where: str  # "places/370112000000.yaml: places[3]", for messages


@dataclass
class TenantConfig:
    """What the files say. `catalogue` is None when the catalogue comes from the database."""

    defaults: DefaultsFile
    places: list[SourcedPlace] = field(default_factory=list)
    catalogue: CatalogueFile | None = None


def read_yaml(path: Path, label: str) -> Any:
    return yamlfiles.read_yaml(path, label, Loader, TenantFileError)


def parse(model: type[M], data: Any, label: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise TenantFileError([_describe(label, error) for error in exc.errors()]) from None


def _describe(label: str, error: Any) -> str:
    location = ""
    for part in error["loc"]:
        location += f"[{part}]" if isinstance(part, int) else f".{part}" if location else str(part)
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{label}: {location or 'top level'}: {message}"


def load_defaults(directory: Path) -> DefaultsFile:
    return parse(DefaultsFile, read_yaml(directory / DEFAULTS_FILE, DEFAULTS_FILE), DEFAULTS_FILE)


def load_catalogue(directory: Path) -> CatalogueFile:
    return parse(CatalogueFile, read_yaml(directory / CATALOGUE_FILE, CATALOGUE_FILE), CATALOGUE_FILE)


def load_places_file(path: Path, label: str) -> list[SourcedPlace]:
    parsed = parse(PlacesFile, read_yaml(path, label), label)
    return [SourcedPlace(spec, f"{label}: places[{i}] ({spec.code})") for i, spec in enumerate(parsed.places)]


def load_config(directory: Path) -> TenantConfig:
    """Load the whole folder, gathering the problems of every file before giving up."""
    if not directory.is_dir():
        raise TenantFileError([f"{directory}: not a folder of tenant files"])
    problems: list[str] = []
    config = TenantConfig(defaults=_collect(problems, load_defaults, directory))
    config.catalogue = _collect(problems, load_catalogue, directory)
    for path in sorted((directory / PLACES_DIR).glob("*.yaml")):
        label = f"{PLACES_DIR}/{path.name}"
        config.places.extend(_collect(problems, load_places_file, path, label) or [])
    if problems:
        raise TenantFileError(problems)
    return config


def _collect(problems: list[str], loader: Any, *args: Any) -> Any:
    try:
        return loader(*args)
    except TenantFileError as exc:
        problems.extend(exc.problems)
        return None
