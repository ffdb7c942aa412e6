"""The orchestration workflow on the local emulator, and run helpers.

``provision_stack`` creates what ``pulumi up`` creates: the data path (from
:mod:`emulator.stack`) plus the Step Functions role and state machine, built
by the same :func:`infra.statemachine.build_definition` the Pulumi program uses.

The run helpers (:func:`start_run`, :func:`wait_for_run`,
:func:`read_run_summary`, :func:`snapshot`) take plain boto3 clients, so the
CLI uses them unchanged against AWS or the emulator.

The definition stays AWS-correct; where moto's aws-sdk tasks differ from AWS
(parameter and result casing among them), emulator/shims.py adapts moto.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from infra import outputs as out
from infra.contract import (
    BACKLOG_ATTRIBUTES,
    DEFAULT_RUNS_PREFIX,
    backlog_counts,
    summary_key,
)
from infra.policies import default_event_bus_arn
from infra.statemachine import (
    OWNERSHIP_EXCLUSIVE,
    RESOURCE_FIELDS,
    WorkflowParams,
    build_definition,
)

# Waits scaled down for tests and the demo (the production defaults are in WorkflowParams).
FAST_WORKFLOW: dict[str, Any] = {
    "poll_interval_seconds": 1,
    "fast_poll_seconds": 1,
    "model_poll_ladder": (),
    "model_poll_seconds": 1,
    "model_start_timeout_seconds": 30,
    "max_run_seconds": 300,
    "model_check_every_polls": 2,
    "disable_grace_seconds": 1,
    "retry_interval_seconds": 1,
    "retry_max_attempts": 3,
    "peek_visibility_timeout_seconds": 1,  # kept peeked messages come back after 1 s
    "guard_settle_seconds": 0,  # one run at a time here (the two-runs scenario sets 1)
}
_WORKFLOW_FIELDS = {f.name for f in dataclasses.fields(WorkflowParams)}
_DERIVED_FIELDS = set(RESOURCE_FIELDS)  # from the provisioned stack, not options

_SHARED_FIELDS = {"runs_prefix", "min_inference_units"}  # data-path options too

STATE_MACHINE_NAME = "rekbatch-orchestrator"
ROLE_NAME = "rekbatch-orchestrator-role"


# ------------------------------------------------------------------ provisioning


def workflow_params(outputs: Mapping[str, Any], **overrides: Any) -> WorkflowParams:
    """WorkflowParams for a provisioned stack (outputs keyed as infra/outputs.py)."""
    unknown = set(overrides) - _WORKFLOW_FIELDS
    if unknown:
        raise TypeError(f"unknown workflow option(s): {sorted(unknown)}")
    values: dict[str, Any] = {
        "queue_url": outputs[out.QUEUE_URL],
        "project_arn": outputs[out.PROJECT_ARN],
        "project_version_arn": outputs[out.PROJECT_VERSION_ARN],
        "version_name": outputs[out.VERSION_NAME],
        "event_source_mapping_uuid": outputs[out.EVENT_SOURCE_MAPPING_UUID],
        "final_bucket": outputs[out.FINAL_BUCKET],
    }
    if out.RUNS_PREFIX in outputs:
        values["runs_prefix"] = outputs[out.RUNS_PREFIX]
    if out.MIN_INFERENCE_UNITS in outputs:
        values["min_inference_units"] = int(outputs[out.MIN_INFERENCE_UNITS])
    if out.NOTIFICATION_TOPIC_ARN in outputs:
        # The run-end notification: the stack's topic and this account's default bus.
        topic_arn = outputs[out.NOTIFICATION_TOPIC_ARN]
        parts = str(topic_arn).split(":")
        partition, region, account = parts[1], parts[3], parts[4]
        values["notification_topic_arn"] = topic_arn
        values["event_bus_arn"] = default_event_bus_arn(partition, region, account)
    values.update(overrides)
    return WorkflowParams(**values)


_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _ensure_role(iam: Any) -> str:
    try:
        return iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(
            RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY)
        )["Role"]["Arn"]


def deploy_state_machine(aws: Any, outputs: Mapping[str, Any], **workflow_options: Any) -> str:
    """Create (or update in place) the state machine from the real builder.

    Returns its ARN. Used by :func:`provision_stack` and by tests that need
    other workflow settings (ownership, deadlines) on the same data path.
    """
    params = workflow_params(outputs, **workflow_options)
    definition = json.dumps(build_definition(params))
    sfn = aws.client("stepfunctions")
    arn = outputs.get(out.STATE_MACHINE_ARN)
    if arn:
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        return arn
    role_arn = _ensure_role(aws.client("iam"))
    return sfn.create_state_machine(
        name=STATE_MACHINE_NAME, definition=definition, roleArn=role_arn, type="STANDARD"
    )["stateMachineArn"]


def provision_stack(aws: Any, **options: Any) -> dict[str, Any]:
    """The whole stack on ``aws`` (a started LocalAws); returns the outputs.

    Options named like :class:`WorkflowParams` fields (``ownership``,
    ``poll_interval_seconds``, ...) configure the state machine; the rest go
    to :func:`emulator.stack.provision_data_path`. Without workflow options
    the scaled-down waits of :data:`FAST_WORKFLOW` are used.
    """
    from emulator.stack import provision_data_path, provision_notifications

    # Settings both sides know (runs prefix, inference units) go to the data path,
    # whose outputs the workflow reads them from.
    own = _WORKFLOW_FIELDS - _SHARED_FIELDS - _DERIVED_FIELDS
    workflow_options = {k: options.pop(k) for k in list(options) if k in own}
    outputs = dict(provision_data_path(aws, **options))
    outputs.update(provision_notifications(aws, stack=options.get("stack", "dev")))
    outputs[out.STATE_MACHINE_ARN] = deploy_state_machine(
        aws, outputs, **{**FAST_WORKFLOW, **workflow_options}
    )
    return outputs


@contextmanager
def lambda_service(aws: Any, outputs: Mapping[str, Any], **poller_options: Any) -> Iterator[Any]:
    """The local Lambda service for the stack's mapping (emulator.poller), running
    the real handler while the state machine keeps the mapping Enabled.

    The handler's clients read AWS_ENDPOINT_URL and friends from the process
    environment: they are set to ``aws.env()`` for the duration (and restored),
    so nothing here can reach a real account.
    """
    from emulator.poller import LambdaPoller

    saved = {name: os.environ.get(name) for name in aws.env()}
    os.environ.update(aws.env())
    try:
        with LambdaPoller(aws, outputs[out.EVENT_SOURCE_MAPPING_UUID], **poller_options) as poller:
            yield poller
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -------------------------------------------------------------------- run helpers

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class RunResult:
    """A finished execution and its run summary (None if none was written)."""

    execution_arn: str
    name: str
    status: str
    error: str | None
    cause: str | None
    output: Any
    summary: dict[str, Any] | None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    @property
    def outcome(self) -> str | None:
        return None if self.summary is None else self.summary.get("outcome")


def start_run(sfn: Any, state_machine_arn: str, name: str | None = None) -> str:
    """Start one execution (what the schedule does); returns its ARN."""
    name = name or f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    return sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input="{}")[
        "executionArn"
    ]


def wait_for_run(
    sfn: Any,
    execution_arn: str,
    *,
    timeout: float = 300.0,
    interval: float = 0.25,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll DescribeExecution until the execution ends; returns the last description.

    ``on_progress`` gets each description (for progress displays). Raises
    TimeoutError after ``timeout`` seconds with the execution still running.
    """
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if on_progress is not None:
            on_progress(described)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout} s")
        time.sleep(interval)


