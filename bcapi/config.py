"""Settings read once from the environment into one typed object.

Every variable is listed, with its default, in the README's configuration table.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from bcapi import data

DEFAULT_RULES = data.reference_ruleset()
EXAMPLE_CASES = data.example_cases()
# Relative to the working folder, as the README says: an installed bcapi has no project folder,
# and its site-packages is no place for a database.
DEFAULT_INSTANCE = Path("instance")


class ConfigError(Exception):
    """An environment variable has a value the service cannot use."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str
    rules_path: Path
    instance_path: Path
    max_body_bytes: int
    idempotency_ttl_seconds: int
    log_level: str
    rate_limit: str
    rate_limit_storage: str
    cors_origins: tuple[str, ...]
    secret_key: str
    cookie_secure: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        instance = Path(env.get("BCAPI_INSTANCE_PATH") or DEFAULT_INSTANCE)
        return cls(
            database_url=env.get("BCAPI_DATABASE_URL") or f"sqlite:///{instance / 'bcapi.sqlite3'}",
            rules_path=Path(env.get("BCAPI_RULES") or DEFAULT_RULES),
            instance_path=instance,
            max_body_bytes=_int(env, "BCAPI_MAX_BODY_BYTES", 2 * 1024 * 1024),
            idempotency_ttl_seconds=_int(env, "BCAPI_IDEMPOTENCY_TTL_SECONDS", 24 * 3600),
            log_level=(env.get("BCAPI_LOG_LEVEL") or "INFO").upper(),
            rate_limit=env.get("BCAPI_RATE_LIMIT", "1200 per minute"),
            rate_limit_storage=env.get("BCAPI_RATE_LIMIT_STORAGE") or "memory://",
            cors_origins=tuple(o.strip() for o in (env.get("BCAPI_CORS_ORIGINS") or "").split(",") if o.strip()),
            # Without one, sessions last as long as the process (gunicorn's preload shares it).
            secret_key=env.get("BCAPI_SECRET_KEY") or secrets.token_hex(32),
            cookie_secure=(env.get("BCAPI_COOKIE_SECURE") or "false").lower() in ("1", "true", "yes"),
        )
