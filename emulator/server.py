"""The local AWS: moto's server app with the Custom Labels model emulator in
front of it, on one free 127.0.0.1 port, in a background thread.

moto keeps its state in process-wide backends, so every ``LocalAws`` in one
process shares S3/SQS/... state (pytest-xdist workers are separate processes,
each with its own server). Each instance has its own model emulator.
"""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from emulator.httpserver import KeepAliveServer, keep_alive_handler
from emulator.model import ModelEmulator, RekognitionMiddleware
from emulator.s3faults import S3FaultMiddleware, S3Faults

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}

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

    return moto_api_backend, Dispatcher(create_backend_app), keep_alive_handler(MotoRequestHandler)


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
        self._server: KeepAliveServer | None = None
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
        self._server = KeepAliveServer(self._host, self._port, app, handler)
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
            from emulator import apishims, shims

            shims.install(active_endpoint)
            apishims.install()
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
            # Operations with a host prefix (Step Functions' TestState and
            # StartSyncExecution: "sync-") would go to sync-127.0.0.1; the SDKs'
            # setting for custom endpoints turns the prefix off.
            "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        }

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client bound to this endpoint (thread-safe to call)."""
        self._require_started()
        kwargs.setdefault("endpoint_url", self.endpoint)
        kwargs.setdefault("region_name", self.region)
        kwargs.setdefault(
            "config",
            Config(retries={"mode": "standard", "total_max_attempts": 3}, inject_host_prefix=False),
        )
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
