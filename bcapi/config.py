"""Settings read once from the environment into one typed object.

Every variable is listed, with its default, in the README's configuration table.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

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


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _public_url(env: Mapping[str, str]) -> str | None:
    """BCAPI_PUBLIC_URL without its trailing slash: `https://host[:port][/prefix]`, nothing more."""
    raw = (env.get("BCAPI_PUBLIC_URL") or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ConfigError(f"BCAPI_PUBLIC_URL must look like https://bcapi.example.nhs.uk (a scheme, a host, "
                          f"an optional port and path prefix), not {raw!r}")
    return raw.rstrip("/")


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    """Addresses or networks, comma-separated, as gunicorn reads them; `*` for any."""
    entries = tuple(e.strip() for e in (env.get(name) or default).split(",") if e.strip())
    for entry in entries:
        if entry != "*":
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ConfigError(f"{name}: {entry!r} is not an address or network") from exc
    return entries


ENVIRONMENTS = ("development", "production")


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
    environment: str
    secret_key_given: bool
    public_url: str | None
    forwarded_allow_ips: tuple[str, ...]
    metrics_token: str | None

    def check_for_service(self) -> None:
        """What the HTTP service, but not the command line, needs: in production, a fixed
        BCAPI_SECRET_KEY (a random one per process breaks every sign-in across workers' restarts
        and instances)."""
        if self.environment == "production" and not self.secret_key_given:
            raise ConfigError("BCAPI_SECRET_KEY is not set, and BCAPI_ENV is production: set it to a long random "
                              "value shared by every instance, e.g. the output of "
                              "`python3 -c 'import secrets; print(secrets.token_hex(32))'`")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        environment = (env.get("BCAPI_ENV") or "development").strip().lower()
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"BCAPI_ENV must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}")
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
            environment=environment,
            secret_key_given=bool(env.get("BCAPI_SECRET_KEY")),
            public_url=_public_url(env),
            forwarded_allow_ips=_networks(env, "BCAPI_FORWARDED_ALLOW_IPS", "127.0.0.1"),
            metrics_token=env.get("BCAPI_METRICS_TOKEN") or None,
        )
