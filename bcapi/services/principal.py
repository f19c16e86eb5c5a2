"""Who acts on the service: a key's holder, its role and (for commissioners) its consortium.

A key is `bcapi_` + 43 url-safe characters (256 bits). Only its SHA-256 is stored: the key is
random and long, so a fast hash is as strong as a slow one and keeps each request cheap.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

ROLES = ("commissioner", "board", "admin")
KEY_PREFIX = "bcapi_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role, consortium (for commissioners) and label."""

    key_id: str
    role: str
    consortium: str | None
    label: str | None

    def can_see_consortium(self, code: str) -> bool:
        return self.role != "commissioner" or self.consortium == code


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)
