"""HTTP benchmark (issue #7): bcapi under gunicorn against the floor of any Flask JSON API.

    .venv/bin/python bench/http.py [--quick] [--rounds N] [--threads N] [--client raw|requests]

The benchmark itself is `bench/http_bench.py` (see its docstring). This file only starts it,
and takes care of its own name: a script run from bench/ has this folder first on sys.path, so
`import http` (by requests, werkzeug, ...) finds this file rather than the standard library's
package. Imported that way, it puts the real package in its place.
"""
from __future__ import annotations

import importlib
import os
import sys

if __name__ == "http":
    _here = os.path.dirname(os.path.abspath(__file__))
    _saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    del sys.modules["http"]
    try:
        sys.modules["http"] = importlib.import_module("http")
    finally:
        sys.path[:] = _saved
elif __name__ == "__main__":
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here] + [_here]
    from http_bench import main
    sys.exit(main())
