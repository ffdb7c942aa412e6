"""The emulator's HTTP/1.1 keep-alive server: werkzeug's threaded WSGI server
with a request handler that keeps connections open.

werkzeug's development server answers every request with ``Connection:
close`` and then polls the socket for up to 10 ms to discard unread body
bytes, so every SDK call paid a new TCP connection, a new server thread and
that poll. :func:`keep_alive_handler` reads exactly the request's body
(Content-Length or chunked) after the application has answered, so the next
request on the connection starts where it should, and keeps the connection
open unless the client (or an error) closes it. Nothing here knows moto: the
handler class to extend is passed in (moto's, which adds its own logging).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

log = logging.getLogger(__name__)

# Seconds an idle keep-alive connection stays open: longer than the clients'
# own idle limits (aiohttp 15 s; urllib3 keeps them until it finds them closed),
# so that a client rarely reuses a connection the server is just closing.
IDLE_TIMEOUT = 75.0
_DRAIN_CHUNK = 1 << 16


def keep_alive_handler(base: type[WSGIRequestHandler]) -> type[WSGIRequestHandler]:
    """``base`` (a werkzeug request handler class) with HTTP/1.1 keep-alive;
    request lines go to DEBUG logging, not stderr."""

    class Handler(base):  # type: ignore[valid-type,misc]  # a class built at run time
        """Keep-alive request handling (see the module docstring)."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes
        timeout = IDLE_TIMEOUT  # an idle keep-alive connection is closed after this

        def setup(self) -> None:
            super().setup()
            self.server.track(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                self.server.untrack(self.connection)

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = self.environ = self.make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: make_environ dechunks
                body = environ["wsgi.input"]
            else:
                try:
                    length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
                except ValueError:
                    length, self.close_connection = 0, True
                body = environ["wsgi.input"] = LimitedStream(self.rfile, length)
            response = Response(self)
            try:
                response.run(self.server.app, environ)
                _drain(body)
            except (ConnectionError, TimeoutError) as err:
                self.close_connection = True
                self.connection_dropped(err, environ)
            except Exception:
                self.close_connection = True
                if self.server.passthrough_errors:
                    raise
                log.exception("error on request %r", self.requestline)
                if not response.sent:
                    with contextlib.suppress(Exception):
                        Response(self).run(InternalServerError(), environ)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.debug("%s %s %s", self.requestline, code, size)

        def log_error(self, format: str, *args: Any) -> None:
            # http.server reports an idle keep-alive connection timing out as an error.
            level = logging.DEBUG if format.startswith("Request timed out") else logging.WARNING
            log.log(level, format, *args)

    return Handler


class Response:
    """One WSGI response written to a keep-alive connection: the body is
    framed by the application's Content-Length, else chunked (HTTP/1.1), else
    by closing the connection."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False
        self.chunked = False
        self.bodyless = False
        self.declared: int | None = None  # the application's Content-Length
        self.written = 0

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.sent:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status, self.headers = status, headers
        return self.write

    def write(self, data: bytes) -> None:
        handler = self.handler
        if not self.sent:
            if self.status is None:
                raise AssertionError("write() before start_response")
            self.sent = True
            code_text, _, reason = self.status.partition(" ")
            code = int(code_text)
            handler.send_response(code, reason)
            names = set()
            for name, value in self.headers:
                handler.send_header(name, value)
                names.add(name.lower())
                if name.lower() == "content-length" and value.strip().isdigit():
                    self.declared = int(value)
            # No body may follow these, whatever the application yields.
            self.bodyless = handler.command == "HEAD" or 100 <= code < 200 or code in (204, 304)
            if not (self.bodyless or "content-length" in names):
                if handler.request_version >= "HTTP/1.1":
                    self.chunked = True
                    handler.send_header("Transfer-Encoding", "chunked")
                else:
                    handler.close_connection = True
            if handler.close_connection and "connection" not in names:
                handler.send_header("Connection", "close")
            handler.end_headers()
        if data and not self.bodyless:
            if self.chunked:
                handler.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
            else:
                handler.wfile.write(data)
                self.written += len(data)

    def run(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> None:
        chunks = app(environ, self.start_response)
        try:
            for data in chunks:
                self.write(data)
            if not self.sent:
                self.write(b"")
            if self.chunked:
                self.handler.wfile.write(b"0\r\n\r\n")
            elif not self.bodyless and self.declared is not None and self.written != self.declared:
                # The body does not match its Content-Length: the client can no
                # longer tell where the next response starts.
                log.warning("response body of %d bytes, declared %d", self.written, self.declared)
                self.handler.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def _drain(body: Any) -> None:
    """Read what the application left of the request body."""
    while body.read(_DRAIN_CHUNK):
        pass


class KeepAliveServer(ThreadedWSGIServer):
    """werkzeug's threaded server, knowing its open connections so that
    stopping it also closes the idle keep-alive ones (their threads would
    otherwise go on serving the clients of a stopped server)."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
