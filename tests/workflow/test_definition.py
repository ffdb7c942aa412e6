"""The state machine definition as data: what AWS accepts and what the design
promises (cleanup on every path, waits from params, no double runs)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.contract import BACKLOG_ATTRIBUTES, backlog_counts
from infra.statemachine import (
    OWNERSHIP_EXCLUSIVE,
    OWNERSHIP_SHARED,
    WorkflowParams,
    build_definition,
    names,
)

ROOT = Path(__file__).resolve().parents[2]
ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"

PROJECT = "arn:aws:rekognition:eu-west-1:111122223333:project/parts/1700000000000"
VERSION = "arn:aws:rekognition:eu-west-1:111122223333:project/parts/version/parts.v2/1700000000123"


def params(**changes: Any) -> WorkflowParams:
    base = WorkflowParams(
        queue_url="https://sqs.eu-west-1.amazonaws.com/111122223333/rekbatch-images",
        project_arn=PROJECT,
        project_version_arn=VERSION,
        version_name="parts.v2",
        event_source_mapping_uuid="0b6f4b1e-2f0a-4c64-9d6a-4b1f9f0f1a2b",
        final_bucket="rekbatch-final-abc123",
    )
    return dataclasses.replace(base, **changes)


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return definition["States"]


def successors(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", ()):
        yield choice["Next"]
    for catch in state.get("Catch", ()):
        yield catch["Next"]


def reachable(
    sm: dict[str, dict[str, Any]], start: str, without: set[str] = frozenset()
) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name in without:
            continue
        seen.add(name)
        todo.extend(successors(sm[name]))
    return seen


def predecessors(sm: dict[str, dict[str, Any]], target: str) -> set[str]:
    return {name for name, state in sm.items() if target in set(successors(state))}


def tasks(sm: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in sm.items() if s["Type"] == "Task"}


def api_of(state: dict[str, Any]) -> str:
    return state["Resource"].removeprefix("arn:aws:states:::aws-sdk:")


ALL_VARIANTS = [
    params(),
    params(ownership=OWNERSHIP_SHARED),
    params(max_inference_units=4, min_inference_units=2),
]


# ------------------------------------------------------------------ AWS acceptance


def validator() -> str:
    """The npm asl-validator that `make setup` (scripts/bootstrap.sh) installs."""
    assert ASL_VALIDATOR.exists(), f"{ASL_VALIDATOR} missing: run `make setup` (needs npm)"
    return str(ASL_VALIDATOR)


def test_asl_validator_accepts_the_generated_definitions(tmp_path: Path) -> None:
    """Every variant (exclusive, shared, auto-scaling), in one validator run."""
    command = [validator()]
    for number, variant in enumerate(ALL_VARIANTS):
        path = tmp_path / f"definition-{number}.json"
        path.write_text(json.dumps(build_definition(variant)))
        command += ["--json-path", str(path)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("is valid") == len(ALL_VARIANTS), run.stdout


def test_asl_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    """Guards the test above: the validator really checks what it is given."""
    definition = build_definition(params())
    definition["States"][names.INIT]["Next"] = "NoSuchState"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(definition))
    run = subprocess.run([validator(), "--json-path", str(path)], capture_output=True, timeout=60)
    assert run.returncode != 0


def test_only_aws_sdk_integrations_are_used() -> None:
    sm = states(build_definition(params()))
    apis = {api_of(s) for s in tasks(sm).values()}
    assert all(s["Resource"].startswith("arn:aws:states:::aws-sdk:") for s in tasks(sm).values())
    assert apis == {
        "sfn:listExecutions",
        "sqs:getQueueAttributes",
        "sqs:receiveMessage",
        "sqs:deleteMessage",
        "rekognition:describeProjectVersions",
        "rekognition:startProjectVersion",
        "rekognition:stopProjectVersion",
        "lambda:updateEventSourceMapping",
        "lambda:getEventSourceMapping",
        "s3:putObject",
    }


def test_jsonpath_standard_shape() -> None:
    definition = build_definition(params())
    assert "QueryLanguage" not in definition  # JSONPath is the default; JSONata fails in moto
    text = json.dumps(definition)
    assert "{%" not in text and "Arguments" not in text
    assert "[0]" not in text, "use States.ArrayGetItem (JSONPath [0] yields a list in moto)"
    json.loads(text)


def test_parameters_are_spelled_as_step_functions_spells_them() -> None:
    p = params()
    sm = states(build_definition(p))
    by_api: dict[str, list[dict[str, Any]]] = {}
    for s in tasks(sm).values():
        by_api.setdefault(api_of(s), []).append(s["Parameters"])
    for mapping in by_api["lambda:updateEventSourceMapping"]:
        assert mapping["Uuid"] == p.event_source_mapping_uuid
        if mapping["Enabled"]:  # enabled at the plan's concurrency
            assert mapping["ScalingConfig"] == {"MaximumConcurrency.$": "$.plan.concurrency"}
        else:
            assert set(mapping) == {"Uuid", "Enabled"}
    assert sorted(m["Enabled"] for m in by_api["lambda:updateEventSourceMapping"]) == [False, True]
    for queue in by_api["sqs:getQueueAttributes"]:
        assert queue == {
            "QueueUrl": p.queue_url,
            "AttributeNames": [
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        }
    (guard,) = by_api["sfn:listExecutions"]
    assert guard == {
        "StateMachineArn.$": "$$.StateMachine.Id",
        "StatusFilter": "RUNNING",
        "MaxResults": 100,
    }
    (start,) = by_api["rekognition:startProjectVersion"]
    assert start == {"ProjectVersionArn": VERSION, "MinInferenceUnits.$": "$.plan.units"}
    for describe in by_api["rekognition:describeProjectVersions"]:
        assert describe == {"ProjectArn": PROJECT, "VersionNames": ["parts.v2"]}
    (put,) = by_api["s3:putObject"]
    assert put["Bucket"] == p.final_bucket and put["ContentType"] == "application/json"
    # the object itself: AWS stores it as compact JSON (a string would be stored quoted)
    assert "$$.Execution.Name" in put["Key.$"] and put["Body.$"] == "$.summary"


def test_max_inference_units_is_sent_only_when_configured() -> None:
    sm = states(build_definition(params(min_inference_units=2, max_inference_units=5)))
    assert sm[names.START_MODEL]["Parameters"] == {
        "ProjectVersionArn": VERSION,
        "MinInferenceUnits.$": "$.plan.units",
        "MaxInferenceUnits": 5,
    }
    without = states(build_definition(params(min_inference_units=2)))
    assert "MaxInferenceUnits" not in without[names.START_MODEL]["Parameters"]


_ERROR = re.compile(r"^(States\.[A-Za-z]+|[A-Za-z0-9]+\.[A-Za-z0-9]+Exception)$")


def test_error_names_are_spelled_as_aws_reports_them() -> None:
    """ServiceName.ErrorNameException, the service's own prefix in each spelling in
    use (the SDK's, LocalStack's): a Retry never waits on another service's error."""
    from infra.statemachine.errors import SERVICE_ERROR_PREFIXES

    for s in tasks(states(build_definition(params()))).values():
        spellings = SERVICE_ERROR_PREFIXES[api_of(s).split(":")[0]]
        for rule in s.get("Retry", []) + s.get("Catch", []):
            for name in rule["ErrorEquals"]:
                assert _ERROR.match(name), name
                if not name.startswith("States."):
                    assert name.split(".")[0] in spellings, (api_of(s), name)
    sm = states(build_definition(params()))
    (retry,) = sm[names.POLL_QUEUE]["Retry"]
    assert set(retry["ErrorEquals"]) == {
        "Sqs.RequestThrottledException",
        "SQS.RequestThrottledException",
        "Sqs.SqsException",
        "SQS.SQSException",
    }


