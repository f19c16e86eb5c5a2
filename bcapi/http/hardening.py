"""Defences every request and response gets: rate limits per key or client address, the client's
address from trusted proxies only, a Host that must be the public URL's, security headers, CORS
closed by default, and no NUL characters in paths or query strings (PostgreSQL cannot compare
them)."""
from __future__ import annotations

import ipaddress
import logging
import math
import time
from urllib.parse import urlsplit

from flask import Flask, g, request
from flask_cors import CORS
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from bcapi.config import Settings
from bcapi.http.problems import Problem

NOT_LIMITED = ("ops.healthz", "ops.readyz", "ops.metrics", "ops.swagger_assets", "static")
log = logging.getLogger("bcapi.http.hardening")

API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
}
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"
# Pages (docs, dashboard) load only their own bundled assets; Swagger UI needs inline script.
CSP_HTML = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")


def client_address() -> str:
    """The caller's address: the peer's, or the one a trusted proxy put in X-Forwarded-For
    (`TrustedProxies` has already rewritten REMOTE_ADDR)."""
    return request.remote_addr or "unknown"


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the client's address given in X-Forwarded-For, but
    only when the peer is one of BCAPI_FORWARDED_ALLOW_IPS (gunicorn trusts those for the scheme
    alone). The list is read from the right, skipping trusted proxies, so an address a client
    wrote itself at the left of the header is never believed."""

    def __init__(self, wsgi_app, trusted: tuple[str, ...]):
        self.wsgi_app = wsgi_app
        self.any = "*" in trusted
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted if entry != "*"]

    def trusted(self, address: str) -> bool:
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        # No address at all is a Unix socket, which only this machine reaches: trusted, as gunicorn does.
        if forwarded and (not peer or self.trusted(peer)):
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            client = peer
            for hop in reversed(hops):
                try:
                    ipaddress.ip_address(hop)
                except ValueError:
                    break  # garbage from the client's end of the list: stop at the last good hop
                client = hop
                if not self.trusted(hop):
                    break
            environ["REMOTE_ADDR"] = client
        return self.wsgi_app(environ, start_response)


class RateLimits:
    """Fixed-window request limits, counted by the `limits` library in any storage it supports
    (`memory://` by default: per worker process; `redis://...` to share them between workers and
    instances).

    One allowance per valid API key, and one per client address for everything else: requests
    with no key, and requests whose key is unknown, revoked or expired, so guessing keys spends
    the guesser's address's allowance. Over a limit, 429 problem+json with `Retry-After`; every
    counted response carries `X-RateLimit-Limit`, `-Remaining` and `-Reset` for the tightest
    limit. If the storage fails, requests are let through and the failure is logged: the service
    stays up. (flask-limiter did this before, at about ten times the cost a request of the check.)
    """

    def __init__(self, limits: list[RateLimitItem], storage_uri: str):
        self.limits = limits
        self.counter = FixedWindowRateLimiter(storage_from_string(storage_uri))

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimits":
        return cls(parse_many(settings.rate_limit) if settings.rate_limit else [], settings.rate_limit_storage)

    def count_key(self, key_id: str) -> None:
        """Count this request against a valid key's allowance."""
        if self.limits and request.endpoint not in NOT_LIMITED:
            self.charge("key:" + key_id)

    def count_address(self, *, failed: bool = False) -> None:
        """Count this request against the client's address (no key, or a key that failed; a
        failed credential counts even on the routes that are otherwise never limited)."""
        if self.limits and (failed or request.endpoint not in NOT_LIMITED):
            self.charge("ip:" + client_address())

    def charge(self, bucket: str) -> None:
        """Count a request in `bucket` against each limit, or refuse it with 429."""
        if g.get("rate_limit_key") is not None:
            return  # counted once a request
        try:
            for item in self.limits:
                if not self.counter.hit(item, bucket):
                    wait = max(1, math.ceil(self.counter.get_window_stats(item, bucket).reset_time - time.time()))
                    raise Problem(429, f"Too many requests: the limit is {item.amount} per "
                                       f"{item.get_expiry()} seconds. Retry after {wait} seconds.",
                                  headers={"Retry-After": str(wait), **self._headers(item, 0, time.time() + wait)})
        except Problem:
            raise
        except Exception:  # noqa: BLE001 - the limiter's storage is down: serve rather than fail
            log.warning("rate limit storage failed; request let through", exc_info=True)
            return
        g.rate_limit_key = bucket

    def add_headers(self, response):
        """After a counted request: where the caller stands against its tightest limit."""
        key = g.pop("rate_limit_key", None)
        if key is None:
            return response
        try:
            stats = [(self.counter.get_window_stats(item, key), item) for item in self.limits]
        except Exception:  # noqa: BLE001
            return response
        (reset, remaining), item = min(stats, key=lambda pair: pair[0].remaining)
        response.headers.extend(self._headers(item, remaining, reset))
        return response

    @staticmethod
    def _headers(item: RateLimitItem, remaining: int, reset: float) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(item.amount), "X-RateLimit-Remaining": str(max(0, remaining)),
                "X-RateLimit-Reset": str(int(reset))}


