"""Request ids, JSON logs and Prometheus metrics.

Every response carries `X-Request-ID` (the client's, if it sent a sane one); every log line is
one JSON object with that id. Logs never include API keys or case documents.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values

from bcapi.services.audit import request_id as audit_request_id

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class JSONFormatter(logging.Formatter):
    converter = time.gmtime  # the timestamps say Z: UTC, whatever the server's time zone

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "method", "path", "status", "duration_ms", "key_id", "role"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            try:
                record.request_id = g.get("request_id")
            except RuntimeError:  # outside a request
                record.request_id = None
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("bcapi")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


class Metrics:
    """The service's Prometheus metrics. Under gunicorn they are kept in prometheus_client's
    multiprocess mode (`bcapi.http.multiproc`), and `exposition()` adds up every worker's
    figures, so the counters are the service's and never go down between scrapes."""

    def __init__(self) -> None:
        # The mode prometheus_client chose when it was imported: files in PROMETHEUS_MULTIPROC_DIR,
        # or this process's memory.
        self.multiprocess = values.ValueClass is not values.MutexValue
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and not self.multiprocess:
            logging.getLogger("bcapi.http").warning(
                "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported; "
                "/metrics shows this worker's figures only")
        self.registry = CollectorRegistry()
        self.requests = Counter("bcapi_http_requests_total", "HTTP requests",
                                ["method", "endpoint", "status"], registry=self.registry)
        self.latency = Histogram("bcapi_http_request_duration_seconds", "HTTP request latency",
                                 ["endpoint"], registry=self.registry)
        self.assessments = Counter("bcapi_assessments_total", "Assessments made", ["rating"],
                                   registry=self.registry)

    def exposition(self) -> bytes:
        """The Prometheus text of the whole service (of every worker, in multiprocess mode)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)


def init_app(app: Flask, metrics: Metrics) -> None:
    log = logging.getLogger("bcapi.http")

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        audit_request_id.set(g.request_id)
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.endpoint or "unmatched"
        metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(elapsed)
        principal = g.get("principal")
        log.info("request", extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
            "key_id": principal.key_id if principal else None,
            "role": principal.role if principal else None})
        return response