def test_throttling_and_conflicts_are_retried_with_backoff() -> None:
    sm = states(build_definition(params()))

    def retried(name: str) -> set[str]:
        return {e for r in sm[name]["Retry"] for e in r["ErrorEquals"] if r["BackoffRate"] > 1}

    assert "Rekognition.ThrottlingException" in retried(names.START_MODEL)
    assert "Rekognition.ResourceInUseException" in retried(names.START_MODEL)
    assert "Rekognition.LimitExceededException" in retried(names.START_MODEL)
    assert "Rekognition.ThrottlingException" in retried(names.STOP_MODEL)
    for name in (names.ENABLE_MAPPING, names.DISABLE_MAPPING):
        assert {"Lambda.ResourceConflictException", "Lambda.TooManyRequestsException"} <= retried(
            name
        )
    assert "Sqs.RequestThrottledException" in retried(names.POLL_QUEUE)


def test_every_task_result_is_selected() -> None:
    """SDK responses carry datetimes and metadata: never let them into the state."""
    sm = states(build_definition(params()))
    for name, s in tasks(sm).items():
        if name == names.PEEK_QUEUE:  # "Messages" is absent when nothing was received
            assert s["ResultPath"].startswith("$.peekWork."), name
            continue
        if name == names.DELETE_TEST_EVENT:  # an empty response: discarded
            assert s["ResultPath"] is None
            continue
        assert s.get("ResultSelector"), name
        assert s["ResultPath"].startswith("$."), name
    # The peek's scratch space (bodies, receipt handles) is emptied before the run goes on.
    assert sm[names.PEEK_CLEARED] == {
        **sm[names.PEEK_CLEARED],
        "Result": {},
        "ResultPath": "$.peekWork",
    }
    after_peek = reachable(sm, names.HAS_BACKLOG)
    assert not any(n.startswith("Peek") for n in after_peek)


