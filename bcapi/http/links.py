"""Links the service writes (`Location`, `Link`, `next`): from BCAPI_PUBLIC_URL, never from the
request's Host header, which anyone can forge.

With BCAPI_PUBLIC_URL set, links are absolute: that URL (the app's root) and the route's path.
Without it they are relative references starting with `/`, which RFC 9110 (10.2.2, Location)
and RFC 8288 (Link) let a client resolve against the URL it asked for, so they are right
behind any proxy without configuration.
"""
from __future__ import annotations

from flask import request, url_for

from bcapi.http.api.context import state


def link(endpoint: str, **values) -> str:
    """The URL of `endpoint` with `values`, for a client to follow."""
    path = url_for(endpoint, **values)  # path and query, below the app's script root
    base = state().settings.public_url
    if base is None:
        return path
    return base + path[len(request.script_root):]