DEFAULT_PORTS = {"http": 80, "https": 443}
# Probes and Prometheus address a server by its own address, and these build no links.
ANY_HOST = ("ops.healthz", "ops.readyz", "ops.metrics")


def _host_and_port(host: str, scheme: str) -> tuple[str, int] | None:
    parts = urlsplit(f"{scheme}://{host}")
    try:
        return (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS[scheme]
    except ValueError:  # a port that is not a number
        return None


def _host_check(public_url: str, limits: RateLimits):
    """With BCAPI_PUBLIC_URL set, a request for any other Host is refused with 421 (RFC 9110
    15.5.20): links never come from the Host, but a forged one may be an attack (DNS
    rebinding, poisoned caches) or a misrouted request, and either is better refused. The
    answer names the host the service serves, never the one it was sent."""
    public = urlsplit(public_url)
    expected = _host_and_port(public.netloc, public.scheme)

    def refuse_other_hosts():
        if request.endpoint in ANY_HOST:
            return
        if _host_and_port(request.host, public.scheme) != expected:
            limits.count_address()
            raise Problem(421, f"This service answers for {public.netloc} only; send that Host header.",
                          title="Misdirected request", slug="misdirected-request")

    return refuse_other_hosts


def init_app(app: Flask, settings: Settings) -> RateLimits:
    """Install the defences. The access policy (`auth.enforce_policy`) counts each request
    against the limits, since it is what finds out whether the caller's key is valid."""
    limits = RateLimits.from_settings(settings)
    app.after_request(limits.add_headers)
    app.wsgi_app = TrustedProxies(app.wsgi_app, settings.forwarded_allow_ips)  # type: ignore[method-assign]
    if settings.cors_origins:
        CORS(app, resources={r"/api/*": {"origins": list(settings.cors_origins)}},
             expose_headers=["ETag", "Location", "Link", "X-Request-ID", "Retry-After"],
             allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key"])

    if settings.public_url:
        app.before_request(_host_check(settings.public_url, limits))

    @app.before_request
    def _refuse_nul_characters():
        if "\x00" in request.path:
            raise Problem(400, "The path contains a NUL character (%00).")
        for name, values in request.args.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise Problem(400, f"The query parameter {name!r} contains a NUL character (%00).")

    @app.after_request
    def _security_headers(response):
        """Each header unless the view set its own (one pass over the headers, not one a name)."""
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        wanted = [*API_HEADERS.items(),
                  ("Content-Security-Policy", CSP_HTML if response.mimetype == "text/html" else CSP_JSON)]
        if request.path.startswith("/api/"):
            wanted.append(("Cache-Control", "no-store"))
        headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response

    return limits
