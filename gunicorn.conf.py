# gunicorn reads ./gunicorn.conf.py by default; the settings live in the package.
from bcapi.http.gunicorn_conf import *  # noqa: F401,F403
