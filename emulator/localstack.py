"""The second interpreter: LocalStack (localstack-core, host mode, no Docker).

``LocalStackAws`` has the interface of :class:`emulator.LocalAws` (``endpoint``,
``region``, ``account_id``, ``env()``, ``client()``, ``model``, ``reset()``), so
the scenarios, the stack provisioning and the Lambda poller run on either.

LocalStack runs as a child process from its own venv (``.venv-localstack``,
Python >= 3.12, pinned in requirements/localstack.txt, built by
scripts/bootstrap.sh), in a temporary folder, on a free loopback port, offline.
Its community edition has no Rekognition: the project's Custom Labels model
emulator (emulator/model.py) runs here, in this process, on a loopback port of
its own, and LocalStack forwards every Rekognition call to it through a service
provider plugin (emulator/localstack_plugin/rekbatch_localstack.py, loaded from
an entry point this module writes into the temporary folder). Step Functions'
aws-sdk rekognition tasks and the handler's DetectCustomLabels therefore meet
the same model as on moto; the model reads images from LocalStack's S3.

See docs/emulator.md, "The LocalStack engine".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from werkzeug.serving import WSGIRequestHandler

from emulator.httpserver import KeepAliveServer, keep_alive_handler
from emulator.model import ModelEmulator, RekognitionMiddleware

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = Path(__file__).resolve().parent / "localstack_plugin"
LAUNCHER = PLUGIN_DIR / "rekbatch_localstack.py"
VENV = ROOT / ".venv-localstack"
PYTHON_VARIABLE = "REKBATCH_LOCALSTACK_PYTHON"  # another LocalStack interpreter

DEFAULT_REGION = "us-east-1"
# LocalStack takes a 12-digit access key id as the account id: the same account
# as moto's default, so ARNs (and the scenarios' model ARN) are alike on both.
ACCOUNT_ID = "123456789012"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": ACCOUNT_ID, "AWS_SECRET_ACCESS_KEY": "testing"}
SERVICES = (
    "s3",
    "sqs",
    "stepfunctions",
    "sns",
    "events",
    "iam",
    "sts",
    "lambda",
    "logs",
    "scheduler",
)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class LocalStackError(RuntimeError):
    """LocalStack could not be found, started or reached."""


def localstack_python() -> Path:
    """The interpreter of LocalStack's venv, or a clear error naming what is missing."""
    configured = os.environ.get(PYTHON_VARIABLE)
    python = Path(configured) if configured else VENV / "bin" / "python"
    if not python.is_file():
        raise LocalStackError(
            f"LocalStack's interpreter {python} is missing: run `make setup` "
            f"(scripts/bootstrap.sh builds {VENV.name}) or set {PYTHON_VARIABLE}"
        )
    return python


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _write_entry_point(folder: Path) -> None:
    """A distribution's metadata naming the Rekognition provider: LocalStack finds
    service providers through importlib.metadata entry points (plux), and any
    ``*.dist-info`` folder on sys.path counts."""
    info = folder / "rekbatch_localstack-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rekbatch-localstack\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[localstack.aws.provider]\nrekognition:rekbatch = rekbatch_localstack:rekognition\n"
    )


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps(
        {"__type": "UnknownOperationException", "Message": "Not a Custom Labels operation."}
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))],
    )
    return [body]


