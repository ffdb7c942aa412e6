"""What a run does with each model status it may find or cause: a start that
ended FAILED is tried again (bounded), COPYING_COMPLETED is startable, a
missing version fails cleanly, training failures are refused with AWS's words."""

from __future__ import annotations

import pytest

from .conftest import VERSION_ARN, Pipeline, both_engines


def test_a_start_that_fails_once_is_retried_and_the_backlog_drains(pipeline: Pipeline) -> None:
    pipeline.model("STOPPED", start_fails=1)
    pipeline.upload(4)

    result = pipeline.run()

    assert result.outcome == "drained", result.cause
    assert result.summary["startAttempts"] == 2
    assert pipeline.meter()["starts"] == 2
    assert len(pipeline.assert_nothing_lost()["processed"]) == 4
    assert pipeline.model_status() in ("STOPPING", "STOPPED")


def test_a_model_left_failed_by_an_earlier_run_is_started_again(pipeline: Pipeline) -> None:
    pipeline.model("FAILED")
    pipeline.upload(3)

    result = pipeline.run()

    assert result.outcome == "drained", result.cause
    assert result.summary["modelStatusFound"] == "FAILED"
    assert len(pipeline.assert_nothing_lost()["processed"]) == 3


def test_a_copied_model_version_is_startable(pipeline: Pipeline) -> None:
    pipeline.model("COPYING_COMPLETED")
    pipeline.upload(2)

    result = pipeline.run()

    assert result.outcome == "drained", result.cause
    assert pipeline.meter()["starts"] == 1


@pytest.mark.parametrize("status", ["TRAINING_FAILED", "DEPRECATED", "EXPIRED"])
def test_unusable_statuses_fail_with_the_status_and_its_message(
    pipeline: Pipeline, status: str
) -> None:
    pipeline.model(status)
    pipeline.upload(2)

    result = pipeline.run()

    assert result.status == "FAILED"
    assert result.error == "RunFailed" and (result.cause or "").startswith("ModelUnusable: ")
    assert status in result.cause and "StatusMessage" in result.cause
    assert pipeline.meter()["starts"] == 0
    assert result.summary["outcome"] == "failed"
    assert len(pipeline.assert_nothing_lost()["waiting"]) == 2


@both_engines
def test_a_missing_version_fails_after_cleanup_with_a_summary(pipeline: Pipeline) -> None:
    pipeline.aws.model.delete(VERSION_ARN)
    pipeline.upload(2)

    result = pipeline.run()

    assert result.status == "FAILED"
    assert result.error == "RunFailed" and (result.cause or "").startswith("ModelVersionNotFound: ")
    assert result.cause.startswith(f"ModelVersionNotFound: model version not found: {VERSION_ARN}")
    summary = result.summary
    assert summary is not None and summary["outcome"] == "failed"
    assert summary["modelStatusFound"] is None and summary["modelStatusLast"] is None
    assert len(pipeline.assert_ended_cleanly(result)["waiting"]) == 2
