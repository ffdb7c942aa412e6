"""End-to-end scenarios: the generated state machine, run in moto, against the
model emulator and the Lambda poller running the real handler.

Each scenario checks the model calls (the emulator's meter), the mapping
state, the run summary, and that no image is lost. Those marked
``@both_engines`` run in LocalStack's interpreter too (docs/emulator.md).
"""

from __future__ import annotations

import threading
import time

import pytest

from emulator.model import RekognitionError
from infra.statemachine import OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED, names

from .conftest import VERSION_ARN, Pipeline, both_engines

pytestmark = pytest.mark.timeout(300)  # LocalStack runs are slower than moto's


@both_engines
def test_empty_queue_never_starts_the_model(pipeline: Pipeline) -> None:
    pipeline.model("STOPPED")
    result = pipeline.run()

    assert result.status == "SUCCEEDED"
    assert result.outcome == "nothing-to-do"
    summary = result.summary
    assert summary["backlogAtStart"]["total"] == 0
    assert summary["modelStatusFound"] == "STOPPED"
    assert summary["startedByThisRun"] is False and summary["stoppedByThisRun"] is False
    meter = pipeline.meter()
    assert meter["starts"] == 0 and meter["stops"] == 0 and meter["detect_calls"] == 0
    assert meter["running_seconds"] == 0
    assert pipeline.mapping_state() == "Disabled"
    assert summary["timestamps"]["mappingEnabled"] is None


@both_engines
def test_backlog_is_processed_and_everything_is_stopped(pipeline: Pipeline) -> None:
    keys = pipeline.upload(12)
    result = pipeline.run()

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "drained"
    summary = result.summary
    assert summary["backlogAtStart"]["total"] == 12
    assert summary["modelStatusFound"] == "TRAINING_COMPLETED"
    assert summary["startedByThisRun"] is True and summary["stoppedByThisRun"] is True
    assert summary["queueAtEnd"]["total"] == 0 and summary["error"] is None
    meter = pipeline.meter()
    assert meter["starts"] == 1 and meter["stops"] == 1
    assert meter["detect_succeeded"] == 12
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"
    assert pipeline.mapping_state() == "Disabled"
    assert pipeline.queue()["total"] == 0
    assert pipeline.keys("sourceBucket") == set()
    where = pipeline.assert_nothing_lost()
    assert where["processed"] == set(keys)
    times = summary["timestamps"]
    assert times["modelStartRequested"] < times["modelRunning"] < times["mappingEnabled"]
    assert times["mappingEnabled"] < times["drainEnded"] < times["mappingDisabled"]
    assert times["mappingDisabled"] < times["modelStopRequested"]
    pipeline.assert_ended_cleanly(result)


@pytest.mark.parametrize(
    ("ownership", "stopped"), [(OWNERSHIP_SHARED, False), (OWNERSHIP_EXCLUSIVE, True)]
)
def test_a_running_model_is_used_and_stopped_per_ownership(
    pipeline: Pipeline, ownership: str, stopped: bool
) -> None:
    pipeline.deploy(ownership=ownership)
    pipeline.model("RUNNING")
    pipeline.upload(5)
    result = pipeline.run()

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "drained"
    summary = result.summary
    assert summary["modelStatusFound"] == "RUNNING"
    assert summary["startedByThisRun"] is False
    assert summary["stoppedByThisRun"] is stopped
    meter = pipeline.meter()
    assert meter["starts"] == 0
    assert meter["stops"] == (1 if stopped else 0)
    assert meter["detect_succeeded"] == 5
    assert pipeline.model_status() in (("STOPPING", "STOPPED") if stopped else ("RUNNING",))
    assert pipeline.mapping_state() == "Disabled"
    assert len(pipeline.assert_nothing_lost()["processed"]) == 5


def test_exclusive_ownership_stops_an_idle_running_model(pipeline: Pipeline) -> None:
    pipeline.model("RUNNING")
    result = pipeline.run()

    assert result.status == "SUCCEEDED"
    assert result.outcome == "nothing-to-do"
    assert result.summary["stoppedByThisRun"] is True
    assert pipeline.meter()["stops"] == 1
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"


def test_shared_ownership_leaves_an_idle_running_model_alone(pipeline: Pipeline) -> None:
    pipeline.deploy(ownership=OWNERSHIP_SHARED)
    pipeline.model("RUNNING")
    result = pipeline.run()

    assert result.outcome == "nothing-to-do"
    assert pipeline.meter()["stops"] == 0
    assert pipeline.model_status() == "RUNNING"


