"""Runs of the workflow: executions, their summaries, model time and cost.

A run summary is the document the state machine writes to
``<finalBucket>/<runsPrefix><execution name>.json`` (schemaVersion 1, see
``infra/statemachine/`` and docs/workflow.md): outcome, error, backlog at
start, queue at end, whether this run started/stopped the model, and the
timestamps of each phase. Model minutes are counted from the moment the
model was seen RUNNING to the stop request (or the summary time when the
run did not stop it): that is what Rekognition bills, per inference unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from .aws import Aws
from .errors import UserError, error_code, explain
from .operations import describe_model_version, read_summary

_EPOCH = datetime.fromtimestamp(0, UTC)


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO-8601 string (or a datetime); None when absent/invalid."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:...:stateMachine:sm`` + ``name`` -> ``arn:...:execution:sm:name``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def describe_execution(aws: Aws, state_machine_arn: str, name: str) -> dict[str, Any] | None:
    try:
        return aws.client("stepfunctions").describe_execution(
            executionArn=execution_arn(state_machine_arn, name)
        )
    except ClientError as exc:
        if error_code(exc) in {"ExecutionDoesNotExist", "InvalidArn"}:
            return None
        raise


def execution_window(
    aws: Aws, state_machine_arn: str, name: str
) -> tuple[datetime | None, datetime | None]:
    found = describe_execution(aws, state_machine_arn, name)
    if found is None:
        return None, None
    return parse_time(found.get("startDate")), parse_time(found.get("stopDate"))


def list_executions(
    aws: Aws, state_machine_arn: str, limit: int, status: str | None = None
) -> list[dict[str, Any]]:
    """Newest first, at most ``limit``."""
    kwargs: dict[str, Any] = {
        "stateMachineArn": state_machine_arn,
        "maxResults": max(1, min(limit, 1000)),
    }
    if status:
        kwargs["statusFilter"] = status
    sfn = aws.client("stepfunctions")
    try:
        executions = sfn.list_executions(**kwargs)["executions"]
    except ClientError as exc:
        if error_code(exc) == "StateMachineDoesNotExist":
            raise UserError(
                explain(exc, f"state machine {state_machine_arn!r}") or str(exc)
            ) from None
        raise
    executions.sort(
        key=lambda e: parse_time(e.get("startDate")) or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    return executions[:limit]


def latest_execution(aws: Aws, state_machine_arn: str) -> dict[str, Any] | None:
    found = list_executions(aws, state_machine_arn, 1)
    return found[0] if found else None


def recent_summaries(aws: Aws, bucket: str, runs_prefix: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recently written run summaries, newest first."""
    objects: list[dict[str, Any]] = []
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=runs_prefix):
        objects += [o for o in page.get("Contents", []) if o.get("Key", "").endswith(".json")]
    objects.sort(key=lambda o: parse_time(o.get("LastModified")) or _EPOCH, reverse=True)
    found = []
    for obj in objects[:limit]:
        name = obj["Key"][len(runs_prefix) : -len(".json")]
        summary = read_summary(aws.s3, bucket, runs_prefix, name)
        if summary is not None:
            summary.setdefault("executionName", name)
            found.append(summary)
    return found


@dataclass(frozen=True)
class RunFigures:
    """What a run cost, read from its summary."""

    name: str
    outcome: str
    started: datetime | None
    finished: datetime | None
    model_minutes: float
    inference_units: int
    cost: float
    backlog: int | None
    left: int | None
    started_model: bool
    error: str | None


def figures(
    summary: Mapping[str, Any], price_per_iu_hour: float, default_units: int = 1
) -> RunFigures:
    ts = summary.get("timestamps") or {}
    config = summary.get("config") or {}
    started = parse_time(ts.get("executionStarted"))
    finished = parse_time(ts.get("summaryWritten"))
    running = parse_time(ts.get("modelRunning"))
    stop = parse_time(ts.get("modelStopRequested")) or finished
    minutes = max((stop - running).total_seconds() / 60, 0.0) if running and stop else 0.0
    units = int(config.get("minInferenceUnits") or default_units)
    error = summary.get("error")
    error_text = None
    if isinstance(error, Mapping) and (error.get("Error") or error.get("Cause")):
        error_text = f"{error.get('Error') or 'Error'}: {error.get('Cause') or ''}".strip(": ")
    return RunFigures(
        name=str(summary.get("executionName") or ""),
        outcome=str(summary.get("outcome") or "unknown"),
        started=started,
        finished=finished,
        model_minutes=minutes,
        inference_units=units,
        cost=minutes / 60 * units * price_per_iu_hour,
        backlog=(summary.get("backlogAtStart") or {}).get("total"),
        left=(summary.get("queueAtEnd") or {}).get("total"),
        started_model=bool(summary.get("startedByThisRun")),
        error=error_text,
    )


def describe_model(aws: Aws, project_arn: str, version_name: str) -> dict[str, Any]:
    """The model version's description; a UserError names a wrong ARN or version."""
    what = f"model version {version_name!r} of {project_arn!r}"
    try:
        found = describe_model_version(aws.client("rekognition"), project_arn, version_name)
    except ClientError as exc:
        raise UserError(explain(exc, what) or str(exc)) from None
    if found is None:
        raise UserError(
            f"{what} was not found: check projectVersionArn (`pulumi config get projectVersionArn`)"
        )
    return found
