"""The floor any Flask JSON API pays: parse the JSON body, answer a small JSON object.

Served by `bench/http.py` with the project's own gunicorn settings (`gunicorn.conf.py`), side by
side with bcapi, so that bcapi's requests/s can be read as a fraction of this:

    gunicorn bench.floor_app:app          # from the project root, BCAPI_BIND=127.0.0.1:PORT
"""
from __future__ import annotations

from flask import Flask, abort, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/assessments")
@app.post("/api/v1/cases")
def echo():
    document = request.get_json()  # Flask's own JSON parsing, as any Flask JSON API does
    if not isinstance(document, dict):
        abort(400)
    return jsonify({"ok": True, "fields": len(document)})


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
