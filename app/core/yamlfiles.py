"""Reading a YAML file for a user-facing loader: every failure becomes that loader's own error,
naming the file, so a refused file reads the same whichever command refused it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: Path, label: str, loader: type[Any], error: Callable[[list[str]], Exception]) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - loaders are safe ones
    except FileNotFoundError:
        raise error([f"{label}: file not found"]) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error([f"{label}: cannot read: {exc}"]) from None
