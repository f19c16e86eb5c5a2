"""`bcapi serve`: gunicorn, configured as `gunicorn.conf.py` configures it."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from bcapi.http import gunicorn_conf


class Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        settings = {k: v for k, v in vars(gunicorn_conf).items() if k in self.cfg.settings}
        for key, value in {**settings, **self.options}.items():
            self.cfg.set(key, value)

    def load(self):
        from bcapi import create_app

        return create_app()


def run(*, bind: str, workers: int) -> None:
    Server({"bind": bind, "workers": workers}).run()
