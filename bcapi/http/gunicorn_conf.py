"""gunicorn settings from the environment; `gunicorn.conf.py` at the project root imports these,
and `bcapi serve` uses them too.

BCAPI_BIND (default 127.0.0.1:8000), BCAPI_WORKERS (default 2), BCAPI_THREADS per worker
(default 4), BCAPI_TIMEOUT seconds a request may run (default 30), BCAPI_CLIENT_TIMEOUT seconds a
client has to send its whole request (default 30, read by the worker). Command-line options win.
"""
import os

bind = os.environ.get("BCAPI_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("BCAPI_WORKERS", "2"))
# gthread, reading each request whole before a thread takes it: slow and idle clients cost a
# poller entry, not a worker (bcapi/http/worker.py). Every error it answers is problem+json.
worker_class = "bcapi.http.worker.BufferingWorker"
threads = int(os.environ.get("BCAPI_THREADS", "4"))
timeout = int(os.environ.get("BCAPI_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = None  # the app logs every request as JSON, with its request id
errorlog = "-"
# Load the app once in the master: a bad ruleset stops the server at start, with its problems.
preload_app = True
max_requests = 10000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("BCAPI_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus multiprocess mode, so /metrics adds up every worker (bcapi/http/multiproc.py); set
# before the app is loaded, since prometheus_client chooses its mode when it is imported.
from bcapi.http import multiproc  # noqa: E402

multiproc.prepare()
child_exit = multiproc.child_exit
on_exit = multiproc.on_exit