@both_engines
def test_a_start_that_keeps_ending_failed_is_tried_twice_then_fails_keeping_the_queue(
    pipeline: Pipeline,
) -> None:
    pipeline.model("STOPPED", start_fails=True)
    pipeline.upload(4)
    result = pipeline.run()

    assert result.status == "FAILED"
    assert result.error == "RunFailed" and (result.cause or "").startswith("ModelStartFailed: ")
    assert VERSION_ARN in result.cause and "failed to start (injected)" in result.cause
    summary = result.summary
    assert summary["outcome"] == "failed"
    assert summary["error"]["Error"] == "ModelStartFailed"
    assert summary["startedByThisRun"] is True and summary["startAttempts"] == 2
    meter = pipeline.meter()
    assert meter["starts"] == 2 and meter["detect_calls"] == 0
    assert pipeline.mapping_state() == "Disabled"
    assert summary["timestamps"]["mappingEnabled"] is None
    where = pipeline.assert_ended_cleanly(result)
    assert len(where["waiting"]) == 4 and pipeline.queue()["total"] == 4


def test_a_start_past_its_deadline_is_stopped_and_fails(pipeline: Pipeline) -> None:
    pipeline.deploy(model_start_timeout_seconds=2)
    pipeline.model("STOPPED", start_delay=30.0)
    pipeline.upload(3)
    result = pipeline.run()

    assert result.status == "FAILED"
    assert result.error == "RunFailed" and (result.cause or "").startswith("ModelStartTimeout: ")
    assert "STARTING" in result.cause
    summary = result.summary
    assert summary["stoppedByThisRun"] is True  # the start in progress was stopped
    meter = pipeline.meter()
    assert meter["starts"] == 1 and meter["stops"] == 1
    assert meter["running_seconds"] == 0  # never billed: stopped before it was up
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"
    assert pipeline.mapping_state() == "Disabled"
    assert len(pipeline.assert_nothing_lost()["waiting"]) == 3


