"""The definition uses no construct on which AWS and the emulators may
disagree (infra/statemachine/portability.py): every rendered variant passes the
check, and the check refuses each construct, naming the state and the reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.statemachine import OWNERSHIP_SHARED, build_definition
from infra.statemachine.errors import SERVICE_ERROR_PREFIXES, sdk_errors
from infra.statemachine.portability import RULES, check
from tests.workflow.golden import CONFIGURATIONS, render
from tests.workflow.test_definition import ALL_VARIANTS, params

SDK = "arn:aws:states:::aws-sdk:"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_golden_variant_passes_the_portability_check(name: str) -> None:
    assert check(json.loads(render(name))) == []


@pytest.mark.parametrize(
    "variant",
    [
        *ALL_VARIANTS,
        params(test_event_peek_max=0, guard_settle_seconds=0),
        params(ownership=OWNERSHIP_SHARED, target_run_minutes=10, max_planned_units=3),
        params(
            notification_topic_arn="arn:aws:sns:eu-west-1:111122223333:t",
            event_bus_arn="arn:aws:events:eu-west-1:111122223333:event-bus/default",
        ),
    ],
)
def test_every_variant_passes_the_portability_check(variant: Any) -> None:
    assert check(build_definition(variant)) == []


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def refusals(definition: dict[str, Any], code: str) -> list[str]:
    return [line for line in check(definition) if line.split(": ")[1] == code]


def put(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": SDK + "s3:putObject",
        "Parameters": {"Bucket": "b", "Key": "k", **body},
        "End": True,
    }


def test_a_string_body_in_put_object_is_refused() -> None:
    for body in ({"Body": "text"}, {"Body.$": "States.JsonToString($.summary)"}):
        (line,) = refusals(machine(WriteSummary=put(body)), "s3-string-body")
        assert line.startswith("WriteSummary: s3-string-body: Body")
        assert "JSON string literal" in line
    assert refusals(machine(WriteSummary=put({"Body.$": "$.summary"})), "s3-string-body") == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("n.$", "States.ArrayLength($.Executions[*].ExecutionArn)"),
        ("arns.$", "$.Executions[*].ExecutionArn"),
        ("x.$", "States.ArrayContains($.list[*].Status, 'RUNNING')"),
        ("deep.$", "$..Status"),
        ("some.$", "$.list[?(@.Status == 'RUNNING')]"),
        ("slice.$", "$.list[0:1]"),
    ],
)
def test_an_indefinite_path_is_refused(field: str, value: str) -> None:
    state = {"Type": "Pass", "Parameters": {field: value}, "End": True}
    (line,) = refusals(machine(Describe=state), "wildcard-path")
    assert line.startswith(f"Describe: wildcard-path: {field}: {value}")
    assert "one-element list in moto" in line


def test_an_indefinite_path_in_a_choice_is_refused() -> None:
    state = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.list[*].Status", "StringEquals": "RUNNING", "Next": "X"}],
        "Default": "X",
    }
    assert refusals(machine(Route=state, X={"Type": "Succeed"}), "wildcard-path")


def test_definite_paths_and_whole_array_functions_pass() -> None:
    state = {
        "Type": "Pass",
        "Parameters": {
            "n.$": "States.ArrayLength($.Executions)",
            "first.$": "States.ArrayGetItem($.Executions, 0)",
            "arn.$": "$.guard.oldest.ExecutionArn",
        },
        "End": True,
    }
    assert check(machine(Guard=state)) == []


def test_a_fail_that_may_raise_a_states_error_is_refused() -> None:
    by_path = {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    (line,) = refusals(machine(RunFailed=by_path), "fail-states-error")
    assert line.startswith("RunFailed: fail-states-error: ErrorPath")
    named = {"Type": "Fail", "Error": "States.TaskFailed"}
    assert refusals(machine(RunFailed=named), "fail-states-error")
    own = {"Type": "Fail", "Error": "RunFailed", "CausePath": "$.failure.cause"}
    assert check(machine(RunFailed=own)) == []


def test_a_service_error_spelt_one_way_is_refused() -> None:
    task = {
        "Type": "Task",
        "Resource": SDK + "sqs:getQueueAttributes",
        "Parameters": {"QueueUrl": "q", "AttributeNames": ["All"]},
        "Retry": [{"ErrorEquals": ["Sqs.RequestThrottledException", "Sqs.SqsException"]}],
        "End": True,
    }
    lines = refusals(machine(PollQueue=task), "one-error-spelling")
    assert [line.split(" (")[0] for line in lines] == [
        "PollQueue: one-error-spelling: Retry[0]: Sqs.RequestThrottledException without "
        "SQS.RequestThrottledException",
        "PollQueue: one-error-spelling: Retry[0]: Sqs.SqsException without SQS.SQSException",
    ]
    task["Retry"] = [{"ErrorEquals": list(sdk_errors("sqs", "RequestThrottledException"))}]
    task["Catch"] = [{"ErrorEquals": ["Nosuch.Thing"], "Next": "PollQueue"}]
    (line,) = refusals(machine(PollQueue=task), "one-error-spelling")
    assert "Catch[0]: Nosuch.Thing (a service prefix with no known spellings)" in line


def test_every_service_the_workflow_calls_has_its_spellings() -> None:
    services = {
        s["Resource"].removeprefix(SDK).split(":")[0]
        for s in build_definition(
            params(
                notification_topic_arn="arn:aws:sns:eu-west-1:111122223333:t",
                event_bus_arn="arn:aws:events:eu-west-1:111122223333:event-bus/default",
            )
        )["States"].values()
        if s["Type"] == "Task"
    }
    assert services <= set(SERVICE_ERROR_PREFIXES)
    assert SERVICE_ERROR_PREFIXES["sqs"] == ("Sqs", "SQS")
    assert SERVICE_ERROR_PREFIXES["sns"] == ("Sns", "SNS")


@pytest.mark.parametrize("rule", RULES, ids=[rule.code for rule in RULES])
def test_each_rules_example_is_what_the_rule_refuses(rule: Any) -> None:
    """The examples are what `doctor`-style probes send to AWS: each must be a use
    of its own construct (and of no other)."""
    definition = machine(Probe=dict(rule.example["state"]))
    codes = {line.split(": ")[1] for line in check(definition)}
    if rule.code == "one-error-spelling":  # the construct is a Retry spelling
        definition["States"]["Probe"]["Retry"] = [{"ErrorEquals": ["Sqs.SqsException"]}]
        codes = {line.split(": ")[1] for line in check(definition)}
    assert codes == {rule.code}
    assert rule.why and rule.instead and rule.construct


@pytest.mark.parametrize("caught", ["States.TaskFailed", "States.Timeout", "ModelUnusable"])
def test_a_failed_run_ends_with_its_own_error_and_the_original_in_the_cause(
    aws: Any, caught: str
) -> None:
    """The definition's own ending of a failed run, run in the emulator with the
    error a Catch may have caught: a re-raised States.* error would end the
    execution with States.Runtime and lose the cause."""
    import time

    sm = build_definition(params())["States"]
    definition = {
        "StartAt": "RunFailedCause",
        "States": {name: sm[name] for name in ("RunFailedCause", "RunFailed")},
    }
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"fail{time.monotonic_ns()}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
    )["stateMachineArn"]
    error = {"Error": caught, "Cause": "what happened"}
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"error": error}))
    deadline = time.monotonic() + 20
    desc = sfn.describe_execution(executionArn=execution["executionArn"])
    while desc["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
        desc = sfn.describe_execution(executionArn=execution["executionArn"])
    assert (desc["status"], desc.get("error")) == ("FAILED", "RunFailed"), desc
    assert desc["cause"] == f"{caught}: what happened"
