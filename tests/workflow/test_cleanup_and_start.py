"""What AWS may do at the edges of a model's and a mapping's state changes, run
end to end on the emulator: a disable refused while the mapping is busy, a stop
refused while the model is STARTING, a stale describe right after a start."""

from __future__ import annotations

from typing import Any

import pytest
from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import LambdaClientError

from emulator.model import RekognitionError

from .conftest import Pipeline


class _ResourceConflict(LambdaClientError):
    code = 409

    def __init__(self) -> None:
        super().__init__(
            "ResourceConflictException",
            "The operation cannot be performed at this time. The event source mapping "
            "is currently in the Updating state.",
        )


def test_the_model_is_stopped_only_once_the_mapping_is_seen_disabled(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda refuses the disable while the mapping is still Updating (here: more
    times than the disable's own retries). The cleanup disables it again until it
    is Disabled, and only then stops the model: a model stopped under an enabled
    mapping would make every image fail "not ready" and walk to the DLQ."""
    refusals = {"left": 6}  # the disable's first try and its 3 retries, then 2 more
    real_update = lambda_models.LambdaBackend.update_event_source_mapping

    def update(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        if spec.get("Enabled") is False and refusals["left"] > 0:
            refusals["left"] -= 1
            raise _ResourceConflict()
        return real_update(self, uuid, spec)

    monkeypatch.setattr(lambda_models.LambdaBackend, "update_event_source_mapping", update)
    model = pipeline.aws.model
    real_stop = model.stop_project_version
    mapping_at_stop: list[str] = []

    def stop(body: dict[str, Any]) -> dict[str, Any]:
        mapping_at_stop.append(pipeline.mapping_state())
        return real_stop(body)

    monkeypatch.setattr(model, "stop_project_version", stop)
    pipeline.model("STOPPED")
    pipeline.upload(3)

    result = pipeline.run()

    assert result.outcome == "drained", result.cause
    assert refusals["left"] == 0
    assert mapping_at_stop == ["Disabled"]
    assert result.summary["cleanupErrors"] == {}
    assert result.summary["stoppedByThisRun"] is True


def test_a_mapping_that_never_disables_is_reported_and_the_model_still_stopped(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_update = lambda_models.LambdaBackend.update_event_source_mapping

    def update(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        if spec.get("Enabled") is False:
            raise _ResourceConflict()
        return real_update(self, uuid, spec)

    monkeypatch.setattr(lambda_models.LambdaBackend, "update_event_source_mapping", update)
    pipeline.deploy(mapping_wait_seconds=3)
    pipeline.model("STOPPED")
    pipeline.upload(2)

    result = pipeline.run()

    assert result.status == "FAILED" and result.error == "CleanupFailed"
    mapping = result.summary["cleanupErrors"]["mapping"]
    assert mapping["Error"] == "CleanupFailed"
    assert "was not Disabled after 4 tries" in mapping["Cause"]
    # billed while running: the model is stopped anyway
    assert result.summary["stoppedByThisRun"] is True
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"


def test_a_stop_refused_while_starting_waits_for_running_and_stops(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS documents StopProjectVersion for a running model. A STARTING model
    whose stop is refused (whatever the error) goes on to RUNNING, billed: the
    cleanup waits for RUNNING and stops it then. (The run fails while the model
    starts: the first describe after the start is refused.)"""
    pipeline.model("STOPPED", start_delay=5.0)
    model = pipeline.aws.model
    real_start = model.start_project_version
    real_describe = model.describe_project_versions
    real_stop = model.stop_project_version
    started = {"describe_refused": False}
    refused: list[str] = []

    def start(body: dict[str, Any]) -> dict[str, Any]:
        answer = real_start(body)
        started["describe_refused"] = True
        return answer

    def describe(body: dict[str, Any]) -> dict[str, Any]:
        if started["describe_refused"]:
            started["describe_refused"] = False
            raise RekognitionError("AccessDeniedException", "User is not authorized.")
        return real_describe(body)

    def stop(body: dict[str, Any]) -> dict[str, Any]:
        status = model.status(body["ProjectVersionArn"])
        if status == "STARTING":
            refused.append(status)
            raise RekognitionError("ValidationException", "The model is not running.")
        return real_stop(body)

    monkeypatch.setattr(model, "start_project_version", start)
    monkeypatch.setattr(model, "describe_project_versions", describe)
    monkeypatch.setattr(model, "stop_project_version", stop)
    pipeline.upload(2)

    result = pipeline.run()

    assert result.status == "FAILED"
    assert (result.cause or "").startswith("Rekognition.AccessDeniedException: ")
    assert refused == ["STARTING"]  # refused once, then not asked again until RUNNING
    summary = result.summary
    assert summary["stoppedByThisRun"] is True and summary["cleanupErrors"] == {}
    assert pipeline.meter()["stops"] == 1
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"


def test_one_stale_status_right_after_a_start_is_described_again(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeProjectVersions is eventually consistent: right after a start that
    answered STARTING it may still say STOPPED. The run describes once more
    instead of failing (and wasting the start)."""
    model = pipeline.aws.model
    real_start = model.start_project_version
    real_describe = model.describe_project_versions
    stale = {"next": False, "served": 0}

    def start(body: dict[str, Any]) -> dict[str, Any]:
        stale["next"] = True
        return real_start(body)

    def describe(body: dict[str, Any]) -> dict[str, Any]:
        answer = real_describe(body)
        if stale["next"]:
            stale["next"] = False
            stale["served"] += 1
            for description in answer["ProjectVersionDescriptions"]:
                description["Status"] = "STOPPED"
        return answer

    monkeypatch.setattr(model, "start_project_version", start)
    monkeypatch.setattr(model, "describe_project_versions", describe)
    pipeline.model("STOPPED")
    pipeline.upload(3)

    result = pipeline.run()

    assert stale["served"] == 1
    assert result.outcome == "drained", result.cause
    assert pipeline.meter()["starts"] == 1


def test_a_model_stopped_after_it_was_seen_starting_still_fails_the_run(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the first reading after a start is forgiven: a model seen STARTING and
    then STOPPED was stopped by someone."""
    model = pipeline.aws.model
    real_describe = model.describe_project_versions
    seen: list[str] = []

    def describe(body: dict[str, Any]) -> dict[str, Any]:
        answer = real_describe(body)
        for description in answer["ProjectVersionDescriptions"]:
            if "STARTING" in seen:
                description["Status"] = "STOPPED"
            seen.append(description["Status"])
        return answer

    monkeypatch.setattr(model, "describe_project_versions", describe)
    pipeline.model("STOPPED", start_delay=3.0)
    pipeline.upload(2)

    result = pipeline.run()

    assert result.status == "FAILED"
    assert (result.cause or "").startswith("ModelStoppedExternally: ")
