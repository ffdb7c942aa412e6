"""The LocalStack engine (emulator/localstack.py): loopback only, Rekognition served
by the model emulator through LocalStack's provider plugin, and tripwires for the
LocalStack behaviours the engine works around (docs/emulator.md)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from emulator.localstack import LocalStackAws, LocalStackError, localstack_python

VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/ls/version/ls.v1/1700000000000"
PROJECT_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/ls/1700000000000"

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("localstack")]


def _process_tree(pid: int) -> set[int]:
    """The process and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {pid}, True
    while grew:
        children = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def _listening(pids: set[int]) -> list[tuple[str, str]]:
    """(protocol, local address) of every listening TCP and bound UDP socket the
    processes hold: /proc/<pid>/fd names the socket inodes, /proc/net/* their addresses."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in inodes and (protocol.startswith("udp") or state == "0A"):
                found.append((protocol, local))
    return found


def _address(protocol: str, local: str) -> str:
    host, _port = local.split(":")
    if protocol.endswith("6"):
        return "::1" if host == "0" * 24 + "01000000" else host
    return ".".join(str(int(host[i : i + 2], 16)) for i in (6, 4, 2, 0))


def test_localstack_listens_on_the_loopback_interface_only(
    localstack: LocalStackAws,
) -> None:
    assert localstack.pid is not None
    sockets = _listening(_process_tree(localstack.pid))
    assert sockets, "LocalStack holds no listening socket"
    addresses = {_address(protocol, local) for protocol, local in sockets}
    assert addresses <= {"127.0.0.1", "::1"}, sockets
    ports = {int(local.split(":")[1], 16) for _, local in sockets}
    assert int(localstack.endpoint.rsplit(":", 1)[1]) in ports


def test_the_address_check_sees_a_socket_on_every_interface() -> None:
    """The check above can fail: a socket bound to 0.0.0.0 is reported as such."""
    import socket

    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        sockets = _listening({os.getpid()})
        port = sock.getsockname()[1]
        (mine,) = [(p, a) for p, a in sockets if int(a.split(":")[1], 16) == port]
        assert _address(*mine) == "0.0.0.0"


def test_rekognition_calls_reach_the_model_emulator(localstack: LocalStackAws) -> None:
    localstack.model.create(VERSION_ARN, "STOPPED")
    rekognition = localstack.client("rekognition")

    described = rekognition.describe_project_versions(ProjectArn=PROJECT_ARN)
    (version,) = described["ProjectVersionDescriptions"]
    assert version["Status"] == "STOPPED"
    rekognition.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    assert localstack.model.status(VERSION_ARN) == "STARTING"
    assert localstack.model.meter()["starts"] == 1


def test_model_errors_keep_their_code_through_localstack(localstack: LocalStackAws) -> None:
    localstack.model.create(VERSION_ARN, "STOPPED")
    with pytest.raises(ClientError) as raised:
        localstack.client("rekognition").stop_project_version(ProjectVersionArn=VERSION_ARN)
    assert raised.value.response["Error"]["Code"] == "ResourceInUseException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_missing_interpreter_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REKBATCH_LOCALSTACK_PYTHON", str(tmp_path / "python3.13"))
    with pytest.raises(LocalStackError, match=r"python3\.13 is missing: run `make setup`"):
        localstack_python()


# -- tripwires: what LocalStack itself does, without the engine's launcher --------

_PROBE = r"""
import inspect, json
from importlib.metadata import entry_points, version
from localstack.runtime.server import twisted
from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (
    state_task_service, state_task_service_aws_sdk)

register = inspect.getsource(twisted.TwistedRuntimeServer.register)
print(json.dumps({
    "version": version("localstack-core"),
    "twisted_binds_every_interface": "TCP4ServerEndpoint(reactor, host_and_port.port)" in register,
    "eventbridge_integration": "eventbridge"
        in state_task_service.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES,
    "eventbridge_error_name": "eventbridge" in state_task_service_aws_sdk._SERVICE_ERROR_NAMES,
    "rekognition_providers": sorted(
        ep.name for ep in entry_points(group="localstack.aws.provider")
        if ep.name.startswith("rekognition:")),
    "sqs_poller_polls": "poll_events" in vars(SqsPoller),
}))
"""


@pytest.fixture(scope="module")
def localstack_as_shipped() -> dict[str, object]:
    python = localstack_python()
    done = subprocess.run(
        [str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_tripwire_the_pinned_localstack_version(localstack_as_shipped: dict) -> None:
    assert localstack_as_shipped["version"] == "2026.3.0"


def test_tripwire_twisted_ignores_the_gateway_listen_host(localstack_as_shipped: dict) -> None:
    """When this fails LocalStack's default server binds GATEWAY_LISTEN's host:
    emulator/localstack.py may drop GATEWAY_SERVER=hypercorn."""
    assert localstack_as_shipped["twisted_binds_every_interface"] is True


def test_tripwire_no_eventbridge_in_the_aws_sdk_integration(localstack_as_shipped: dict) -> None:
    """When this fails LocalStack knows `aws-sdk:eventbridge`: the launcher's mapping
    (emulator/localstack_plugin/rekbatch_localstack.py) can go."""
    assert localstack_as_shipped["eventbridge_integration"] is False
    assert localstack_as_shipped["eventbridge_error_name"] is False


def test_tripwire_no_rekognition_in_the_community_edition(localstack_as_shipped: dict) -> None:
    """The engine's provider is the only Rekognition; if LocalStack ships one, the
    PROVIDER_OVERRIDE_REKOGNITION setting keeps choosing the model emulator."""
    assert localstack_as_shipped["rekognition_providers"] == []


def test_tripwire_the_sqs_poller_the_launcher_turns_off(localstack_as_shipped: dict) -> None:
    assert localstack_as_shipped["sqs_poller_polls"] is True
