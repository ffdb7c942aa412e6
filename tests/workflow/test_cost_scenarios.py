"""Backlog-aware sizing, the mapping concurrency that follows the plan, and the
adaptive drain polls, run on the emulator through the generated state machine."""

from __future__ import annotations

import json
from typing import Any

from cli.runs import run_plan
from infra import outputs as out
from infra.statemachine import names

from .conftest import VERSION_ARN, Pipeline

# 1 unit takes 30 images per "target run" here: tps 0.5/unit x 60 x 1 minute.
SIZING: dict[str, Any] = {"target_run_minutes": 1, "tps_per_unit": 0.5, "max_planned_units": 3}


def mapping_concurrency(pipeline: Pipeline) -> int:
    esm = pipeline.aws.client("lambda").get_event_source_mapping(
        UUID=pipeline.outputs[out.EVENT_SOURCE_MAPPING_UUID]
    )
    return int(esm["ScalingConfig"]["MaximumConcurrency"])


def units_started(pipeline: Pipeline) -> int:
    (version,) = pipeline.aws.client("rekognition").describe_project_versions(
        ProjectArn=pipeline.outputs[out.PROJECT_ARN],
        VersionNames=[pipeline.outputs[out.VERSION_NAME]],
    )["ProjectVersionDescriptions"]
    return int(version["MinInferenceUnits"])


def test_a_trickle_is_planned_at_the_minimum_units(pipeline: Pipeline) -> None:
    pipeline.deploy(**SIZING, concurrency_by_units=(2, 4, 6))
    pipeline.model("STOPPED")
    pipeline.upload(5)

    result = pipeline.run()

    assert result.outcome == "drained", result.cause
    plan = result.summary["plan"]
    assert (plan["units"], plan["concurrency"]) == (1, 2)
    assert plan["tpsPlanned"] == 0.5 and plan["targetRunMinutes"] == 1
    assert units_started(pipeline) == 1
    assert mapping_concurrency(pipeline) == 2
    pipeline.assert_nothing_lost()


def test_a_flood_is_planned_at_the_bound_and_lambda_follows_the_plan(pipeline: Pipeline) -> None:
    pipeline.deploy(**SIZING, concurrency_by_units=(2, 4, 6))
    pipeline.model("STOPPED")
    pipeline.upload(100)  # ceil(100 / 30) = 4 units, bounded by max_planned_units = 3

    execution = pipeline.start()
    result = pipeline.finish(execution)

    assert result.outcome == "drained", result.cause
    assert result.summary["plan"]["units"] == 3
    # `rekbatch run --follow` reads the plan from the running execution's history
    plan = run_plan(pipeline.aws.client("stepfunctions"), execution)
    assert plan is not None and (plan["units"], plan["concurrency"]) == (3, 6)
    assert plan["backlog"] == 100
    assert units_started(pipeline) == 3
    assert mapping_concurrency(pipeline) == 6
    assert pipeline.assert_nothing_lost()["processed"]


def test_a_backlog_just_over_one_unit_gets_two(pipeline: Pipeline) -> None:
    pipeline.deploy(**SIZING, concurrency_by_units=(2, 4, 6))
    pipeline.model("STOPPED")
    pipeline.upload(31)

    result = pipeline.run()

    assert result.summary["plan"]["units"] == 2
    assert mapping_concurrency(pipeline) == 4


def test_a_model_found_running_is_used_as_it_is(pipeline: Pipeline) -> None:
    pipeline.deploy(**SIZING, concurrency_by_units=(2, 4, 6))
    pipeline.aws.model.create(VERSION_ARN, "RUNNING", inference_units=2)
    pipeline.upload(3)  # a trickle would plan 1 unit; the running model has 2

    result = pipeline.run()

    assert result.outcome == "drained", result.cause
    summary = result.summary
    assert summary["modelUnitsFound"] == 2
    assert summary["plan"]["units"] == 2 and summary["startAttempts"] == 0
    assert pipeline.meter()["starts"] == 0
    assert mapping_concurrency(pipeline) == 4


def test_auto_scaling_keeps_its_maximum_and_starts_at_the_planned_minimum(
    pipeline: Pipeline,
) -> None:
    pipeline.deploy(
        target_run_minutes=1,
        tps_per_unit=0.5,
        min_inference_units=1,
        max_inference_units=4,
        concurrency_by_units=(2, 4, 6, 8),
    )
    pipeline.model("STOPPED")
    pipeline.upload(40)  # ceil(40 / 30) = 2

    result = pipeline.run()

    assert result.outcome == "drained", result.cause
    (version,) = pipeline.aws.client("rekognition").describe_project_versions(
        ProjectArn=pipeline.outputs[out.PROJECT_ARN],
        VersionNames=[pipeline.outputs[out.VERSION_NAME]],
    )["ProjectVersionDescriptions"]
    assert (version["MinInferenceUnits"], version["MaxInferenceUnits"]) == (2, 4)
    assert result.summary["plan"]["units"] == 2


def test_sizing_off_starts_the_minimum_whatever_the_backlog(pipeline: Pipeline) -> None:
    pipeline.deploy(target_run_minutes=0, tps_per_unit=0.5, min_inference_units=1)
    pipeline.model("STOPPED")
    pipeline.upload(40)

    result = pipeline.run()

    assert result.summary["plan"]["units"] == 1
    assert units_started(pipeline) == 1


def chosen_waits(pipeline: Pipeline, execution_arn: str) -> list[tuple[int, int]]:
    """(queue total the run saw, drain wait it then chose), in order, from the history."""
    pages = pipeline.aws.client("stepfunctions").get_paginator("get_execution_history")
    chosen = []
    for page in pages.paginate(executionArn=execution_arn):
        for event in page["events"]:
            details = event.get("stateEnteredEventDetails") or {}
            name = details.get("name", "")
            if name.startswith("CountPoll") and name.endswith("s"):
                seen = json.loads(details["input"])["queue"]["total"]
                chosen.append((seen, int(name.removeprefix("CountPoll").removesuffix("s"))))
    return chosen


def test_drain_polls_are_slow_while_the_backlog_is_large_and_fast_only_near_the_end(
    pipeline: Pipeline,
) -> None:
    # 1 unit at 5 images/s (the emulator's default): 60 images take ~12 s. Waits
    # 8, 4, 2, 1 s; each is chosen only while the rest takes at least twice as long.
    pipeline.deploy(poll_interval_seconds=8, fast_poll_seconds=1, tps_per_unit=5.0)
    pipeline.model("STOPPED", tps_per_unit=5.0)
    pipeline.upload(60)

    execution = pipeline.start()
    result = pipeline.finish(execution)

    assert result.outcome == "drained", result.cause
    chosen = chosen_waits(pipeline, execution)
    assert chosen, "the run never waited between polls"
    waits = [wait for _, wait in chosen]
    assert waits == sorted(waits, reverse=True), chosen  # never slower after faster
    assert waits[0] >= 4, chosen  # a long first wait: 60 images outlast it
    # Each wait is the longest the backlog seen still outlasts twice over at 5/s
    # (the rule, checked on what the run saw: no dependence on the machine's speed).
    for seen, wait in chosen:
        longer = [w for w in (8, 4, 2) if seen > 2 * 5.0 * w]
        assert wait == (longer[0] if longer else 1), (seen, wait, chosen)
    assert pipeline.entered(execution, names.CONFIRM_DRAIN) >= 1
    pipeline.assert_nothing_lost()