def test_a_failing_sdk_task_mid_run_still_cleans_up(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeProjectVersions starts failing (AccessDenied) while the run drains:
    the CheckModel task fails, the cleanup disables the mapping and, unable to
    look at the model, stops it anyway; the run fails with the AWS error."""
    pipeline.deploy(model_check_seconds=1)
    pipeline.model("STOPPED", tps_per_unit=0.5)
    pipeline.upload(10)
    model = pipeline.aws.model
    real_describe = model.describe_project_versions

    def describe(body: dict) -> dict:
        if pipeline.mapping_state() == "Enabled":
            raise RekognitionError("AccessDeniedException", "User is not authorized.")
        return real_describe(body)

    monkeypatch.setattr(model, "describe_project_versions", describe)
    result = pipeline.run()

    assert result.status == "FAILED"
    assert result.error == "RunFailed" and (result.cause or "").startswith(
        "Rekognition.AccessDeniedException: "
    )
    summary = result.summary
    assert summary["error"]["Error"] == "Rekognition.AccessDeniedException"
    assert summary["startedByThisRun"] is True and summary["stoppedByThisRun"] is True
    assert summary["cleanupErrors"] == {}
    meter = pipeline.meter()
    assert meter["starts"] == 1 and meter["stops"] == 1
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"
    assert pipeline.mapping_state() == "Disabled"
    where = pipeline.assert_nothing_lost()
    assert where["waiting"], "the rest stays queued for the next run"


@both_engines
def test_a_model_stopped_by_someone_else_ends_the_run_with_the_mapping_disabled(
    pipeline: Pipeline,
) -> None:
    # A slow model (0.5 images/s) so the run is still draining when someone stops it.
    pipeline.model("STOPPED", tps_per_unit=0.5)
    pipeline.upload(20)
    rekognition = pipeline.aws.client("rekognition")

    def stop_when_running() -> None:
        deadline = time.monotonic() + 20
        while pipeline.mapping_state() != "Enabled" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        rekognition.stop_project_version(ProjectVersionArn=VERSION_ARN)

    intruder = threading.Thread(target=stop_when_running, daemon=True)
    intruder.start()
    result = pipeline.run()
    intruder.join()

    assert result.status == "FAILED"
    assert result.error == "RunFailed" and (result.cause or "").startswith(
        "ModelStoppedExternally: "
    )
    assert "someone else stopped it" in result.cause
    summary = result.summary
    assert summary["startedByThisRun"] is True
    assert summary["stoppedByThisRun"] is False  # nothing left to stop
    assert summary["queueAtEnd"]["total"] > 0
    assert pipeline.meter()["stops"] == 1  # only the intruder's
    where = pipeline.assert_ended_cleanly(result)
    assert where["waiting"], "the rest stays queued for the next run"


def test_messages_in_flight_keep_the_run_draining(pipeline: Pipeline) -> None:
    """A message someone holds invisible is not 'drained': the run waits for it."""
    (key,) = pipeline.upload(1)
    sqs = pipeline.aws.client("sqs")
    queue_url = pipeline.outputs["queueUrl"]
    # Held far longer than the test runs: it comes back only when the test releases
    # it, after the run has polled the queue while it was in flight (no timing race).
    held = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=600)[
        "Messages"
    ]
    assert len(held) == 1
    assert pipeline.queue() == {"visible": 0, "inFlight": 1, "delayed": 0, "total": 1}
    execution = pipeline.start()
    deadline = time.monotonic() + 30
    while pipeline.entered(execution, names.count_poll(1)) < 2:
        assert time.monotonic() < deadline, "the run never polled the held message"
        time.sleep(0.1)
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=held[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    result = pipeline.finish(execution)

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "drained"
    summary = result.summary
    assert summary["backlogAtStart"]["inFlight"] == 1
    # Had the run counted the in-flight message as drained, it would have disabled
    # the mapping before the message came back, and the image would be unprocessed.
    assert summary["polls"] >= 3  # two busy polls while held (waited for), the confirmation
    assert pipeline.assert_nothing_lost()["processed"] == {key}
    assert pipeline.meter()["stops"] == 1


def test_max_run_reached_leaves_the_rest_queued(pipeline: Pipeline) -> None:
    pipeline.deploy(max_run_seconds=2)
    pipeline.model("STOPPED", tps_per_unit=1.0)
    pipeline.upload(25)
    result = pipeline.run()

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "max-run-reached"
    summary = result.summary
    assert summary["polls"] == 2
    assert summary["stoppedByThisRun"] is True
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"
    assert pipeline.mapping_state() == "Disabled"
    where = pipeline.assert_nothing_lost()
    assert where["processed"] and where["waiting"]
    assert pipeline.queue()["total"] + pipeline.dlq()["total"] >= len(where["waiting"])


@both_engines
def test_three_executions_at_once_run_the_model_once(pipeline: Pipeline) -> None:
    pipeline.deploy(guard_settle_seconds=1)  # as deployed, with the guard's settle wait
    pipeline.upload(6)
    started = [pipeline.start(f"run-{letter}") for letter in "abc"]
    results = [pipeline.finish(execution, timeout=180) for execution in started]

    outcomes = sorted(r.outcome or "" for r in results)
    assert outcomes == ["drained", "skipped", "skipped"]
    assert all(r.status == "SUCCEEDED" for r in results)
    for skipped in (r for r in results if r.outcome == "skipped"):
        assert skipped.summary is not None
        assert skipped.summary["backlogAtStart"]["total"] is None  # it never looked
    meter = pipeline.meter()
    assert meter["starts"] == 1 and meter["stops"] == 1
    assert meter["detect_succeeded"] == 6
    for result in results:
        assert len(pipeline.assert_ended_cleanly(result)["processed"]) == 6
    for execution in started:
        assert pipeline.entered(execution, names.SETTLE_BEFORE_GUARD) == 1


@both_engines
def test_a_throttled_describe_is_retried_and_the_run_drains(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeProjectVersions answers ThrottlingException twice in a row while the
    model starts: the task's Retry absorbs it, the run drains as usual."""
    pipeline.model("STOPPED")
    pipeline.upload(3)
    model = pipeline.aws.model
    real_describe = model.describe_project_versions
    throttled: list[float] = []

    def describe(body: dict) -> dict:
        if model.meter()["starts"] and len(throttled) < 2:
            throttled.append(time.monotonic())
            raise RekognitionError("ThrottlingException", "Rate exceeded.")
        return real_describe(body)

    monkeypatch.setattr(model, "describe_project_versions", describe)
    result = pipeline.run()

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "drained"
    assert len(throttled) == 2
    assert pipeline.meter()["detect_succeeded"] == 3
    assert len(pipeline.assert_ended_cleanly(result)["processed"]) == 3
