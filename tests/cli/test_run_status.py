"""rekbatch run --follow, status and report --run against the whole emulated pipeline:
the generated state machine in moto, the model emulator, the real handler."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import project_arn_of
from emulator.workflow import lambda_service, provision_stack
from infra import outputs as out

VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/clitest/version/clitest.v1/1700000000000"
)


@pytest.fixture
def pipeline(aws, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """A deployed stack whose outputs the CLI reads from a saved `pulumi stack output --json`."""
    aws.model.configure(start_delay=1.0, stop_delay=0.3)
    aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
    outputs = provision_stack(aws, project_version_arn=VERSION_ARN)
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps(outputs))
    monkeypatch.setenv("REKBATCH_OUTPUTS", str(saved))
    with lambda_service(aws, outputs):
        yield outputs


@pytest.fixture
def images(tmp_path, make_image):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        colour = ((i * 53) % 256, (i * 97) % 256, 200)
        (folder / f"bird {i}.png").write_bytes(make_image("png", colour, (32, 32)))
    return folder


def drop_test_event(aws, outputs) -> None:
    """S3 queues an s3:TestEvent when the notification is configured; a fresh stack
    therefore starts with one message. Remove it where a test needs an empty queue."""
    aws.client("sqs").purge_queue(QueueUrl=outputs[out.QUEUE_URL])


def test_upload_run_follow_status_report(pipeline, images, cli, tmp_path, aws):
    assert cli("upload", images).code == 0

    started = cli("run")
    run = cli("run", "--follow", "--interval", "0.5")  # finds the run in progress and follows it

    assert started.code == 0 and "started run" in started.out
    name = re.search(r"started run (\S+)", started.out).group(1)
    assert run.code == 0, run.err
    assert f"run {name} is already in progress" in run.out
    lines = run.out.splitlines()
    live = [line for line in lines if line.startswith("[")]
    assert live, run.out
    assert any("model STARTING" in line or "model RUNNING" in line for line in live)
    assert "run SUCCEEDED" in live[-1]
    assert re.search(r"done 4 · failed 0", live[-1]), live[-1]
    summary = [line for line in lines if line.startswith(f"run {name}: ")]
    assert summary and "drained" in summary[0]
    assert re.search(r"backlog at start [45] ", summary[0])  # 4 images (+ the s3:TestEvent)
    assert "(this run started the model)" in summary[0]
    assert "\x1b[" not in run.out
    sfn = aws.client("stepfunctions")
    assert (
        len(sfn.list_executions(stateMachineArn=pipeline[out.STATE_MACHINE_ARN])["executions"]) == 1
    )

    status = cli("status", "--json")
    data = json.loads(status.out)
    assert data["model"]["status"] in {"STOPPED", "STOPPING"}
    assert data["queue"] == {"visible": 0, "inFlight": 0, "delayed": 0, "total": 0}
    (row,) = data["runs"]
    assert row["name"] == name and row["status"] == "SUCCEEDED" and row["outcome"] == "drained"
    assert row["backlog"] in (4, 5) and row["left"] == 0
    assert row["modelMinutes"] > 0 and row["estimatedCost"] > 0

    text = cli("status")
    assert text.code == 0
    assert "queue  0 visible · 0 in flight · 0 delayed" in text.out
    assert name in text.out and "drained" in text.out

    report = cli("report", "--run", "latest", "--out", tmp_path / "rep", "--no-html")
    assert report.code == 0, report.err
    assert "4 image(s): 4 processed" in report.out


def test_nothing_to_do_leaves_the_model_alone(pipeline, cli, aws):
    drop_test_event(aws, pipeline)

    result = cli("run", "--follow", "--interval", "0.5")

    assert result.code == 0, result.err
    assert "nothing to do: the queue was empty" in result.out
    assert aws.model.status(VERSION_ARN) == "TRAINING_COMPLETED"


def test_status_counts_each_dead_letter_once(pipeline, cli, aws):
    aws.client("sqs").send_message(QueueUrl=pipeline[out.DLQ_URL], MessageBody="poison")

    data = json.loads(cli("status", "--json").out)
    assert data["dlq"] == {"visible": 1, "inFlight": 0, "delayed": 0, "total": 1}
    assert "DLQ    1 message(s)" in cli("status").out


def test_a_failed_run_exits_non_zero_with_its_cause(pipeline, images, cli, aws):
    aws.model.configure(start_fails=True)
    assert cli("upload", images).code == 0

    result = cli("run", "--follow", "--interval", "0.5")

    assert result.code == 1
    assert re.search(r"error: run \S+ FAILED: \S+", result.err), result.err
    assert ": failed ·" in result.out  # the summary line's outcome

    status = json.loads(cli("status", "--json").out)
    assert status["runs"][0]["status"] == "FAILED"
    assert status["runs"][0]["error"]


@pytest.fixture
def model_flags(aws, stack) -> list[str]:
    """Outputs for status without a deployed workflow (the model exists, nothing else runs)."""
    aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
    sm = "arn:aws:states:us-east-1:123456789012:stateMachine:never-deployed"
    return [
        "--project-arn",
        project_arn_of(VERSION_ARN),
        "--state-machine-arn",
        sm,
    ]


def test_wrong_model_version_is_named(model_flags, cli):
    result = cli("status", *model_flags, "--version-name", "clitest.v9")

    assert result.code == 2
    assert "model version 'clitest.v9'" in result.err and "not found" in result.err


def test_stack_not_deployed(model_flags, cli):
    result = cli("run", *model_flags)

    assert result.code == 2
    assert "state machine" in result.err and "does not exist" in result.err
