"""The harness pieces that adapt moto to Step Functions (pure parts) and the
demo's verdict."""

from __future__ import annotations

import dataclasses

import boto3
import pytest

from cli.demo import Report, parse_args
from emulator.shims import _match_params, _pascal_result
from emulator.workflow import workflow_params


def operation(service: str, name: str):  # noqa: ANN201 - botocore model object
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client.meta.service_model.operation_model(name)


def test_step_functions_parameter_names_map_to_the_api_members() -> None:
    params = {"StateMachineArn": "arn", "StatusFilter": "RUNNING", "MaxResults": 100}
    _match_params(params, operation("stepfunctions", "ListExecutions"))
    assert params == {"stateMachineArn": "arn", "statusFilter": "RUNNING", "maxResults": 100}
    esm = {"Uuid": "u-1", "Enabled": True}
    _match_params(esm, operation("lambda", "UpdateEventSourceMapping"))
    assert esm == {"UUID": "u-1", "Enabled": True}


def test_responses_are_pascal_cased_but_map_keys_are_data() -> None:
    listed = {"executions": [{"executionArn": "a", "name": "n"}], "nextToken": "t"}
    assert _pascal_result(operation("stepfunctions", "ListExecutions").output_shape, listed) == {
        "Executions": [{"ExecutionArn": "a", "Name": "n"}],
        "NextToken": "t",
    }
    attrs = {"Attributes": {"ApproximateNumberOfMessages": "3", "lowercase": "x"}}
    assert _pascal_result(operation("sqs", "GetQueueAttributes").output_shape, attrs) == attrs


def test_workflow_params_come_from_the_stack_outputs() -> None:
    outputs = {
        "queueUrl": "q",
        "projectArn": "arn:aws:rekognition:us-east-1:123456789012:project/p/1",
        "projectVersionArn": "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v/1",
        "versionName": "v",
        "eventSourceMappingUuid": "u",
        "finalBucket": "b",
        "runsPrefix": "history/",
        "minInferenceUnits": 3,
    }
    p = workflow_params(outputs, ownership="shared")
    assert (p.queue_url, p.runs_prefix, p.min_inference_units, p.ownership) == (
        "q",
        "history/",
        3,
        "shared",
    )
    with pytest.raises(TypeError, match="unknown workflow option"):
        workflow_params(outputs, pol_interval_seconds=5)


GOOD = Report(
    uploaded=5,
    processed=4,
    failed=1,
    left_in_source=0,
    queued=0,
    dlq=0,
    model_status="STOPPED",
    running_seconds=3.0,
    unit_seconds=3.0,
    cost=0.0,
    execution_status="SUCCEEDED",
    outcome="drained",
    error=None,
)


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"model_status": "STOPPING"}, True),
        ({"model_status": "RUNNING"}, False),
        ({"processed": 3}, False),  # one image unaccounted for
        ({"processed": 3, "left_in_source": 1}, False),  # not lost, but not processed either
        ({"execution_status": "FAILED"}, False),
    ],
)
def test_the_demo_fails_when_anything_is_lost_or_left_running(change: dict, ok: bool) -> None:
    assert dataclasses.replace(GOOD, **change).ok is ok


def test_demo_arguments_are_checked() -> None:
    assert parse_args([]).price_per_iu_hour == 4.0
    with pytest.raises(SystemExit):
        parse_args(["--count", "0"])