# ------------------------------------------------------------------ the guarantees


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=["exclusive", "shared", "autoscale"])
def test_every_task_after_the_guard_catches_everything(variant: WorkflowParams) -> None:
    sm = states(build_definition(variant))
    for name, s in tasks(sm).items():
        if name == names.GUARD:  # nothing is touched yet, and another run may own the model
            assert "Catch" not in s
            continue
        catches = [c for c in s.get("Catch", []) if c["ErrorEquals"] == ["States.ALL"]]
        assert len(catches) == 1, f"{name} must catch States.ALL"
        assert s["Catch"][-1]["ErrorEquals"] == ["States.ALL"], f"{name}: States.ALL must be last"


@pytest.mark.parametrize("variant", ALL_VARIANTS, ids=["exclusive", "shared", "autoscale"])
def test_no_path_after_touching_the_model_or_mapping_skips_the_cleanup(
    variant: WorkflowParams,
) -> None:
    """Remove the cleanup entry: from any state that started the model or enabled
    the mapping, no terminal state may then be reachable."""
    sm = states(build_definition(variant))
    for touching in (
        names.START_MODEL,
        names.MARK_STARTED,
        names.ENABLE_MAPPING,
        names.POLL_QUEUE,
        names.CHECK_MODEL,
    ):
        region = reachable(sm, touching, without={names.DISABLE_MAPPING})
        terminals = {n for n in region if sm[n]["Type"] in ("Succeed", "Fail")}
        assert not terminals, f"{touching} can end in {terminals} without the cleanup"
    # ... and the cleanup itself reaches the model stop and the summary.
    after = reachable(sm, names.DISABLE_MAPPING)
    assert {names.STOP_MODEL, names.WRITE_SUMMARY, names.RUN_FAILED, names.DONE} <= after


