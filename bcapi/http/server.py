"""`bcapi serve`: gunicorn, configured as `gunicorn.conf.py` configures it."""
from __future__ import annotations

import importlib

from gunicorn.app.base import BaseApplication

from bcapi.http import gunicorn_conf


def settings() -> dict:
    """gunicorn's settings from `bcapi.http.gunicorn_conf`, read from the environment as it is now."""
    module = importlib.reload(gunicorn_conf)
    return {name: value for name, value in vars(module).items() if not name.startswith("_")}


class Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        chosen = {k: v for k, v in settings().items() if k in self.cfg.settings}
        for key, value in {**chosen, **self.options}.items():
            self.cfg.set(key, value)

    def load(self):
        from bcapi import create_app

        return create_app()


def run(*, bind: str | None = None, workers: int | None = None) -> None:
    """Serve; `bind` and `workers`, when given, override BCAPI_BIND and BCAPI_WORKERS."""
    options = {"bind": bind, "workers": workers}
    Server({k: v for k, v in options.items() if v is not None}).run()
