"""What views need from the running app: the database, the active ruleset, the settings."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from bcapi.config import Settings
from bcapi.storage.database import Database
from bcapi.engine import Ruleset


@dataclass
class AppState:
    settings: Settings
    db: Database
    ruleset: Ruleset


def state() -> AppState:
    return current_app.extensions["bcapi"]
