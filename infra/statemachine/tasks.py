"""The stack's own SDK calls, shared by several phases: count the queue,
describe the model version, toggle the event source mapping."""

from __future__ import annotations

from typing import Any

from infra.contract import BACKLOG_ATTRIBUTES
from infra.statemachine import asl
from infra.statemachine import names as n
from infra.statemachine.errors import (
    LAMBDA_TRANSIENT,
    MODEL_STATUSES_SEEN,
    REKOGNITION_TRANSIENT,
    SQS_TRANSIENT,
)
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
    """The model version as ``$.model.current``: how many versions matched (0: not
    found), their statuses, messages and units as lists, and a boolean per status
    the workflow routes on. Nothing here indexes a list, so an empty answer or a
    description without its optional fields can never fail the path evaluation
    (a States.Runtime error no Catch catches)."""
    descriptions = "$.ProjectVersionDescriptions"
    return asl.sdk_task(
        "rekognition:describeProjectVersions",
        {"ProjectArn": p.project_arn, "VersionNames": [p.version_name]},
        {
            "count.$": f"States.ArrayLength({descriptions})",
            "statuses.$": f"{descriptions}[*].Status",
            "messages.$": f"{descriptions}[*].StatusMessage",
            "units.$": f"{descriptions}[*].MinInferenceUnits",
            "unitsKnown.$": f"States.ArrayLength({descriptions}[*].MinInferenceUnits)",
            "is": {
                f"{status}.$": f"States.ArrayContains({descriptions}[*].Status, '{status}')"
                for status in MODEL_STATUSES_SEEN
            },
        },
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
    """Enable the inference Lambda's SQS event source mapping with the plan's
    MaximumConcurrency (so Lambda offers the planned throughput, no more), or
    disable it."""
    parameters: dict[str, Any] = {"Uuid": p.event_source_mapping_uuid, "Enabled": enabled}
    if enabled:
        parameters["ScalingConfig"] = {"MaximumConcurrency.$": "$.plan.concurrency"}
    return asl.sdk_task(
        "lambda:updateEventSourceMapping",
        parameters,
        {"state.$": "$.State", "at.$": "$$.State.EnteredTime"},
        result_path,
        next_state,
        [retry(p, *LAMBDA_TRANSIENT)],
        catch,
        comment,
    )


def model_is(status: str) -> str:
    """The describe's boolean for one status (see :func:`describe_model`)."""
    return f"$.model.current.is.{status}"


def model_is_any(*statuses: str) -> dict[str, Any]:
    """A Choice condition (no Next): the model described last is in one of these."""
    return {"Or": [{"Variable": model_is(status), "BooleanEquals": True} for status in statuses]}
