"""Run operations on plain boto3 clients: the one copy the CLI, the demo, the
tests and the benchmarks share.

Starting a run, waiting for it, reading its summary, queue depth and model
status take boto3 clients, so they serve AWS and the local emulator alike.
They raise botocore's exceptions; the CLI's commands turn those into one line
(cli/errors.py). The run contract (summary key, runs prefix, backlog counts)
comes from infra/contract.py.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cli.errors import error_code
from infra import outputs as out
from infra.contract import BACKLOG_ATTRIBUTES, DEFAULT_RUNS_PREFIX, backlog_counts, summary_key
from runtime.settings import DEFAULTS as RUNTIME_DEFAULTS
from runtime.settings import FAILED_PREFIX, RESULTS_PREFIX

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
DEFAULT_FAILED_PREFIX = RUNTIME_DEFAULTS[FAILED_PREFIX]  # the runtime owns it
DEFAULT_RESULTS_PREFIX = RUNTIME_DEFAULTS[RESULTS_PREFIX]
RUN_INPUT: Mapping[str, str] = {"trigger": "rekbatch run"}


def new_execution_name(now: datetime | None = None) -> str:
    """Sortable and unique: ``rekbatch-20261125T104500Z-3f9a01c2``."""
    moment = now or datetime.now(UTC)
    return f"rekbatch-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def start_run(
    sfn: Any,
    state_machine_arn: str,
    name: str | None = None,
    payload: Mapping[str, Any] = RUN_INPUT,
) -> str:
    """Start one execution now; returns its ARN. The workflow ignores its input
    (it reads the queue itself); the name defaults to :func:`new_execution_name`."""
    return str(
        sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=name or new_execution_name(),
            input=json.dumps(dict(payload)),
        )["executionArn"]
    )


def wait_for_run(
    sfn: Any,
    execution_arn: str,
    *,
    timeout: float = 300.0,
    interval: float = 0.25,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll DescribeExecution until the execution ends; returns the last description.

    ``on_progress`` gets each description. Raises TimeoutError after
    ``timeout`` seconds with the execution still running.
    """
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if on_progress is not None:
            on_progress(described)
        status = described.get("status")
        if status in TERMINAL:
            return described
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{execution_arn} still {status} after {timeout} s")
        time.sleep(interval)


def body_of(response: Mapping[str, Any]) -> bytes:
    """The bytes of a GetObject response (an object without a body is empty)."""
    body = response.get("Body")
    return b"" if body is None else bytes(body.read())


def read_summary(
    s3: Any, bucket: str, runs_prefix: str, execution_name: str
) -> dict[str, Any] | None:
    """The run summary the workflow wrote, or None if there is none (or it is
    not a JSON object).

    The workflow passes the summary object as the putObject Body, which AWS
    stores as compact JSON; summaries written by earlier versions (the Body a
    JSON string) are stored as a JSON string literal holding the JSON, or, by
    emulators that stored the string raw, as the JSON itself: all three read."""
    try:
        body = body_of(s3.get_object(Bucket=bucket, Key=summary_key(runs_prefix, execution_name)))
    except ClientError as exc:
        if error_code(exc) in {"NoSuchKey", "404"}:
            return None
        raise
    return parse_summary(body)


def parse_summary(body: bytes | str) -> dict[str, Any] | None:
    """A summary object from its stored bytes (see :func:`read_summary`)."""
    try:
        data = json.loads(body)
        if isinstance(data, str):  # a JSON string literal holding the JSON
            data = json.loads(data)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


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


def finish_run(
    sfn: Any, s3: Any, outputs: Mapping[str, Any], execution_arn: str, **wait: Any
) -> RunResult:
    """Wait for an execution (see :func:`wait_for_run`) and collect its result
    and run summary; ``outputs`` are the stack outputs (infra/outputs.py names)."""
    described = wait_for_run(sfn, execution_arn, **wait)
    name = str(described.get("name") or execution_arn.rsplit(":", 1)[-1])
    raw_output = described.get("output")
    try:
        output = json.loads(raw_output) if raw_output else None
    except ValueError:
        output = raw_output
    return RunResult(
        execution_arn=execution_arn,
        name=name,
        status=str(described.get("status")),
        error=described.get("error"),
        cause=described.get("cause"),
        output=output,
        summary=read_summary(
            s3,
            outputs[out.FINAL_BUCKET],
            outputs.get(out.RUNS_PREFIX) or DEFAULT_RUNS_PREFIX,
            name,
        ),
    )


def queue_depth(sqs: Any, queue_url: str) -> dict[str, int]:
    """visible / inFlight / delayed / total: the counts the workflow's drain check adds up."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=list(BACKLOG_ATTRIBUTES)
    ).get("Attributes")
    return backlog_counts(attributes or {})


def describe_model_version(
    rekognition: Any, project_arn: str, version_name: str
) -> dict[str, Any] | None:
    """The model version's description, or None when the project has no such version."""
    found = (
        rekognition.describe_project_versions(
            ProjectArn=project_arn, VersionNames=[version_name]
        ).get("ProjectVersionDescriptions")
        or []
    )
    return found[0] if found else None


def model_status(rekognition: Any, outputs: Mapping[str, Any]) -> str:
    """The stack's model version status (``NOT_FOUND`` when there is no such version)."""
    found = describe_model_version(rekognition, outputs[out.PROJECT_ARN], outputs[out.VERSION_NAME])
    return str(found.get("Status") or "UNKNOWN") if found is not None else "NOT_FOUND"


def result_keys(s3: Any, outputs: Mapping[str, Any]) -> dict[str, list[str]]:
    """Final bucket keys by kind: results (image JSONs), failed, runs, dataset
    (the JSON Lines objects), images."""
    bucket = outputs[out.FINAL_BUCKET]
    failed = outputs.get(out.FAILED_PREFIX) or DEFAULT_FAILED_PREFIX
    runs = outputs.get(out.RUNS_PREFIX) or DEFAULT_RUNS_PREFIX
    dataset = outputs.get(out.RESULTS_PREFIX) or DEFAULT_RESULTS_PREFIX
    kinds: dict[str, list[str]] = {
        "results": [],
        "failed": [],
        "runs": [],
        "dataset": [],
        "images": [],
    }
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            key = item["Key"]
            if key.startswith(runs):
                kinds["runs"].append(key)
            elif key.startswith(dataset):
                kinds["dataset"].append(key)
            elif key.startswith(failed):
                kinds["failed"].append(key)
            elif key.endswith(".json"):
                kinds["results"].append(key)
            else:
                kinds["images"].append(key)
    return kinds


__all__ = [
    "TERMINAL",
    "RunResult",
    "body_of",
    "describe_model_version",
    "finish_run",
    "model_status",
    "new_execution_name",
    "queue_depth",
    "parse_summary",
    "read_summary",
    "result_keys",
    "start_run",
    "wait_for_run",
]
