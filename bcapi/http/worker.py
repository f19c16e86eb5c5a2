"""The gunicorn worker bcapi runs: gthread, with a request read whole before a thread takes it.

gunicorn's gthread worker hands a connection to a thread as soon as it is readable, and the
thread then waits on the client for the rest of the request. A client that sends a byte a
second (or announces `Content-Length: 2000000` and sends ten bytes) holds that thread for as
long as it likes; a handful of them stop the service. This worker does what nginx's request
buffering does: the main loop reads every request (head and body, up to BCAPI_MAX_BODY_BYTES)
without blocking, alongside every other connection, and only a request that has fully arrived
goes to a thread. Slow and idle clients cost a poller entry each, not a thread, and each has
BCAPI_CLIENT_TIMEOUT seconds to send its request whole (then 408, or a silent close if it sent
nothing). After answering an error, the worker lingers for the client's last bytes in the main
loop too, not in a blocking close.

Every answer the server gives below the Flask app is problem+json (RFC 9457) in the project's
format: gunicorn's parse errors (400, 414, 417, 431), the 408 above, and the 503 the clients
of a request get when the request outlives BCAPI_TIMEOUT or the arbiter aborts the worker.
"""
from __future__ import annotations

import errno
import os
import re
import selectors
import socket
import threading
import time
from functools import partial

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.exceptions import BadRequest

from bcapi.config import Settings
from bcapi.document import dumps
from bcapi.http.problems import MEDIA_TYPE, SLUGS, TITLES, TYPE_BASE

# The statuses only the HTTP server answers, which the app's own tables leave out.
SERVER_TITLES = {408: "Request timeout", 414: "Request line too long", 417: "Expectation failed",
                 431: "Request header fields too large", 501: "Not implemented"}
SERVER_SLUGS = {408: "request-timeout", 414: "request-line-too-long", 417: "expectation-failed",
                431: "header-fields-too-large", 501: "not-implemented"}
