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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cli.errors import error_code, reading
from infra import outputs as out
from infra.contract import BACKLOG_ATTRIBUTES, DEFAULT_RUNS_PREFIX, backlog_counts, summary_key
from runtime import documents
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
    response = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=name or new_execution_name(),
        input=json.dumps(dict(payload)),
    )
    with reading("StartExecution"):
        return str(response["executionArn"])


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
        with reading("DescribeExecution"):
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


def any_execution_running(sfn: Any, state_machine_arn: str) -> bool:
    """Whether an execution of the state machine is RUNNING. Paged: ListExecutions
    may answer a page without items and a nextToken."""
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn,
        statusFilter="RUNNING",
        PaginationConfig={"MaxItems": 1},
    )
    with reading("ListExecutions"):
        return any(page["executions"] for page in pages)


def queue_depth(sqs: Any, queue_url: str) -> dict[str, int]:
    """visible / inFlight / delayed / total: the counts the workflow's drain check adds up."""
    response = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(BACKLOG_ATTRIBUTES))
    with reading("GetQueueAttributes"):
        return backlog_counts(response.get("Attributes") or {})


def describe_model_version(
    rekognition: Any, project_arn: str, version_name: str
) -> dict[str, Any] | None:
    """The model version's description, or None when the project has no such version."""
    response = rekognition.describe_project_versions(
        ProjectArn=project_arn, VersionNames=[version_name]
    )
    with reading("DescribeProjectVersions"):
        found = response.get("ProjectVersionDescriptions") or []
        first = found[0] if found else None
        if first is not None and not isinstance(first, dict):
            raise TypeError(f"a description is a {type(first).__name__}, not an object")
        return first


def model_status(rekognition: Any, outputs: Mapping[str, Any]) -> str:
    """The stack's model version status (``NOT_FOUND`` when there is no such version)."""
    found = describe_model_version(rekognition, outputs[out.PROJECT_ARN], outputs[out.VERSION_NAME])
    return str(found.get("Status") or "UNKNOWN") if found is not None else "NOT_FOUND"


@dataclass(frozen=True)
class DocumentKeys:
    """The documents in the final bucket, by what they say (image copies left out)."""

    results: list[str]  # one result document per processed image
    errors: list[str]  # one error document per image filed as failed
    run_summaries: list[str]  # one per run
    dataset: list[str]  # the JSON Lines objects, one per invocation (runtime/dataset.py)


def document_keys(s3: Any, outputs: Mapping[str, Any]) -> DocumentKeys:
    """Every document key of the stack's final bucket (all pages), sorted by kind."""
    failed = outputs.get(out.FAILED_PREFIX) or DEFAULT_FAILED_PREFIX
    runs = outputs.get(out.RUNS_PREFIX) or DEFAULT_RUNS_PREFIX
    dataset = outputs.get(out.RESULTS_PREFIX) or DEFAULT_RESULTS_PREFIX
    found = DocumentKeys(results=[], errors=[], run_summaries=[], dataset=[])
    for key in object_keys(s3, outputs[out.FINAL_BUCKET]):
        if key.startswith(dataset):
            found.dataset.append(key)
        elif not documents.is_document_key(key):
            continue
        elif key.startswith(runs):
            found.run_summaries.append(key)
        elif key.startswith(failed):
            found.errors.append(key)
        else:
            found.results.append(key)
    return found


def listed_objects(s3: Any, bucket: str, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Every object under ``prefix``, page after page (ListObjectsV2 answers 1,000 at
    most per call). Only ``Key`` is certain: the API model marks the rest optional."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        with reading("ListObjectsV2"):
            objects = [_listed_object(item) for item in page.get("Contents") or ()]
        yield from objects


def _listed_object(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("Key"), str):
        raise KeyError(f"an object without a Key: {item!r}")
    return item


def object_keys(s3: Any, bucket: str, prefix: str = "") -> Iterator[str]:
    """Every key under ``prefix`` (see :func:`listed_objects`)."""
    for item in listed_objects(s3, bucket, prefix):
        yield item["Key"]


def count_objects(s3: Any, bucket: str, prefix: str = "") -> int:
    """How many objects are under ``prefix`` (every page counted)."""
    return sum(1 for _ in object_keys(s3, bucket, prefix))


__all__ = [
    "TERMINAL",
    "any_execution_running",
    "DocumentKeys",
    "RunResult",
    "body_of",
    "count_objects",
    "describe_model_version",
    "document_keys",
    "finish_run",
    "model_status",
    "new_execution_name",
    "queue_depth",
    "parse_summary",
    "listed_objects",
    "object_keys",
    "read_summary",
    "start_run",
    "wait_for_run",
]
