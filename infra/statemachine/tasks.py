"""The stack's own SDK calls, shared by several phases: count the queue,
describe the model version, toggle the event source mapping."""

from __future__ import annotations

from typing import Any

from infra.contract import BACKLOG_ATTRIBUTES
from infra.statemachine import asl
from infra.statemachine import names as n
from infra.statemachine.errors import (
    LAMBDA_TRANSIENT,
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


def queue_counts(
    p: WorkflowParams,
    *,
    next_state: str,
    result_path: str,
    catch: list[dict[str, Any]],
    comment: str,
) -> asl.State:
    """visible / inFlight / delayed / total (as infra.contract.backlog_counts) and when."""
    attr = "States.StringToJson($.Attributes.{})".format
    names = BACKLOG_ATTRIBUTES
    return asl.sdk_task(
        "sqs:getQueueAttributes",
        parameters={"QueueUrl": p.queue_url, "AttributeNames": list(names)},
        result_selector={
            "visible.$": attr(names[0]),
            "inFlight.$": attr(names[1]),
            "delayed.$": attr(names[2]),
            "total.$": "States.MathAdd(States.MathAdd({}, {}), {})".format(
                *(attr(name) for name in names)
            ),
            "at.$": "$$.State.EnteredTime",
        },
        result_path=result_path,
        next_state=next_state,
        retry=[retry(p, *SQS_TRANSIENT)],
        catch=catch,
        comment=comment,
    )


# $.model.current.version before a describe lists one, and the fields its optional
# members default to (a definite path to a member AWS left out is States.Runtime).
VERSION_DEFAULTS: dict[str, Any] = {"Status": "", "StatusMessage": "", "MinInferenceUnits": None}
STATUS = "$.model.current.version.Status"
STATUS_MESSAGE = "$.model.current.version.StatusMessage"
UNITS = "$.model.current.version.MinInferenceUnits"


def describe_model(
    p: WorkflowParams,
    name: str,
    *,
    next_state: str,
    catch: list[dict[str, Any]],
    comment: str,
) -> asl.States:
    """Describe the model version into ``$.model.current``: ``count`` (0: not
    found) and ``version``, its description with VERSION_DEFAULTS for the members
    AWS leaves out (a Status of "" when none is listed).

    Three states, so that no path has a wildcard and no item is read from a list
    that may be empty: the Task keeps the list whole (``[*]`` of a one-element
    list is a list for moto and the bare value for LocalStack; AWS does not say),
    a Choice proves it has an item, and a Pass takes item 0 with
    ``States.ArrayGetItem``, merged over the defaults."""
    descriptions = "$.ProjectVersionDescriptions"
    current = "$.model.current"
    return {
        name: asl.sdk_task(
            "rekognition:describeProjectVersions",
            parameters={"ProjectArn": p.project_arn, "VersionNames": [p.version_name]},
            result_selector={
                "count.$": f"States.ArrayLength({descriptions})",
                "versions.$": descriptions,
                "version": VERSION_DEFAULTS,
            },
            result_path=current,
            next_state=n.has_version(name),
            retry=[retry(p, *REKOGNITION_TRANSIENT)],
            catch=catch,
            comment=comment,
        ),
        n.has_version(name): asl.choice(
            [asl.when(f"{current}.count", "NumericGreaterThan", 0, n.read_version(name))],
            default=next_state,
        ),
        n.read_version(name): asl.pass_state(
            next_state,
            parameters={
                "count.$": f"{current}.count",
                "version.$": (
                    f"States.JsonMerge({current}.version, "
                    f"States.ArrayGetItem({current}.versions, 0), false)"
                ),
            },
            result_path=current,
        ),
    }


def enable_mapping(
    p: WorkflowParams,
    *,
    result_path: str,
    next_state: str,
    catch: list[dict[str, Any]],
    comment: str,
) -> asl.State:
    """Enable the inference Lambda's SQS event source mapping with the plan's
    MaximumConcurrency (so Lambda offers the planned throughput, no more)."""
    parameters = {
        "Uuid": p.event_source_mapping_uuid,
        "Enabled": True,
        "ScalingConfig": {"MaximumConcurrency.$": "$.plan.concurrency"},
    }
    return _update_mapping(p, parameters, result_path, next_state, catch, comment)


def disable_mapping(
    p: WorkflowParams,
    *,
    result_path: str,
    next_state: str,
    catch: list[dict[str, Any]],
    comment: str,
) -> asl.State:
    """Disable the mapping: Lambda stops polling the queue (batches already
    received finish)."""
    parameters = {"Uuid": p.event_source_mapping_uuid, "Enabled": False}
    return _update_mapping(p, parameters, result_path, next_state, catch, comment)


def _update_mapping(
    p: WorkflowParams,
    parameters: dict[str, Any],
    result_path: str,
    next_state: str,
    catch: list[dict[str, Any]],
    comment: str,
) -> asl.State:
    return asl.sdk_task(
        "lambda:updateEventSourceMapping",
        parameters=parameters,
        result_selector={"state.$": "$.State", "at.$": "$$.State.EnteredTime"},
        result_path=result_path,
        next_state=next_state,
        retry=[retry(p, *LAMBDA_TRANSIENT)],
        catch=catch,
        comment=comment,
    )


def model_is(status: str) -> asl.Condition:
    """A Choice condition (no Next): the model described last is in this status."""
    return asl.cond(STATUS, "StringEquals", status)


def model_is_any(*statuses: str) -> asl.Condition:
    """A Choice condition (no Next): the model described last is in one of these."""
    return asl.any_of(*(model_is(status) for status in statuses))