def read_run_summary(
    s3: Any, bucket: str, execution_name: str, runs_prefix: str = DEFAULT_RUNS_PREFIX
) -> dict[str, Any] | None:
    """The run summary the workflow wrote, or None if there is none."""
    try:
        body = s3.get_object(Bucket=bucket, Key=summary_key(runs_prefix, execution_name))["Body"]
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body.read())


def finish_run(
    sfn: Any, s3: Any, outputs: Mapping[str, Any], execution_arn: str, **wait: Any
) -> RunResult:
    """Wait for an execution and collect its result and run summary."""
    described = wait_for_run(sfn, execution_arn, **wait)
    raw_output = described.get("output")
    return RunResult(
        execution_arn=execution_arn,
        name=described["name"],
        status=described["status"],
        error=described.get("error"),
        cause=described.get("cause"),
        output=json.loads(raw_output) if raw_output else None,
        summary=read_run_summary(
            s3,
            outputs[out.FINAL_BUCKET],
            described["name"],
            outputs.get(out.RUNS_PREFIX, DEFAULT_RUNS_PREFIX),
        ),
    )


def run_workflow(aws: Any, outputs: Mapping[str, Any], **wait: Any) -> RunResult:
    """Start the state machine and wait for it (LocalAws or anything with .client())."""
    sfn = aws.client("stepfunctions")
    arn = start_run(sfn, outputs[out.STATE_MACHINE_ARN])
    return finish_run(sfn, aws.client("s3"), outputs, arn, **wait)


