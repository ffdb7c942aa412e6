"""pytest plugin: one local AWS per test process, reset for every test.

Register with ``pytest_plugins = ["emulator.pytest_plugin"]`` (tests/conftest.py
does). Under pytest-xdist each worker is its own process and starts its own
server on a free port, so tests stay parallel-safe.

Fixtures:
- ``local_aws`` (session): the running :class:`emulator.LocalAws`, not reset.
- ``aws`` (function): the same server, emptied, with the AWS_* variables set
  (monkeypatched) so plain ``boto3.client("s3")`` and aioboto3 reach it.
- ``localstack_server`` (session) and ``localstack`` (function): the same for
  the second interpreter, :class:`emulator.localstack.LocalStackAws`. One
  LocalStack per worker, started by the first test that asks for it: the model
  emulator it forwards Rekognition to lives in the test process (tests configure
  and patch it there), so an instance shared between workers could not serve
  them all. ``localstack`` empties the model and moves the stack suffix on
  (LocalStack keeps its state: each test provisions under fresh names).
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from emulator.localstack import LocalStackAws
from emulator.server import LocalAws

# Variables that could point a client at a real account or another endpoint.
_UNSET = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as server:
        yield server


@pytest.fixture
def aws(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    local_aws.reset()
    _point_at(local_aws.env(), monkeypatch)
    yield local_aws


@pytest.fixture(scope="session")
def localstack_server() -> Iterator[LocalStackAws]:
    with LocalStackAws() as server:
        yield server


@pytest.fixture
def localstack(
    localstack_server: LocalStackAws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalStackAws]:
    if not localstack_server.running:
        raise RuntimeError(f"LocalStack has exited:\n{localstack_server.log_tail()}")
    localstack_server.reset()
    _point_at(localstack_server.env(), monkeypatch)
    yield localstack_server


def _point_at(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # boto3's default session caches credentials and config from the old env.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