def test_errors_before_the_cleanup_all_lead_into_it() -> None:
    sm = states(build_definition(params()))
    cleanup_region = reachable(sm, names.DISABLE_MAPPING)
    for name, s in tasks(sm).items():
        if name == names.GUARD or name in cleanup_region:
            continue
        if name in (names.PEEK_QUEUE, names.DELETE_TEST_EVENT):
            # Before the model is touched; the peek is an optimisation: on error the run
            # goes on as without it (the message stays counted), it does not fail.
            assert s["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
            assert names.START_MODEL in reachable(sm, s["Catch"][-1]["Next"])
            continue
        assert s["Catch"][-1] == {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.error",
            "Next": names.MARK_FAILED,
        }
    assert sm[names.MARK_FAILED]["Next"] == names.DISABLE_MAPPING


def test_cleanup_errors_do_not_stop_the_cleanup() -> None:
    sm = states(build_definition(params()))
    # A failing mapping disable still goes on to stop the model.
    disable_catch = sm[names.DISABLE_MAPPING]["Catch"][-1]
    assert names.STOP_MODEL in reachable(sm, disable_catch["Next"])
    # A failing stop is recorded and makes the execution fail (someone must look).
    assert names.CLEANUP_FAILED in reachable(sm, sm[names.STOP_MODEL]["Catch"][-1]["Next"])


def test_ownership_decides_the_stop() -> None:
    exclusive = states(build_definition(params(ownership=OWNERSHIP_EXCLUSIVE)))
    shared = states(build_definition(params(ownership=OWNERSHIP_SHARED)))
    # exclusive: always stopped, straight from the disable (no state to decide)
    assert names.DID_THIS_RUN_START_MODEL not in exclusive
    assert exclusive[names.WAS_MAX_RUN_REACHED]["Default"] == names.CLEANUP_DESCRIBE_MODEL
    assert exclusive[names.GRACE_FOR_IN_FLIGHT]["Next"] == names.CLEANUP_DESCRIBE_MODEL
    assert shared[names.DID_THIS_RUN_START_MODEL]["Type"] == "Choice"
    (rule,) = shared[names.DID_THIS_RUN_START_MODEL]["Choices"]
    assert rule == {
        "Variable": "$.started.byThisRun",
        "BooleanEquals": True,
        "Next": names.CLEANUP_DESCRIBE_MODEL,
    }
    assert shared[names.DID_THIS_RUN_START_MODEL]["Default"] == names.LAST_MODEL_STATUS_KNOWN
    # the idle-model safety net exists only with exclusive ownership
    assert names.STOP_IDLE_MODEL in exclusive and names.STOP_IDLE_MODEL not in shared


def test_only_the_oldest_running_execution_proceeds() -> None:
    sm = states(build_definition(params()))
    assert predecessors(sm, names.GUARD) == {names.SETTLE_BEFORE_GUARD}
    assert "$$.Execution.Id" in json.dumps(sm[names.INIT]["Parameters"])
    assert sm[names.IS_OLDEST]["Choices"][0]["StringEqualsPath"] == "$.self.executionArn"
    assert sm[names.IS_OLDEST]["Default"] == names.SKIPPED
    # a skipped run touches nothing on its way out
    touched = {api_of(sm[n]) for n in reachable(sm, names.SKIPPED) if sm[n]["Type"] == "Task"}
    assert touched == {"s3:putObject"}


def test_an_empty_backlog_never_starts_the_model() -> None:
    sm = states(build_definition(params()))
    (empty_choice,) = [c for c in sm[names.HAS_BACKLOG]["Choices"] if c.get("NumericEquals") == 0]
    assert empty_choice["Variable"] == "$.backlog.total"
    # ... and a backlog of dropped test events only is the same nothing-to-do.
    (only_tests,) = sm[names.IS_ONLY_TEST_EVENTS]["Choices"]
    assert only_tests["Next"] == empty_choice["Next"]
    for empty in (empty_choice["Next"], only_tests["Next"]):
        assert names.START_MODEL not in reachable(sm, empty)
        assert names.ENABLE_MAPPING not in reachable(sm, empty)


def test_the_test_event_peek_is_small_once_and_deletes_only_test_events() -> None:
    sm = states(build_definition(params()))
    worth = sm[names.PEEK_WORTH_IT]["Choices"][0]["And"]
    assert {"Variable": "$.backlog.visible", "NumericLessThanEquals": 10} in worth
    assert {"Variable": "$.backlog.inFlight", "NumericEquals": 0} in worth
    assert {"Variable": "$.backlog.delayed", "NumericEquals": 0} in worth
    # only with a model this run could use: a TRAINING_FAILED one ends the run anyway,
    # and a receive would only bring the images closer to the DLQ
    (usable,) = [c["Or"] for c in worth if "Or" in c]
    assert {c["Variable"] for c in usable} == {"$.model.current.version.Status"}
    assert {c["StringEquals"] for c in usable} == {
        "RUNNING",
        "STOPPED",
        "TRAINING_COMPLETED",
        "COPYING_COMPLETED",
        "FAILED",
        "STARTING",
        "STOPPING",
    }
    assert predecessors(sm, names.PEEK_WORTH_IT) == {names.RECORD_MODEL_FOUND}
    assert predecessors(sm, names.RECORD_MODEL_FOUND) == {names.MODEL_VERSION_FOUND}
    assert predecessors(sm, names.MODEL_VERSION_FOUND) == {
        "DescribeModelFoundHasVersion",
        "DescribeModelFoundReadVersion",
    }
    peek = sm[names.PEEK_QUEUE]["Parameters"]
    assert (peek["MaxNumberOfMessages"], peek["VisibilityTimeout"], peek["WaitTimeSeconds"]) == (
        10,
        30,
        0,
    )
    # at most one receive per run: nothing after the peek leads back to it
    assert names.PEEK_QUEUE not in reachable(sm, names.PEEK_RECEIVED_ANY)
    assert names.PEEK_QUEUE not in reachable(sm, names.HAS_BACKLOG)
    # a delete only after the body looked like, parsed as, and is a test event
    assert predecessors(sm, names.DELETE_TEST_EVENT) == {names.PEEK_IS_TEST_EVENT}
    assert predecessors(sm, names.PEEK_IS_TEST_EVENT) == {names.PEEK_EVENT_IS_STRING}
    assert predecessors(sm, names.PEEK_EVENT_IS_STRING) == {names.PEEK_HAS_EVENT}
    assert predecessors(sm, names.PEEK_HAS_EVENT) == {names.PEEK_PARSE}
    assert predecessors(sm, names.PEEK_PARSE) == {names.PEEK_LOOKS_LIKE_TEST_EVENT}
    gate = sm[names.PEEK_LOOKS_LIKE_TEST_EVENT]["Choices"][0]
    assert gate["StringMatches"] == '{*"Event":*"s3:TestEvent"*}'
    assert sm[names.PEEK_IS_TEST_EVENT]["Choices"] == [
        {
            "Variable": "$.peekWork.parsed.message.Event",
            "StringEquals": "s3:TestEvent",
            "Next": names.DELETE_TEST_EVENT,
        }
    ]
    assert (
        sm[names.DELETE_TEST_EVENT]["Parameters"]["ReceiptHandle.$"]
        == "$.peekWork.item.message.ReceiptHandle"
    )


def test_the_guard_lists_executions_after_a_settle_wait() -> None:
    """ListExecutions is eventually consistent: each run waits before listing, so two
    runs started moments apart see each other and only the older proceeds."""
    sm = states(build_definition(params()))
    assert sm[names.INIT]["Next"] == names.SETTLE_BEFORE_GUARD
    assert sm[names.SETTLE_BEFORE_GUARD] == {
        **sm[names.SETTLE_BEFORE_GUARD],
        "Type": "Wait",
        "Seconds": 10,
    }
    assert sm[names.SETTLE_BEFORE_GUARD]["Next"] == names.GUARD
    off = states(build_definition(params(guard_settle_seconds=0)))
    assert names.SETTLE_BEFORE_GUARD not in off and off[names.INIT]["Next"] == names.GUARD
    with pytest.raises(ValueError, match="guard_settle_seconds"):
        build_definition(params(guard_settle_seconds=-1))


def test_the_peek_can_be_turned_off() -> None:
    sm = states(build_definition(params(test_event_peek_max=0)))
    assert not {n for n in sm if n.startswith("Peek")}
    assert "sqs:receiveMessage" not in {api_of(s) for s in tasks(sm).values()}
    assert sm[names.GET_BACKLOG]["Next"] == names.DESCRIBE_MODEL_FOUND
    assert sm[names.RECORD_MODEL_FOUND]["Next"] == names.HAS_BACKLOG


def test_drained_means_two_empty_polls_of_all_three_counts() -> None:
    sm = states(build_definition(params()))
    for poll in (names.POLL_QUEUE, names.CONFIRM_DRAIN):
        total = sm[poll]["ResultSelector"]["total.$"]
        for attr in ("ApproximateNumberOfMessages)", "NotVisible)", "Delayed)"):
            assert attr in total
    # after the run deadline and the poll budget (no queue can keep a run past them)
    empty = sm[names.DRAIN_DECISION]["Choices"][2]
    assert empty == {
        "Variable": "$.queue.total",
        "NumericEquals": 0,
        "Next": names.COUNT_CONFIRMATION,
    }
    # the confirmation's wait counts toward the run deadline and the poll budget
    confirmation = sm[names.COUNT_CONFIRMATION]["Parameters"]
    assert confirmation["elapsed.$"] == "States.MathAdd($.drain.elapsed, 5)"
    assert confirmation["polls.$"] == "States.MathAdd($.drain.polls, 1)"
    assert sm[names.COUNT_CONFIRMATION]["Next"] == names.WAIT_TO_CONFIRM_DRAIN
    assert sm[names.WAIT_TO_CONFIRM_DRAIN]["Next"] == names.CONFIRM_DRAIN
    assert sm[names.CONFIRM_DRAIN]["Next"] == names.IS_STILL_EMPTY
    assert sm[names.IS_STILL_EMPTY]["Choices"] == [
        {"Variable": "$.queue.total", "NumericEquals": 0, "Next": names.DRAINED}
    ]
    assert predecessors(sm, names.DRAINED) == {names.IS_STILL_EMPTY}


def test_an_empty_poll_is_confirmed_within_seconds_not_half_an_interval() -> None:
    """The model idles, billed, from the drain until the confirming poll."""
    sm = states(build_definition(params(poll_interval_seconds=60)))
    assert sm[names.WAIT_TO_CONFIRM_DRAIN]["Seconds"] == 5
    assert (
        states(build_definition(params(drain_confirm_seconds=9)))[names.WAIT_TO_CONFIRM_DRAIN][
            "Seconds"
        ]
        == 9
    )
    one_second = states(build_definition(params(poll_interval_seconds=1, fast_poll_seconds=1)))
    assert one_second[names.WAIT_TO_CONFIRM_DRAIN]["Seconds"] == 1, "a Wait is whole seconds, >= 1"


def test_drain_waits_shrink_with_the_backlog_left_at_the_planned_throughput() -> None:
    p = params(poll_interval_seconds=60, fast_poll_seconds=2, tps_per_unit=5.0)
    sm = states(build_definition(p))
    rules = sm[names.DRAIN_DECISION]["Choices"]
    by_backlog = [r for r in rules if r.get("Variable") == "$.queue.total" and "Path" in str(r)]
    assert [r["Next"] for r in by_backlog] == [
        "CountPoll60s",
        "CountPoll30s",
        "CountPoll15s",
        "CountPoll7s",
        "CountPoll3s",
    ]
    assert sm[names.DRAIN_DECISION]["Default"] == "CountPoll2s"
    plan = sm["PlanUnits1"]["Result"]
    # wait w only while the rest takes >= 2 w at the planned 5 images/s
    assert plan["drainAbove"] == {"w60": 600, "w30": 300, "w15": 150, "w7": 70, "w3": 30}
    for wait in (60, 30, 15, 7, 3, 2):
        count = sm[names.count_poll(wait)]
        assert count["Parameters"]["wait"] == wait
        assert count["Parameters"]["elapsed.$"] == f"States.MathAdd($.drain.elapsed, {wait})"
        assert count["Next"] == names.WAIT_FOR_QUEUE
    assert sm[names.WAIT_FOR_QUEUE] == {
        "Type": "Wait",
        "SecondsPath": "$.drain.wait",
        "Next": names.POLL_QUEUE,
    }


def test_the_describe_cadence_while_starting_follows_the_ladder_to_the_deadline() -> None:
    p = params(model_start_timeout_seconds=45 * 60, model_poll_seconds=15)
    sm = states(build_definition(p))
    rules = sm[names.ACT_ON_MODEL_STATUS]["Choices"]
    transitional = {
        "Or": [
            {"Variable": "$.model.current.version.Status", "StringEquals": "STARTING"},
            {"Variable": "$.model.current.version.Status", "StringEquals": "STOPPING"},
        ]
    }
    # 30 s at 3 s (10 describes), to 120 s at 6 s (+15), then 15 s to the deadline (+172)
    deadline, *ladder = [r for r in rules if transitional in r.get("And", [])]
    (last,) = [r for r in rules if r.get("Or") == transitional["Or"]]
    assert deadline == {
        "And": [
            transitional,
            {"Variable": "$.modelWait.polls", "NumericGreaterThanEquals": 10 + 15 + 172},
        ],
        "Next": names.START_DEADLINE_PASSED,
    }
    assert [(r["And"][1]["NumericLessThan"], r["Next"]) for r in ladder] == [
        (10, "CountModelWait3s"),
        (25, "CountModelWait6s"),
    ]
    assert last == {**transitional, "Next": "CountModelWait15s"}
    for seconds in (3, 6, 15):
        count = sm[names.count_model_wait(seconds)]
        assert count["Parameters"] == {"polls.$": "States.MathAdd($.modelWait.polls, 1)"}
        assert count["Next"] == names.wait_for_model(seconds)
        assert sm[names.wait_for_model(seconds)] == {
            "Type": "Wait",
            "Seconds": seconds,
            "Next": names.DESCRIBE_MODEL,
        }
    # a describe costs 6 transitions: ActOnModelStatus, the count, the wait, the describe and
    # the two states that read its one item
    assert sm[names.DESCRIBE_MODEL]["Next"] == "DescribeModelHasVersion"
    assert sm["DescribeModelReadVersion"]["Next"] == names.ACT_ON_MODEL_STATUS
    # every start (a restart after FAILED too) gets the whole start deadline
    assert sm[names.MARK_STARTED]["Next"] == names.RESET_MODEL_WAIT
    assert sm[names.RESET_MODEL_WAIT] == {
        "Type": "Pass",
        "Result": {"polls": 1},
        "ResultPath": "$.modelWait",
        "Next": "WaitForModel3s",
    }


def test_sizing_is_a_ladder_of_backlog_thresholds() -> None:
    p = params(target_run_minutes=30, tps_per_unit=5.0, min_inference_units=1, max_planned_units=4)
    sm = states(build_definition(p))
    # units = ceil(backlog / (5 x 60 x 30)) = ceil(backlog / 9000), bounded 1..4
    ladder = [r for r in sm[names.PLAN]["Choices"] if r.get("Variable") == "$.backlog.total"]
    assert [(r["NumericGreaterThan"], r["Next"]) for r in ladder] == [
        (27000, "PlanUnits4"),
        (18000, "PlanUnits3"),
        (9000, "PlanUnits2"),
    ]
    assert sm[names.PLAN]["Default"] == "PlanUnits1"
    for units in (1, 2, 3, 4):
        plan = sm[names.plan_units(units)]
        assert plan["Result"]["units"] == units and plan["ResultPath"] == "$.plan"
        assert plan["Next"] == names.ACT_ON_MODEL_STATUS
    off = states(build_definition(params()))
    assert not [r for r in off[names.PLAN]["Choices"] if r.get("Variable") == "$.backlog.total"]
    assert off[names.PLAN]["Default"] == "PlanUnits1"


# ------------------------------------------------------------------ params drive it


def test_every_wait_and_deadline_comes_from_params() -> None:
    p = params(
        poll_interval_seconds=17,
        model_poll_seconds=23,
        model_poll_ladder=(),
        drain_confirm_seconds=13,
        disable_grace_seconds=29,
        model_start_timeout_seconds=23 * 7,
        max_run_seconds=17 * 11,
        model_check_seconds=3,
        retry_interval_seconds=5,
        retry_max_attempts=4,
        guard_settle_seconds=31,
        mapping_poll_seconds=37,
    )
    sm = states(build_definition(p))
    waits = {
        n: s.get("Seconds", s.get("SecondsPath")) for n, s in sm.items() if s["Type"] == "Wait"
    }
    assert waits == {
        names.SETTLE_BEFORE_GUARD: 31,
        "WaitForModel23s": 23,
        names.WAIT_FOR_QUEUE: "$.drain.wait",
        names.WAIT_TO_CONFIRM_DRAIN: 13,
        names.GRACE_FOR_IN_FLIGHT: 29,
        names.CLEANUP_WAIT_MODEL: 23,
        names.WAIT_FOR_MAPPING: 37,
    }
    assert {s["Parameters"]["wait"] for n, s in sm.items() if n.startswith("CountPoll")} == {
        17,
        8,
        4,
        2,
    }
    assert all("Timestamp" not in s for s in sm.values())
    (deadline,) = [
        r
        for r in sm[names.ACT_ON_MODEL_STATUS]["Choices"]
        if r["Next"] == names.START_DEADLINE_PASSED
    ]
    assert deadline["And"][1]["NumericGreaterThanEquals"] == 7
    assert sm[names.CLEANUP_DEADLINE]["Choices"][0]["NumericGreaterThan"] == 7
    decision = {(c["Next"], c["Variable"]): c for c in sm[names.DRAIN_DECISION]["Choices"]}
    assert decision[names.MAX_RUN_REACHED, "$.drain.elapsed"]["NumericGreaterThanEquals"] == 17 * 11
    assert decision[names.CHECK_MODEL, "$.drain.sinceCheck"]["NumericGreaterThanEquals"] == 3
    transient = sm[names.POLL_QUEUE]["Retry"][0]
    assert transient["IntervalSeconds"] == 5 and transient["MaxAttempts"] == 4
    in_use = next(
        r
        for r in sm[names.START_MODEL]["Retry"]
        if r["ErrorEquals"] == ["Rekognition.ResourceInUseException"]
    )
    assert in_use["IntervalSeconds"] == 23


def test_production_defaults() -> None:
    p = params()
    assert (p.poll_interval_seconds, p.model_start_timeout_seconds) == (60, 45 * 60)
    assert (p.fast_poll_seconds, p.confirm_seconds, p.model_poll_seconds) == (2, 5, 15)
    assert p.model_poll_ladder == ((30, 3), (120, 6))
    assert (p.target_run_minutes, p.tps_per_unit, p.max_start_attempts) == (0, 5.0, 2)
    sm = states(build_definition(p))
    assert sm["CountPoll60s"]["Parameters"]["wait"] == 60
    assert {"CountModelWait3s", "CountModelWait6s", "CountModelWait15s"} <= set(sm)
    assert build_definition(p)["TimeoutSeconds"] > p.max_run_seconds + p.model_start_timeout_seconds


def test_the_builder_is_pure_and_deterministic() -> None:
    p = params()
    first = build_definition(p)
    first["States"].clear()
    assert build_definition(p) == build_definition(p)
    assert build_definition(p)["States"]


def test_format_templates_are_well_formed() -> None:
    """States.Format literals must not contain quotes or braces beyond the {} slots."""
    for s in states(build_definition(params())).values():
        for key, value in (s.get("Parameters") or {}).items():
            if isinstance(value, str) and value.startswith("States.Format("):
                template = value.split("'")[1]
                args = value.split("'")[2]
                assert value.count("'") == 2, key
                assert template.count("{}") == _top_level_commas(args), value
                assert "\\" not in template


def _top_level_commas(text: str) -> int:
    """Commas outside nested intrinsic calls: one per argument after the template."""
    depth = commas = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        commas += char == "," and depth == 0
    return commas


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ownership": "mine"}, "ownership"),
        ({"runs_prefix": "runs"}, "runs_prefix"),
        ({"runs_prefix": "/runs/"}, "runs_prefix"),
        ({"poll_interval_seconds": 0}, "poll_interval_seconds"),
        ({"drain_confirm_seconds": -1}, "drain_confirm_seconds"),
        ({"poll_interval_seconds": 10, "drain_confirm_seconds": 11}, "drain_confirm_seconds"),
        ({"model_check_seconds": 0}, "model_check_seconds"),
        ({"min_inference_units": 0}, "min_inference_units"),
        ({"max_inference_units": 0}, "max_inference_units"),
        ({"disable_grace_seconds": -1}, "disable_grace_seconds"),
        ({"queue_url": ""}, "queue_url"),
        (
            {"project_arn": "arn:aws:rekognition:eu-west-1:111122223333:project/other/1"},
            "project_version_arn",
        ),
        ({"test_event_peek_max": 11}, "test_event_peek_max"),
        ({"test_event_peek_max": -1}, "test_event_peek_max"),
        ({"peek_visibility_timeout_seconds": -1}, "peek_visibility_timeout_seconds"),
        ({"fast_poll_seconds": 0}, "fast_poll_seconds"),
        ({"poll_interval_seconds": 5, "fast_poll_seconds": 6}, "fast_poll_seconds"),
        ({"target_run_minutes": -1}, "target_run_minutes"),
        ({"tps_per_unit": 0}, "tps_per_unit"),
        ({"max_planned_units": 0}, "max_planned_units"),
        ({"max_start_attempts": 0}, "max_start_attempts"),
        ({"model_poll_ladder": ((30, 0),)}, "model_poll_ladder"),
        ({"model_poll_ladder": ((60, 2), (30, 5))}, "model_poll_ladder"),
        ({"concurrency_by_units": (1,)}, "concurrency_by_units"),
    ],
)
def test_invalid_params_fail_early_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_definition(params(**changes))