def queue_depth(sqs: Any, queue_url: str) -> dict[str, int]:
    """The three counts the workflow's drain check adds up."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=list(BACKLOG_ATTRIBUTES)
    )["Attributes"]
    return backlog_counts(attributes)


def model_status(rekognition: Any, outputs: Mapping[str, Any]) -> str:
    described = rekognition.describe_project_versions(
        ProjectArn=outputs[out.PROJECT_ARN], VersionNames=[outputs[out.VERSION_NAME]]
    )["ProjectVersionDescriptions"]
    return described[0]["Status"] if described else "NOT_FOUND"


def count_keys(s3: Any, bucket: str, prefix: str = "", suffix: str = "") -> int:
    paginator = s3.get_paginator("list_objects_v2")
    return sum(
        1
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", ())
        if item["Key"].endswith(suffix)
    )


def result_keys(s3: Any, outputs: Mapping[str, Any]) -> dict[str, list[str]]:
    """Final bucket keys by kind: results (image JSONs), failed, runs, images."""
    bucket = outputs[out.FINAL_BUCKET]
    failed = outputs.get(out.FAILED_PREFIX, "failed/")
    runs = outputs.get(out.RUNS_PREFIX, DEFAULT_RUNS_PREFIX)
    kinds: dict[str, list[str]] = {"results": [], "failed": [], "runs": [], "images": []}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            key = item["Key"]
            if key.startswith(runs):
                kinds["runs"].append(key)
            elif key.startswith(failed):
                kinds["failed"].append(key)
            elif key.endswith(".json"):
                kinds["results"].append(key)
            else:
                kinds["images"].append(key)
    return kinds


def snapshot(aws: Any, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """What a progress display shows: model status, queue, mapping, results so far."""
    sqs = aws.client("sqs")
    mapping = aws.client("lambda").get_event_source_mapping(
        UUID=outputs[out.EVENT_SOURCE_MAPPING_UUID]
    )
    keys = result_keys(aws.client("s3"), outputs)
    return {
        "model": model_status(aws.client("rekognition"), outputs),
        "queue": queue_depth(sqs, outputs[out.QUEUE_URL]),
        "dlq": queue_depth(sqs, outputs[out.DLQ_URL])["total"] if out.DLQ_URL in outputs else 0,
        "mapping": mapping["State"],
        "done": len(keys["results"]),
        "failed": sum(1 for k in keys["failed"] if k.endswith(".json")),
    }


__all__ = [
    "FAST_WORKFLOW",
    "OWNERSHIP_EXCLUSIVE",
    "RunResult",
    "deploy_state_machine",
    "finish_run",
    "lambda_service",
    "model_status",
    "provision_stack",
    "queue_depth",
    "read_run_summary",
    "result_keys",
    "run_workflow",
    "snapshot",
    "start_run",
    "wait_for_run",
    "workflow_params",
]
