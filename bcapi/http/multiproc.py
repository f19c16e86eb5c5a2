"""Prometheus multiprocess mode under gunicorn, so that `/metrics` counts the whole service.

Each gunicorn worker is a process with its own counters; a scrape reaches one of them, so the
totals it sees jump between workers' figures and go down when a worker is recycled
(`max_requests`). In multiprocess mode (prometheus_client's PROMETHEUS_MULTIPROC_DIR) every
process writes its figures to files in one directory, and a scrape adds them all up, those of
workers that have exited included.

`prepare()` runs as gunicorn reads its settings (`gunicorn_conf`), before the app and
prometheus_client are imported, since prometheus_client picks its mode at import. It makes an
empty directory of its own unless the operator gave one. This module must not import
prometheus_client at its top for the same reason.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile

ENV = "PROMETHEUS_MULTIPROC_DIR"
_created: str | None = None  # the directory prepare() made, removed when gunicorn exits


def prepare() -> str | None:
    """Turn multiprocess mode on for this process and the workers it forks; the directory.

    Nothing is done if prometheus_client is already imported (a test process that imports the
    gunicorn settings, say): it is too late to take effect there, and the variable would leak
    into every process started from this one."""
    global _created
    if "prometheus_client" in sys.modules:
        return None
    directory = os.environ.get(ENV)
    if not directory:
        directory = _created = tempfile.mkdtemp(prefix="bcapi-metrics-")
        os.environ[ENV] = directory
    return directory


def child_exit(server, worker) -> None:
    """gunicorn hook, in the master: a worker has exited; its live gauges go (its counters stay)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """gunicorn hook: the server stops; remove the directory if this process made it."""
    if _created:
        shutil.rmtree(_created, ignore_errors=True)