def test_the_builder_and_the_run_contract_load_without_pulumi() -> None:
    """The emulator, the CLI and the benchmarks import them on machines without
    the Pulumi SDK's weight (and the builder must stay a pure function)."""
    code = (
        "import sys, infra.statemachine, infra.contract; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'boto3')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_backlog_counts_add_up_the_attributes_poll_queue_reads() -> None:
    sm = states(build_definition(params()))
    assert tuple(sm[names.POLL_QUEUE]["Parameters"]["AttributeNames"]) == BACKLOG_ATTRIBUTES
    counts = backlog_counts(dict(zip(BACKLOG_ATTRIBUTES, ("3", "2", "1"), strict=True)))
    assert counts == {"visible": 3, "inFlight": 2, "delayed": 1, "total": 6}
    assert backlog_counts({})["total"] == 0


def test_the_model_is_rechecked_by_seconds_of_drain_not_by_polls() -> None:
    sm = states(build_definition(params(model_check_seconds=60)))
    (check,) = [r for r in sm[names.DRAIN_DECISION]["Choices"] if r["Next"] == names.CHECK_MODEL]
    assert check == {
        "Variable": "$.drain.sinceCheck",
        "NumericGreaterThanEquals": 60,
        "Next": names.CHECK_MODEL,
    }
    assert (
        sm["CountPoll7s"]["Parameters"]["sinceCheck.$"] == "States.MathAdd($.drain.sinceCheck, 7)"
    )


def test_a_rejected_run_end_event_is_recorded_not_ignored() -> None:
    sm = states(
        build_definition(
            params(event_bus_arn="arn:aws:events:eu-west-1:111122223333:event-bus/default")
        )
    )
    assert sm[names.PUT_RUN_EVENT]["Next"] == names.EVENT_ACCEPTED
    assert sm[names.EVENT_ACCEPTED]["Choices"] == [
        {
            "Variable": "$.notified.event.failedEntries",
            "NumericGreaterThan": 0,
            "Next": names.EVENT_REJECTED,
        }
    ]
    assert sm[names.EVENT_REJECTED]["ResultPath"] == "$.notifyErrors.event"
    assert sm[names.EVENT_REJECTED]["Next"] == sm[names.EVENT_ACCEPTED]["Default"] == names.FINISH


def test_only_a_peek_that_kept_nothing_can_end_a_run_as_test_events_only() -> None:
    """Images that arrived after the count and were received by the peek are work."""
    sm = states(build_definition(params()))
    (only_tests,) = sm[names.IS_ONLY_TEST_EVENTS]["Choices"]
    (recount_empty, all_dropped) = only_tests["Or"]
    assert recount_empty == {"Variable": "$.peek.recount.total", "NumericEquals": 0}
    assert {"Variable": "$.peek.peeked", "NumericEqualsPath": "$.peek.dropped"} in all_dropped[
        "And"
    ]
