"""Typed settings from one file (GOVHALL_CONFIG) plus GOVHALL_<KEY> environment overrides.

Settings are loaded once, validated at start-up, and frozen. A missing or invalid key stops
start-up with a message that names the key and where its value came from.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

ENV_PREFIX = "GOVHALL_"
# Environment variables that share the prefix but are not settings.
NON_SETTING_ENV = {"GOVHALL_CONFIG"}
NON_SETTING_ENV_PREFIXES = ("GOVHALL_TEST_", "GOVHALL_BENCH_")


class SettingsError(Exception):
    """Raised when settings are missing or invalid; the message names the key."""


class Settings(BaseModel):
    """Everything a node needs to start. Secrets come from the host's config or environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = Field(description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://…")
    secret_key: str = Field(min_length=16, description="Signs session cookies and CSRF tokens.")
    root_tenant: str = Field(description="12-digit division code of the subtree this node serves.")
    node_id: str = Field(default="", description="This node's id upstream; defaults to node-<root_tenant>.")
    tenants_dir: str = Field(default="tenants", description="Folder of the declarative tenant files.")
    demo_mode: bool = Field(default=False, description="Allow `govhall demo load` to set the published demo passwords.")
    session_cookie_secure: bool = Field(default=True, description="Send the session cookie over HTTPS only.")
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins before a lockout.")
    login_lockout_minutes: int = Field(default=15, ge=1, description="Lockout window in minutes.")
    proxy_hops: int = Field(
        default=0, ge=0,
        description="Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).",
    )
    due_soon_working_days: int = Field(default=1, ge=0, le=30, description="Working days left that count as due soon.")
    token_ttl_days: int = Field(default=90, ge=1, description="Lifetime of API bearer tokens.")
    token_cache_seconds: float = Field(
        default=10, ge=0, description="How long a worker remembers who a token belongs to (0: never)."
    )
    default_language: str = Field(default="zh", pattern="^(zh|en)$", description="UI language.")
    sql_echo: bool = Field(default=False, description="Log every SQL statement (debugging only).")

    # Upward sync (app.sync): this node reports to `upstream_url` with the key its upstream gave it.
    upstream_url: str = Field(default="", description="Base URL of the node this one reports to ('' : none).")
    upstream_key_id: str = Field(default="", description="Id of the sync key the upstream registered for this node.")
    upstream_key: str = Field(
        default="", validate_default=True, repr=False,
        description="The sync key's secret (HMAC-SHA256); keep it out of logs.",
    )
    sync_batch_size: int = Field(default=500, ge=1, le=5000, description="Events per upward batch.")
    sync_batches_in_flight: int = Field(
        default=3, ge=1, le=8, description="Batches on the wire at once while draining a backlog.")
    sync_timeout_seconds: float = Field(default=10, gt=0, description="Connect and read timeout of one batch.")
    sync_backoff_base_seconds: float = Field(default=1, gt=0, description="First retry delay after a failure.")
    sync_backoff_max_seconds: float = Field(default=300, gt=0, description="Longest retry delay (the cap).")
    sync_idle_seconds: float = Field(default=2, gt=0, description="How often `sync run` looks for new events.")
    sync_max_lag_seconds: float = Field(
        default=900, gt=0, description="/healthz reports degraded when the oldest unsent event is older than this."
    )
    sync_clock_skew_seconds: int = Field(
        default=300, ge=1, description="A received batch's timestamp may differ from this node's clock by this much."
    )

    @field_validator("root_tenant")
    @classmethod
    def _twelve_digits(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]{12}", value):
            raise ValueError("must be a 12-digit division code such as 370100000000")
        return value

    @field_validator("tenants_dir")
    @classmethod
    def _absolute_folder(cls, value: str) -> str:
        """Resolved once at start-up: a worker started in another folder must find the same files."""
        path = Path(value).resolve()
        if not path.is_dir():
            raise ValueError(f"{path} is not a folder")
        return str(path)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("must start with sqlite: or postgresql")
        return value

    @field_validator("upstream_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("upstream_key")
    @classmethod
    def _key_with_upstream(cls, value: str, info: ValidationInfo) -> str:
        """Checked on the key (declared after the URL and key id) so the message names a key."""
        if info.data.get("upstream_url") and not (value and info.data.get("upstream_key_id")):
            raise ValueError("upstream_url is set: upstream_key_id and upstream_key are needed too "
                             "(the upstream's admin prints both with `govhall sync node add`)")
        return value

    @property
    def effective_node_id(self) -> str:
        return self.node_id or f"node-{self.root_tenant}"


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"settings file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path}: expected a mapping of keys to values")
    return data


def _is_setting_env(name: str) -> bool:
    return (
        name.startswith(ENV_PREFIX)
        and name not in NON_SETTING_ENV
        and not name.startswith(NON_SETTING_ENV_PREFIXES)
    )


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Merge the config file, the environment and explicit overrides, then validate."""
    environ = dict(os.environ if environ is None else environ)
    known = set(Settings.model_fields)
    sources: dict[str, str] = {}
    values: dict[str, Any] = {}
    config_path = environ.get("GOVHALL_CONFIG")
    if config_path:
        for key, value in _read_file(Path(config_path)).items():
            if key not in known:
                warnings.warn(f"settings file {config_path}: unknown key '{key}' ignored", stacklevel=2)
                continue
            values[key], sources[key] = value, f"file {config_path}"
    for name, value in environ.items():
        if not _is_setting_env(name):
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key not in known:
            warnings.warn(f"environment: unknown setting {name} ignored", stacklevel=2)
            continue
        values[key], sources[key] = value, f"environment {name}"
    for key, value in overrides.items():
        values[key], sources[key] = value, "code"
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, sources)) from None


def _describe(exc: ValidationError, sources: dict[str, str]) -> str:
    lines = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else "?"
        origin = sources.get(key, f"not set (file key '{key}' or {ENV_PREFIX}{key.upper()})")
        lines.append(f"setting '{key}' ({origin}): {error['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)
