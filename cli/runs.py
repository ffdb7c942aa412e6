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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from infra.statemachine.names import PLAN_UNITS_PREFIX

from .aws import Aws
from .errors import UserError, error_code, explain, reading
from .operations import describe_model_version, listed_objects, read_summary

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
    aws: Aws, state_machine_arn: str, limit: int | None, status: str | None = None
) -> list[dict[str, Any]]:
    """Newest first, at most ``limit`` (None: all), page after page (ListExecutions
    answers 1,000 at most per call, and may answer fewer with a nextToken)."""
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn}
    if status:
        kwargs["statusFilter"] = status
    if limit is not None:
        kwargs["PaginationConfig"] = {"MaxItems": max(1, limit), "PageSize": min(limit, 1000)}
    pages = aws.client("stepfunctions").get_paginator("list_executions").paginate(**kwargs)
    executions: list[dict[str, Any]] = []
    try:
        for page in pages:
            with reading("ListExecutions"):
                executions += [_listed_execution(e) for e in page["executions"]]
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
    return executions if limit is None else executions[:limit]


def _listed_execution(item: Any) -> dict[str, Any]:
    """One ListExecutions item, with the members callers read (the API model requires them)."""
    if not isinstance(item, dict):
        raise TypeError(f"an execution is a {type(item).__name__}, not an object")
    for member in ("executionArn", "name", "status"):
        if not isinstance(item.get(member), str):
            raise KeyError(f"an execution without {member!r}")
    return item


def running_execution(aws: Aws, state_machine_arn: str) -> dict[str, Any] | None:
    """The execution doing the work, if any (others started meanwhile stop at the guard)."""
    found = list_executions(aws, state_machine_arn, None, "RUNNING")
    return found[-1] if found else None  # the oldest RUNNING one is the one doing the work


def latest_execution(aws: Aws, state_machine_arn: str) -> dict[str, Any] | None:
    found = list_executions(aws, state_machine_arn, 1)
    return found[0] if found else None


def recent_summaries(aws: Aws, bucket: str, runs_prefix: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recently written run summaries, newest first."""
    objects: list[dict[str, Any]] = []
    for obj in listed_objects(aws.s3, bucket, runs_prefix):
        if obj["Key"].endswith(".json"):
            objects.append(obj)
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
    plan = summary.get("plan") or {}
    units = int(plan.get("units") or config.get("minInferenceUnits") or default_units)
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


# The plan of a run in progress: the Pass that wrote it (names.plan_units)
# carries it in its output.
# Runs shorter than this say more about the fixed overheads than about the model.
MIN_OBSERVED_DRAIN_SECONDS = 30.0
ADVICE_TOLERANCE = 0.2


def run_plan(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The plan a running (or finished) execution made, from its history (read from
    the start: the plan is made in the first few states): units,
    concurrency, planned images/s, and the backlog it planned for."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    for page in pages:
        with reading("GetExecutionHistory"):
            exits = [e.get("stateExitedEventDetails") or {} for e in page.get("events", [])]
            exits = [d for d in exits if str(d.get("name", "")).startswith(PLAN_UNITS_PREFIX)]
        for details in exits:
            try:
                output = json.loads(details.get("output") or "{}")
            except ValueError:
                return None
            plan = output.get("plan") if isinstance(output, dict) else None
            if not isinstance(plan, dict):
                return None
            backlog = output.get("backlog") or {}
            return {**plan, "backlog": backlog.get("total")}
    return None


def describe_plan(plan: Mapping[str, Any]) -> str:
    """'3 IU · concurrency 6 · ~4.2 min for 1,900 images at 7.5 images/s'."""
    units, concurrency = plan.get("units"), plan.get("concurrency")
    text = f"{units} IU · concurrency {concurrency}"
    tps, backlog = plan.get("tpsPlanned"), plan.get("backlog")
    if isinstance(tps, int | float) and tps > 0 and isinstance(backlog, int):
        text += f" · ~{backlog / tps / 60:.1f} min for {backlog:,} images at {tps:g} images/s"
    return text


def observed_tps_per_unit(summary: Mapping[str, Any]) -> float | None:
    """Images/s per inference unit a drained run achieved: the images it drained
    over the drain (mapping enabled to the first empty poll), per planned unit.
    None for runs too short or without the figures (schema 1, not drained)."""
    if summary.get("outcome") != "drained":
        return None
    ts = summary.get("timestamps") or {}
    enabled, ended = parse_time(ts.get("mappingEnabled")), parse_time(ts.get("drainEnded"))
    plan = summary.get("plan") or {}
    config = summary.get("config") or {}
    units = plan.get("units")
    start, end = summary.get("backlogAtStart") or {}, summary.get("queueAtEnd") or {}
    images = start.get("total")
    if not (enabled and ended and isinstance(units, int) and units > 0 and isinstance(images, int)):
        return None
    images -= int(end.get("total") or 0)
    seconds = (ended - enabled).total_seconds() - float(config.get("drainConfirmSeconds") or 0)
    if images <= 0 or seconds < MIN_OBSERVED_DRAIN_SECONDS:
        return None
    return images / seconds / units


def throughput_advice(summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Observed images/s per unit over recent runs against the tpsPerUnit the runs
    planned with, and the value to set when they differ by more than 20 %."""
    observed = [v for v in (observed_tps_per_unit(s) for s in summaries) if v is not None]
    planned = next(
        (
            (s.get("config") or {}).get("tpsPerUnit")
            for s in summaries
            if (s.get("config") or {}).get("tpsPerUnit")
        ),
        None,
    )
    result: dict[str, Any] = {"runs": len(observed), "planned": planned, "observed": None}
    if not observed:
        return result
    ordered = sorted(observed)
    median = ordered[len(ordered) // 2]
    result["observed"] = round(median, 2)
    if (
        isinstance(planned, int | float)
        and planned > 0
        and abs(median / planned - 1) > ADVICE_TOLERANCE
    ):
        result["advice"] = (
            f"runs achieve {median:.2f} images/s per unit, the stack plans with "
            f"{planned:g}: pulumi config set tpsPerUnit {median:.2f}"
        )
        if median > planned:
            result["advice"] += (
                " (the Lambda concurrency is sized from tpsPerUnit, so the model may "
                "be faster still)"
            )
    return result