class LocalStackAws:
    """LocalStack + the Custom Labels model emulator, one endpoint, like LocalAws.

    LocalStack's community edition can not reset its state between tests, so
    ``reset()`` empties the model emulator and moves ``stack_suffix`` on: each
    test provisions its stack under fresh names (see tests/workflow/conftest.py).
    """

    engine = "localstack"

    def __init__(
        self, *, region: str = DEFAULT_REGION, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.region = region
        self.port = port  # 0: a free one
        self.account_id = ACCOUNT_ID
        self.host = host
        self.model = ModelEmulator(self._read_s3)
        self.generation = 0
        self.endpoint = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: Path | None = None
        self._log: Any = None
        self._model_server: KeepAliveServer | None = None
        self._model_thread: threading.Thread | None = None
        self._session_lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._s3: Any = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> LocalStackAws:
        if self._process is not None:
            return self
        python = localstack_python()
        self._folder = Path(tempfile.mkdtemp(prefix="rekbatch-localstack-"))
        try:
            self._start_model_server()
            self._start_localstack(python, self._folder)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_model_server(self) -> None:
        app = RekognitionMiddleware(_not_found, self.model)
        self._model_server = KeepAliveServer(
            self.host, 0, app, keep_alive_handler(WSGIRequestHandler)
        )
        port = self._model_server.server_address[1]
        self.model_endpoint = f"http://{self.host}:{port}"
        self._model_thread = threading.Thread(
            target=self._model_server.serve_forever, name=f"model-{port}", daemon=True
        )
        self._model_thread.start()

    def _start_localstack(self, python: Path, folder: Path) -> None:
        plugins = folder / "plugins"
        _write_entry_point(plugins)
        (folder / "fs").mkdir()
        (folder / "tmp").mkdir()
        port = self.port or _free_port(self.host)
        self.endpoint = f"http://{self.host}:{port}"
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "LOCALSTACK_", "PYTHON"))
        }
        env.update(
            {
                "PYTHONPATH": os.pathsep.join((str(PLUGIN_DIR), str(plugins))),
                "SERVICES": ",".join((*SERVICES, "rekognition")),
                "PROVIDER_OVERRIDE_REKOGNITION": "rekbatch",
                "REKBATCH_MODEL_ENDPOINT": self.model_endpoint,
                # twisted (the default server) listens on every interface whatever
                # GATEWAY_LISTEN says; hypercorn binds the address given.
                "GATEWAY_SERVER": "hypercorn",
                "GATEWAY_LISTEN": f"{self.host}:{port}",
                "LOCALSTACK_HOST": f"{self.host}:{port}",
                "DNS_ADDRESS": "0",  # no DNS server
                "DISABLE_EVENTS": "1",  # no analytics
                "SKIP_SSL_CERT_DOWNLOAD": "1",  # offline
                "FILESYSTEM_ROOT": str(folder / "fs"),
                "TMPDIR": str(folder / "tmp"),
                "EAGER_SERVICE_LOADING": "0",
            }
        )
        self._log = (folder / "localstack.log").open("wb")
        self._process = subprocess.Popen(
            [str(python), str(LAUNCHER)],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches it through stop() only
        )
        self._wait_ready()
        log.info("LocalStack listening on %s (pid %s)", self.endpoint, self._process.pid)

    def _wait_ready(self) -> None:
        """Poll the health endpoint until every service is there (no fixed sleep)."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        url = f"{self.endpoint}/_localstack/health"
        while True:
            if self._process.poll() is not None:
                raise LocalStackError(
                    f"LocalStack exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(url, timeout=2) as response:
                    services = json.load(response).get("services", {})
                if all(services.get(name) in ("available", "running") for name in SERVICES):
                    return
            if time.monotonic() > deadline:
                raise LocalStackError(
                    f"LocalStack not ready after {START_TIMEOUT:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        if self._folder is None or not (self._folder / "localstack.log").exists():
            return ""
        text = (self._folder / "localstack.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        server, self._model_server = self._model_server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._model_thread is not None:
            self._model_thread.join(timeout=5)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> LocalStackAws:
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
        return self._process is not None and self._process.poll() is None

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
        """Empty the model emulator and take fresh resource names (``stack_suffix``):
        LocalStack's community edition has no state reset."""
        self._require_started()
        self.model.reset()
        self.generation += 1

    @property
    def stack_suffix(self) -> str:
        """Appended to stack names so each test's resources are its own."""
        return f"t{self.generation}"

    def _read_s3(self, bucket: str, key: str, version: str | None) -> tuple[int, Any]:
        """The model emulator's S3 reader: LocalStack's S3, as Rekognition reads the
        caller's bucket."""
        if self._s3 is None:
            self._s3 = self.client("s3")
        extra = {"VersionId": version} if version else {}
        try:
            obj = self._s3.get_object(Bucket=bucket, Key=key, **extra)
        except Exception:  # NoSuchKey, NoSuchBucket, ...: Rekognition says InvalidS3Object
            raise KeyError(f"s3://{bucket}/{key}") from None
        body = obj["Body"]
        return int(obj["ContentLength"]), body.read

    def _require_started(self) -> None:
        if self._process is None:
            raise RuntimeError("LocalStackAws is not started: use `with LocalStackAws() as aws:`")


__all__ = ["LocalStackAws", "LocalStackError", "localstack_python"]
