"""Every `rekbatch` subcommand against AWS responses that carry only what the
API models require: optional fields missing must not crash, and a response
that breaks the model (as moto's once did) gives one line and exit 2, never a
traceback.

The responses are built from botocore's own service models: each operation's
output with its required members only (recursively), plus the few values a
scenario needs (a status, an object key), each checked against the model."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from PIL import Image

from cli import aws as cli_aws
from cli.errors import UnexpectedResponse
from cli.main import main
from infra import outputs as out

REGION = "us-east-1"
SM_ARN = f"arn:aws:states:{REGION}:123456789012:stateMachine:sm"
EXECUTION_ARN = f"arn:aws:states:{REGION}:123456789012:execution:sm:run-1"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/q"
WHEN = datetime(2026, 11, 28, 12, tzinfo=UTC)
OUTPUTS = {
    out.SOURCE_BUCKET: "src",
    out.FINAL_BUCKET: "final",
    out.QUEUE_URL: QUEUE_URL,
    out.DLQ_URL: QUEUE_URL + "-dlq",
    out.STATE_MACHINE_ARN: SM_ARN,
    out.PROJECT_ARN: f"arn:aws:rekognition:{REGION}:123456789012:project/p/1",
    out.VERSION_NAME: "v1",
    out.REGION: REGION,
}
_session = botocore.session.get_session()


def minimal(shape: Any) -> Any:
    """A value of ``shape`` holding its required members only."""
    kind = shape.type_name
    if kind == "structure":
        return {name: minimal(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return []
    if kind == "map":
        return {}
    if kind == "string":
        return shape.enum[0] if shape.enum else "x"
    if kind in ("integer", "long"):
        return 0
    if kind in ("float", "double"):
        return 0.0
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return WHEN
    if kind == "blob":
        return b""
    raise AssertionError(f"no minimal value for {kind}")


class FakeClient:
    """A boto3 client whose every operation answers its minimal response,
    updated with ``answers[operation](params)`` where the scenario needs a value."""

    def __init__(self, service: str, answers: dict[str, Callable[..., dict]], check: bool) -> None:
        self.model = _session.get_service_model(service)
        self.answers = answers
        self.check = check
        self.by_method = {
            botocore.xform_name(name): name for name in self.model.operation_names
        }  # fmt: skip

    def __getattr__(self, method: str) -> Callable[..., dict]:
        if method not in self.by_method:
            raise AttributeError(method)
        operation = self.model.operation_model(self.by_method[method])

        def call(**params: Any) -> dict:
            response = minimal(operation.output_shape) if operation.output_shape else {}
            response.update(self.answers.get(method, lambda **_: {})(**params))
            if self.check:  # what AWS may send: the model's shape
                report = ParamValidator().validate(response, operation.output_shape)
                assert not report.has_errors(), report.generate_report()
            return response

        return call

    def get_paginator(self, method: str) -> Any:
        call = getattr(self, method)

        class Paginator:
            def paginate(self, **params: Any) -> list[dict]:
                return [call(**params)]

        return Paginator()

    def upload_file(self, *args: Any, **kwargs: Any) -> None:  # s3transfer, not an API call
        self.put_object()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


def finished_execution(**_: Any) -> dict:
    return {"status": "SUCCEEDED", "executionArn": EXECUTION_ARN}


def one_listed_object(**params: Any) -> dict:
    """A listing with one object carrying nothing but its key (no LastModified, size, ETag)."""
    prefix = params.get("Prefix", "")
    return {"Contents": [{"Key": f"{prefix}a.png.json"}, {"Key": f"{prefix}a.png"}]}


def document(**params: Any) -> dict:
    if params["Key"].endswith(".json"):
        body = json.dumps({"labels": [{"Name": "thing"}]})  # no schema version, confidence...
        return {"Body": io.BytesIO(body.encode())}
    return {}  # no Body at all


MINIMAL_SCENARIO: dict[str, dict[str, Callable[..., dict]]] = {
    "stepfunctions": {"describe_execution": finished_execution},
    "s3": {"list_objects_v2": one_listed_object, "get_object": document},
    "rekognition": {"describe_project_versions": lambda **_: {"ProjectVersionDescriptions": [{}]}},
    "sqs": {},
}


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def install(answers: dict[str, dict[str, Callable[..., dict]]], check: bool = True) -> None:
        clients = {name: FakeClient(name, calls, check) for name, calls in answers.items()}
        monkeypatch.setattr(cli_aws.Aws, "client", lambda self, service: clients[service])

    return install


@pytest.fixture
def outputs_file(tmp_path: Path) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return str(path)


def rekbatch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--plain"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("command", "exit_code"),
    [
        (["status"], 0),
        (["status", "--json"], 0),
        (["run"], 0),
        (["run", "--follow", "--interval", "0.01"], 0),
        (["report"], 0),
        (["report", "--run", "latest"], 2),  # no execution listed: "never run"
        (["report", "--run", "run-1"], 0),
        (["backfill", "--dry-run"], 0),
        (["backfill"], 0),
        (["upload", "IMAGES"], 0),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_every_subcommand_copes_with_only_the_required_fields(
    command, exit_code, fake_aws, outputs_file, tmp_path, capsys
):
    fake_aws(MINIMAL_SCENARIO)
    images = tmp_path / "images"
    images.mkdir()
    (images / "b.png").write_bytes(png())
    command = [str(images) if part == "IMAGES" else part for part in command]
    if command[0] == "report":
        command += ["--out", str(tmp_path / "report")]
    code, stdout, stderr = rekbatch(capsys, *command, "--outputs", outputs_file)
    assert "Traceback" not in stdout + stderr
    assert code == exit_code, stderr
    if code:
        assert len(stderr.strip().splitlines()) == 1, stderr


def test_status_reads_the_model_state_as_unknown_when_it_is_not_said(
    fake_aws, outputs_file, capsys
):
    fake_aws(MINIMAL_SCENARIO)
    code, stdout, _ = rekbatch(capsys, "status", "--json", "--outputs", outputs_file)
    assert code == 0
    data = json.loads(stdout)
    assert data["model"]["status"] is None
    assert data["queue"] == {"visible": 0, "inFlight": 0, "delayed": 0, "total": 0}


def nameless_execution(**_: Any) -> dict:
    """What moto 5.2.5 answered for an execution started without a name."""
    return {
        "executions": [
            {
                "executionArn": EXECUTION_ARN,
                "stateMachineArn": SM_ARN,
                "status": "SUCCEEDED",
                "startDate": WHEN,
            }
        ]
    }


@pytest.mark.parametrize(
    ("service", "method", "answer"),
    [
        ("stepfunctions", "list_executions", nameless_execution),
        ("stepfunctions", "list_executions", lambda **_: {"executions": None}),
        ("sqs", "get_queue_attributes", lambda **_: {"Attributes": {"ApproximateNumberOfMessages": "many"}}),
        ("rekognition", "describe_project_versions", lambda **_: {"ProjectVersionDescriptions": "?"}),
    ],
    ids=["execution without name", "executions null", "count not a number", "descriptions not a list"],
)  # fmt: skip
def test_a_response_outside_the_model_is_one_line_and_exit_2(
    service, method, answer, fake_aws, outputs_file, capsys, monkeypatch
):
    monkeypatch.delenv("REKBATCH_DEBUG")
    scenario = {name: dict(calls) for name, calls in MINIMAL_SCENARIO.items()}
    scenario[service][method] = answer
    fake_aws(scenario, check=False)
    code, stdout, stderr = rekbatch(capsys, "status", "--outputs", outputs_file)
    assert code == 2
    assert "Traceback" not in stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "unexpected response" in lines[0], stderr


def test_status_says_what_it_does_not_know(fake_aws, outputs_file, capsys):
    fake_aws(MINIMAL_SCENARIO)
    code, stdout, _ = rekbatch(capsys, "status", "--outputs", outputs_file)
    assert code == 0
    assert "model  v1: state unknown" in stdout
    assert "runs   none yet" in stdout


def test_rekbatch_debug_shows_where_an_unexpected_response_was_read(
    fake_aws, outputs_file, capsys, monkeypatch
):
    scenario = {name: dict(calls) for name, calls in MINIMAL_SCENARIO.items()}
    scenario["stepfunctions"]["list_executions"] = nameless_execution
    fake_aws(scenario, check=False)
    monkeypatch.setenv("REKBATCH_DEBUG", "1")
    with pytest.raises(UnexpectedResponse, match="ListExecutions.*name") as raised:
        main(["status", "--plain", "--outputs", outputs_file])
    assert isinstance(raised.value.__cause__, KeyError), "the traceback shows where it was read"