REASONS = {400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 414: "URI Too Long",
           417: "Expectation Failed", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable"}

# gunicorn's statuses for its parse errors (gunicorn.workers.base.Worker.handle_error); any other
# ParseException is 400.
PARSE_STATUSES = ((http_errors.LimitRequestLine, 414), (http_errors.LimitRequestHeaders, 431),
                  (http_errors.UnsupportedTransferCoding, 501), (http_errors.ExpectationFailed, 417),
                  (http_errors.ForbiddenProxyRequest, 403), (http_errors.ConfigurationProblem, 500))

HEAD_END = b"\r\n\r\n"
# A head with no end in this many bytes goes to gunicorn's parser, whose limits (4094-byte request
# line, 100 fields of 8190 bytes) then refuse it or read the rest with the client's deadline.
MAX_BUFFERED_HEAD = 64 * 1024
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*([0-9]{1,12})[ \t]*\r\n", re.IGNORECASE)
TRANSFER_ENCODING = re.compile(rb"\r\ntransfer-encoding[ \t]*:([^\r\n]*)", re.IGNORECASE)
EXPECT_CONTINUE = re.compile(rb"\r\nexpect[ \t]*:[ \t]*100-continue[ \t]*\r\n", re.IGNORECASE)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LINGER_SECONDS = 2.0
DEFAULT_CLIENT_TIMEOUT = 30


def problem_bytes(status: int, detail: str, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 response carrying a problem, closing the connection."""
    body = dumps({"type": TYPE_BASE + (SLUGS.get(status) or SERVER_SLUGS.get(status, "error")),
                  "title": TITLES.get(status) or SERVER_TITLES.get(status, "Error"),
                  "status": status, "detail": detail}).encode()
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", f"Content-Type: {MEDIA_TYPE}",
             f"Content-Length: {len(body)}", "Connection: close", "Cache-Control: no-store",
             "X-Content-Type-Options: nosniff", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


WAIT, WHOLE, UNREADABLE = "wait", "whole", "unreadable"


def arrival(data: bytes | bytearray, max_body: int) -> str:
    """WAIT while the request in `data` is on its way; WHOLE once it has arrived; UNREADABLE when
    a thread should take it now though it is not whole, because it will be refused (a malformed
    head, or a body over `max_body`, which the app refuses from its Content-Length with 413).

    This only decides when a thread takes over: gunicorn's parser still reads the request.
    """
    end = data.find(HEAD_END)
    bare = data.find(b"\n\n")
    if 0 <= bare < end or (end < 0 and bare >= 0):
        return UNREADABLE  # lines ended by a bare LF: the parser refuses them
    if end < 0:
        return UNREADABLE if len(data) > MAX_BUFFERED_HEAD else WAIT
    head = memoryview(data)[:end + 2].tobytes()
    body = len(data) - end - 4
    codings = TRANSFER_ENCODING.findall(head)
    if codings:
        if len(codings) > 1 or not codings[0].strip().lower().endswith(b"chunked"):
            return UNREADABLE
        # Chunked: the last chunk ends "0\r\n\r\n" (a request with trailers waits for its deadline).
        if data.endswith(b"0\r\n\r\n"):
            return WHOLE
        return UNREADABLE if body > max_body else WAIT
    lengths = CONTENT_LENGTH.findall(head)
    if not lengths:
        return WHOLE  # no body (or an invalid Content-Length, which the parser refuses)
    if len(lengths) > 1 or int(lengths[0]) > max_body:
        return UNREADABLE
    return WHOLE if body >= int(lengths[0]) else WAIT


class ClientSocket:
    """A client's socket with the bytes already read put back in front of it.

    Blocking calls from a thread wait at most the client's timeout: `setblocking(True)`, which
    gunicorn calls before every request, means "blocking, with a timeout" here.
    """

    def __init__(self, sock: socket.socket, timeout: float):
        self.raw, self.timeout = sock, timeout
        self.pending = bytearray()

    def recv(self, size: int) -> bytes:
        if self.pending:
            data = bytes(self.pending[:size])
            del self.pending[:size]
            return data
        return self.raw.recv(size)

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.raw.settimeout(self.timeout)
        else:
            self.raw.setblocking(False)

    def __getattr__(self, name: str):
        return getattr(self.raw, name)


class ChunkedBody:
    """A chunked request body whose framing errors reach the app as 400 Bad Request (a problem),
    not as an unexpected exception (500)."""

    def __init__(self, body):
        self.body = body

    def _guarded(self, method, *args):
        try:
            return method(*args)
        except http_errors.ParseException as exc:
            raise BadRequest(f"The request body could not be read: {exc}.") from None

    def read(self, *args):
        return self._guarded(self.body.read, *args)

    def readline(self, *args):
        return self._guarded(self.body.readline, *args)

    def readlines(self, *args):
        return self._guarded(self.body.readlines, *args)

    def __iter__(self):
        return iter(self.readline, b"")


class BufferingWorker(ThreadWorker):
    """gthread, reading each request whole in the main loop before a thread serves it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.client_timeout = float(os.environ.get("BCAPI_CLIENT_TIMEOUT") or DEFAULT_CLIENT_TIMEOUT)
        self.max_body = Settings.from_env().max_body_bytes
        self.arriving: dict[TConn, float] = {}  # connections whose request is on its way → deadline
        self.lingering: dict[TConn, float] = {}  # answered and half-closed, draining → deadline
        self.serving: dict[int, tuple[TConn, float]] = {}  # thread → its connection, since when
        self.serving_lock = threading.Lock()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app = self.wsgi

        def tracked(environ, start_response):
            """Note which connection a thread answers while the app runs, for `answer_stuck`."""
            if "HTTP_TRANSFER_ENCODING" in environ:
                environ["wsgi.input"] = ChunkedBody(environ["wsgi.input"])
            ident = threading.get_ident()
            with self.serving_lock:
                self.serving[ident] = (self.current.conn, time.monotonic())
            try:
                return app(environ, start_response)
            finally:
                with self.serving_lock:
                    self.serving.pop(ident, None)

        self.wsgi = tracked

    # -- connections arriving -------------------------------------------------------------------
    def accept(self, listener) -> None:
        if self.cfg.is_ssl:  # TLS in gunicorn itself: gthread as it is (TLS belongs in front, with nginx)
            super().accept(listener)
            return
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, ClientSocket(client, self.client_timeout), address, listener.getsockname())
        self.await_request(conn)

    def on_client_socket_readable(self, conn: TConn, client) -> None:
        """A kept-alive connection sends its next request: read it like a new one."""
        if self.cfg.is_ssl:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.arriving[conn] = time.monotonic() + self.client_timeout
        self.read_some(conn)  # usually the whole request is there already
        if conn in self.arriving:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.read_some, conn))

    def await_request(self, conn: TConn) -> None:
        self.arriving[conn] = time.monotonic() + self.client_timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.read_some, conn))

    def read_some(self, conn: TConn, _fileobj=None) -> None:
        sock: ClientSocket = conn.sock
        try:
            data = sock.raw.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client left before its request was whole: nobody to answer
            self.stop_awaiting(conn)
            self.close(conn)
            return
        sock.pending += data
        state = arrival(sock.pending, self.max_body)
        if state == WAIT and not getattr(conn, "continued", False) and self.expects_continue(sock.pending):
            # The client waits for this before it sends the body (gunicorn sends its own 100 again
            # later; a client reads any number of 1xx answers before the final one).
            conn.continued = True
            self.send_now(conn, CONTINUE)
        if state != WAIT:
            conn.continued = False
            self.stop_awaiting(conn)
            conn.unreadable = state == UNREADABLE
            conn.data_ready = True  # gthread need not wait for the first byte
            self.enqueue_req(conn)

    @staticmethod
    def expects_continue(data: bytearray) -> bool:
        end = data.find(HEAD_END)
        return end > 0 and b" HTTP/1.1\r\n" in data[:data.find(b"\r\n") + 2] and bool(
            EXPECT_CONTINUE.search(data, 0, end + 2))

    def stop_awaiting(self, conn: TConn) -> None:
        self.arriving.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Each turn of the main loop: end what has run out of time."""
        super().murder_pending()
        now = time.monotonic()
        due = []
        for conn, deadline in self.arriving.items():
            if deadline > now and self.alive:
                break  # in order of deadline (all got the same timeout)
            due.append((conn, deadline))
        for conn, deadline in due:
            if deadline > now and conn.sock.pending:
                continue  # stopping: a request on its way still gets its time
            self.stop_awaiting(conn)
            if conn.sock.pending:
                self.log.info("request from %s not received whole in %ss", conn.client[0], self.client_timeout)
                self.send_now(conn, problem_bytes(408, f"The request did not arrive whole within "
                                                       f"{self.client_timeout:g} seconds."))
            self.close(conn)
        due = []
        for conn, deadline in self.lingering.items():
            if deadline > now:
                break
            due.append(conn)
        for conn in due:
            self.lingering.pop(conn)
            self.stop_lingering(conn)
        self.answer_stuck(now)

    @staticmethod
    def send_now(conn: TConn, data: bytes) -> None:
        """Write a short answer without blocking the main loop (it fits a socket's buffer)."""
        try:
            conn.sock.raw.setblocking(False)
            conn.sock.raw.send(data)
        except OSError:
            pass

    # -- serving --------------------------------------------------------------------------------
    current = threading.local()

    def handle(self, conn: TConn):
        self.current.conn = conn
        return super().handle(conn)

    def handle_request(self, req, conn: TConn):
        if getattr(conn, "unreadable", False):
            req.must_close = True  # answered with "Connection: close": the body is not waited for
        return super().handle_request(req, conn)

    def _keepalive_after(self, conn: TConn, keepalive) -> bool:
        """After the answer, the rest of the body is drained; if it cannot be read, the connection
        closes (the client already has its answer: a second one would be a protocol error)."""
        try:
            return super()._keepalive_after(conn, keepalive)
        except (http_errors.ParseException, http_errors.NoMoreData, OSError):
            return False

    def finish_request(self, conn: TConn, fs) -> None:
        """As gthread, but a connection to close lingers in the main loop rather than blocking it."""
        result = fs.result() if not fs.cancelled() and fs.exception() is None else False
        if result:
            super().finish_request(conn, fs)
            return
        try:
            conn.sock.raw.shutdown(socket.SHUT_WR)
            conn.sock.raw.setblocking(False)
        except OSError:
            self.close(conn)
            return
        self.lingering[conn] = time.monotonic() + LINGER_SECONDS
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.drain, conn))

    def drain(self, conn: TConn, _fileobj=None) -> None:
        """Read and drop what the client still sends, until it closes (RFC 9112 section 9.6)."""
        try:
            if conn.sock.raw.recv(65536):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.lingering.pop(conn, None)
        self.stop_lingering(conn)

    def stop_lingering(self, conn: TConn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.close(conn)

    # -- errors ---------------------------------------------------------------------------------
    def handle_error(self, req, client, addr, exc) -> None:
        """gunicorn's own answers (a request it cannot parse, an error outside the app), as problems."""
        status = 500
        if isinstance(exc, http_errors.ParseException):
            status = next((code for kind, code in PARSE_STATUSES if isinstance(exc, kind)), 400)
        if status < 500:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
            detail = f"The request could not be read: {exc}."
        else:
            self.log.exception("Error handling request")
            detail = "The server could not complete the request."
        try:
            client.setblocking(True)
            client.sendall(problem_bytes(status, detail))
        except OSError:
            self.log.debug("Failed to send error message.")

    def answer_stuck(self, now: float) -> None:
        """A request has run longer than BCAPI_TIMEOUT: as gunicorn does with a silent worker, the
        worker is replaced (a thread cannot be stopped from outside), and first its clients hear."""
        if self.cfg.timeout <= 0:  # gunicorn's "no timeout"
            return
        with self.serving_lock:
            if not any(now - since > self.cfg.timeout for _, since in self.serving.values()):
                return
        self.log.error("a request ran longer than %ss; restarting the worker", self.cfg.timeout)
        self.abandon(f"A request took longer than {self.cfg.timeout} seconds and the server stopped it.")

    def handle_abort(self, sig, frame) -> None:
        """The arbiter aborts a worker that stopped answering it."""
        self.cfg.worker_abort(self)
        self.abandon("The server timed out while answering.")

    def abandon(self, detail: str) -> None:
        """Answer every request the app is running with 503 problem+json, then exit at once: the
        arbiter starts another worker, and transactions still open roll back with the process."""
        self.alive = False
        with self.serving_lock:
            waiting = [conn for conn, _ in self.serving.values()]
        answer = problem_bytes(503, detail + " Retry shortly.", {"Retry-After": "5"})
        for conn in waiting:
            try:
                conn.sock.raw.settimeout(1)
                conn.sock.raw.sendall(answer)
            except OSError:
                pass
        os._exit(1)
