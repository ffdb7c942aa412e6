"""The stack's own SDK calls, shared by several phases: count the queue,
describe the model version, toggle the event source mapping."""

from __future__ import annotations

from typing import Any

from infra.contract import BACKLOG_ATTRIBUTES
from infra.statemachine import asl
from infra.statemachine import names as n
from infra.statemachine.errors import LAMBDA_TRANSIENT, REKOGNITION_TRANSIENT, SQS_TRANSIENT
from infra.statemachine.params import WorkflowParams


def retry(
    p: WorkflowParams,
    *errors: str,
    interval: int | None = None,
    attempts: int | None = None,
    backoff: float = 2.0,
) -> dict[str, Any]:
    """A Retrier with the workflow's SDK retry defaults unless given."""
    return asl.retry(
        *errors,
        interval=p.retry_interval_seconds if interval is None else interval,
        attempts=p.retry_max_attempts if attempts is None else attempts,
        backoff=backoff,
    )


def queue_counts(p: WorkflowParams, next_state: str, result_path: str, comment: str) -> asl.State:
    """visible / inFlight / delayed / total (as infra.contract.backlog_counts) and when."""
    attr = "States.StringToJson($.Attributes.{})".format
    names = BACKLOG_ATTRIBUTES
    return asl.sdk_task(
        "sqs:getQueueAttributes",
        {"QueueUrl": p.queue_url, "AttributeNames": list(names)},
        {
            "visible.$": attr(names[0]),
            "inFlight.$": attr(names[1]),
            "delayed.$": attr(names[2]),
            "total.$": "States.MathAdd(States.MathAdd({}, {}), {})".format(
                *(attr(name) for name in names)
            ),
            "at.$": "$$.State.EnteredTime",
        },
        result_path,
        next_state,
        [retry(p, *SQS_TRANSIENT)],
        asl.catch(n.FAILED),
        comment,
    )


def describe_model(
    p: WorkflowParams, next_state: str, catch: list[dict[str, Any]], comment: str
) -> asl.State:
    """The model version's status into ``$.model.current``."""
    return asl.sdk_task(
        "rekognition:describeProjectVersions",
        {"ProjectArn": p.project_arn, "VersionNames": [p.version_name]},
        # States.ArrayGetItem, not [0]: a missing version fails here, inside the Task's Catch.
        {"status.$": "States.ArrayGetItem($.ProjectVersionDescriptions[*].Status, 0)"},
        "$.model.current",
        next_state,
        [retry(p, *REKOGNITION_TRANSIENT)],
        catch,
        comment,
    )


def toggle_mapping(
    p: WorkflowParams,
    enabled: bool,
    result_path: str,
    next_state: str,
    catch: list[dict[str, Any]],
    comment: str,
) -> asl.State:
    """Enable or disable the inference Lambda's SQS event source mapping."""
    return asl.sdk_task(
        "lambda:updateEventSourceMapping",
        {"Uuid": p.event_source_mapping_uuid, "Enabled": enabled},
        {"state.$": "$.State", "at.$": "$$.State.EnteredTime"},
        result_path,
        next_state,
        [retry(p, *LAMBDA_TRANSIENT)],
        catch,
        comment,
    )
