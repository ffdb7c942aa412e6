"""The local AWS: moto's server app with the Custom Labels model emulator in
front of it, on one free 127.0.0.1 port, in a background thread.

moto keeps its state in process-wide backends, so every ``LocalAws`` in one
process shares S3/SQS/... state (pytest-xdist workers are separate processes,
each with its own server). Each instance has its own model emulator.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from werkzeug.exceptions import InternalServerError
from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wsgi import LimitedStream

from emulator.model import ModelEmulator, RekognitionMiddleware
from emulator.s3faults import S3FaultMiddleware, S3Faults

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}

# Seconds an idle keep-alive connection stays open: longer than the clients'
# own idle limits (aiohttp 15 s; urllib3 keeps them until it finds them closed),
# so that a client rarely reuses a connection the server is just closing.
IDLE_TIMEOUT = 75.0
_DRAIN_CHUNK = 1 << 16

# Hosts are "<service>.<region>.amazonaws.com" and a few fixed names; the cap
# only guards against a client that invents hosts.
_MAX_CACHED_HOSTS = 1024

_active_lock = threading.Lock()
_active: list[LocalAws] = []


def active_endpoint() -> str | None:
    """Endpoint of the most recently started server in this process (for moto's
    own outgoing SDK calls, e.g. Step Functions aws-sdk tasks)."""
    with _active_lock:
        return _active[-1].endpoint if _active else None


def _moto_imports() -> tuple[Any, Any, Any]:
    # Imported lazily: moto's server module pulls in flask and every backend index.
    from moto.moto_api._internal.models import moto_api_backend
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering the backend that serves each host.

        moto matches the host it infers from the request against every
        backend's URL patterns (hundreds of regexes) on every request; the
        patterns are fixed, so the answer for a host is too.
        """

        def __init__(self, create_app: Any) -> None:
            super().__init__(create_app)
            self._backend_for_host: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            # Called under self.lock (DomainDispatcherApplication.get_application).
            try:
                return self._backend_for_host[host]
            except KeyError:
                backend = super().get_backend_for_host(host)
                if len(self._backend_for_host) < _MAX_CACHED_HOSTS:
                    self._backend_for_host[host] = backend
                return backend

    class Handler(MotoRequestHandler):
        """moto's request handler with HTTP/1.1 keep-alive; request lines go to
        DEBUG logging, not stderr.

        werkzeug's development server answers every request with
        ``Connection: close`` and then polls the socket for up to 10 ms to
        discard unread body bytes, so every SDK call paid a new TCP connection,
        a new server thread and that poll. This handler reads exactly the
        request's body (Content-Length or chunked) after the application has
        answered, so the next request on the connection starts where it should,
        and keeps the connection open unless the client (or an error) closes it.
        """

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes
        timeout = IDLE_TIMEOUT  # an idle keep-alive connection is closed after this

        def setup(self) -> None:
            super().setup()
            self.server.track(self.connection)  # type: ignore[attr-defined]

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                self.server.untrack(self.connection)  # type: ignore[attr-defined]

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
            response = _Response(self)
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
                        _Response(self).run(InternalServerError(), environ)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.debug("%s %s %s", self.requestline, code, size)

        def log_error(self, format: str, *args: Any) -> None:
            # http.server reports an idle keep-alive connection timing out as an error.
            level = logging.DEBUG if format.startswith("Request timed out") else logging.WARNING
            log.log(level, format, *args)

    return moto_api_backend, Dispatcher(create_backend_app), Handler


class _Response:
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


class _Server(ThreadedWSGIServer):
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


def _s3_reader(account_id: str) -> Any:
    def read(bucket: str, key: str, version: str | None) -> tuple[int, Any]:
        from moto.s3.models import s3_backends

        try:
            obj = s3_backends[account_id]["aws"].get_object(bucket, key, version_id=version)
        except Exception:  # MissingBucket, AccessDenied, ...: Rekognition says InvalidS3Object
            raise KeyError(f"s3://{bucket}/{key}") from None
        if obj is None:
            raise KeyError(f"s3://{bucket}/{key}")
        return obj.size, lambda: obj.value

    return read


class LocalAws:
    """moto server + Custom Labels model emulator on one endpoint.

    Use as a context manager (``with LocalAws() as aws:``) or call
    ``start()``/``stop()``. ``env()`` gives the variables that point the AWS
    CLI, boto3 and aioboto3 at it.
    """

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
        port: int = 0,
        install_shims: bool = True,
    ) -> None:
        self.region = region
        self.account_id = ACCOUNT_ID
        self.model = ModelEmulator(_s3_reader(ACCOUNT_ID))
        self.s3_faults = S3Faults()  # aws.s3_faults.configure(fault_rates=...)
        self._host = host
        self._port = port
        self._install_shims = install_shims
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._moto_api: Any = None
        self._session_lock = threading.Lock()
        self._session: boto3.session.Session | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> LocalAws:
        if self._server is not None:
            return self
        moto_api, moto_app, handler = _moto_imports()
        self._moto_api = moto_api
        moto_api.set_config(MOTO_CONFIG)
        app = S3FaultMiddleware(RekognitionMiddleware(moto_app, self.model), self.s3_faults)
        self._server = _Server(self._host, self._port, app, handler)
        port = self._server.server_address[1]
        self.endpoint = f"http://{self._host}:{port}"
        # moto's own outgoing calls (Step Functions tasks) go to localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"local-aws-{port}", daemon=True
        )
        self._thread.start()
        with _active_lock:
            _active.append(self)
        if self._install_shims:
            from emulator import shims

            shims.install()
        log.info("local AWS listening on %s", self.endpoint)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with _active_lock:
            if self in _active:
                _active.remove(self)
            if _active:  # moto's own calls go back to the server still running
                os.environ["MOTO_PORT"] = _active[-1].endpoint.rsplit(":", 1)[1]
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- use ------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment that points the AWS CLI, boto3 and aioboto3 here."""
        self._require_started()
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client bound to this endpoint (thread-safe to call)."""
        self._require_started()
        kwargs.setdefault("endpoint_url", self.endpoint)
        kwargs.setdefault("region_name", self.region)
        kwargs.setdefault("config", Config(retries={"mode": "standard", "total_max_attempts": 3}))
        with self._session_lock:
            if self._session is None:
                self._session = boto3.session.Session(
                    aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    region_name=self.region,
                )
            return self._session.client(service, **kwargs)

    def reset(self) -> None:
        """Empty every moto backend and the model emulator (between tests).

        moto's reset drops all of this process's state; the moto config
        (Step Functions execution on) is re-applied because it is not state.
        """
        self._require_started()
        self._moto_api.reset()
        self._moto_api.set_config(MOTO_CONFIG)
        self.model.reset()
        self.s3_faults.reset()

    def _require_started(self) -> None:
        if self._server is None:
            raise RuntimeError("LocalAws is not started: use `with LocalAws() as aws:`")
