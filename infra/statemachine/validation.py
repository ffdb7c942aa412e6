"""Validation of :class:`~infra.statemachine.params.WorkflowParams`.

Rejects parameters AWS would accept but that make a broken workflow, raising
ValueError naming the field, so a bad stack config fails at ``pulumi up``
(preview) instead of in the first scheduled run.
"""

from __future__ import annotations

import re
from typing import Any

from infra.contract import OUTCOMES
from infra.sizing import MAX_CONCURRENCY, MIN_CONCURRENCY
from infra.statemachine.params import (
    COST_UNIT_USD,
    MAX_RUN_COST_UNITS,
    MIN_DRAIN_POLLS,
    OWNERSHIP_EXCLUSIVE,
    OWNERSHIP_SHARED,
    RESOURCE_FIELDS,
    SQS_MAX_RECEIVE,
    WorkflowParams,
)

_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_EVENT_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]+$")

# Fields that must be whole numbers of at least 1 / at least 0.
_POSITIVE = (
    "min_inference_units",
    "poll_interval_seconds",
    "model_poll_seconds",
    "model_start_timeout_seconds",
    "max_run_seconds",
    "model_check_seconds",
    "retry_interval_seconds",
    "retry_max_attempts",
    "fast_poll_seconds",
    "max_planned_units",
    "max_start_attempts",
)
_NON_NEGATIVE = (
    "target_run_minutes",
    "disable_grace_seconds",
    "guard_settle_seconds",
    "peek_visibility_timeout_seconds",
)


def _fail(name: str, must: str, value: Any) -> None:
    raise ValueError(f"WorkflowParams.{name} must be {must}, got {value!r}")


def _is_int(value: Any, low: int, high: int | None = None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    )


def _is_number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def validate(params: WorkflowParams) -> None:
    """Reject parameters that make a broken workflow, naming the field."""
    for name in RESOURCE_FIELDS:
        value = getattr(params, name)
        if not isinstance(value, str) or not value:
            _fail(name, "a non-empty string", value)
    if _project_of(params.project_version_arn) != _project_of(params.project_arn):
        raise ValueError(
            "WorkflowParams.project_version_arn must belong to project_arn: "
            f"{params.project_version_arn!r} vs {params.project_arn!r}"
        )
    if params.ownership not in (OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED):
        _fail("ownership", f"{OWNERSHIP_EXCLUSIVE!r} or {OWNERSHIP_SHARED!r}", params.ownership)
    prefix = params.runs_prefix
    if not prefix.endswith("/") or prefix.startswith("/"):
        _fail("runs_prefix", "a key prefix ending in '/'", prefix)
    for name in _POSITIVE:
        if not _is_int(getattr(params, name), 1):
            _fail(name, "an integer >= 1", getattr(params, name))
    for name in _NON_NEGATIVE:
        if not _is_int(getattr(params, name), 0):
            _fail(name, "an integer >= 0", getattr(params, name))
    if params.fast_poll_seconds > params.poll_interval_seconds:
        _fail(
            "fast_poll_seconds",
            f"<= poll_interval_seconds ({params.poll_interval_seconds})",
            params.fast_poll_seconds,
        )
    _validate_ladder(params.model_poll_ladder)
    if not _is_number(params.tps_per_unit, 1e-9, 1000):
        _fail("tps_per_unit", "a number in (0, 1000]", params.tps_per_unit)
    for index, value in enumerate(params.concurrency_by_units):
        if not _is_int(value, MIN_CONCURRENCY, MAX_CONCURRENCY):
            _fail(
                f"concurrency_by_units[{index}]",
                f"an integer {MIN_CONCURRENCY}..{MAX_CONCURRENCY}",
                value,
            )
    if not _is_number(params.price_per_inference_unit_hour, 0, 1000):
        _fail(
            "price_per_inference_unit_hour",
            "a number 0..1000",
            params.price_per_inference_unit_hour,
        )
    confirm = params.drain_confirm_seconds
    if confirm is not None and not _is_int(confirm, 1, params.poll_interval_seconds):
        _fail(
            "drain_confirm_seconds",
            f"an integer from 1 to poll_interval_seconds ({params.poll_interval_seconds})",
            confirm,
        )
    if not _is_int(params.test_event_peek_max, 0, SQS_MAX_RECEIVE):
        _fail("test_event_peek_max", f"an integer 0..{SQS_MAX_RECEIVE}", params.test_event_peek_max)
    if params.max_inference_units is not None and not _is_int(
        params.max_inference_units, params.min_inference_units
    ):
        _fail(
            "max_inference_units",
            f"None or an integer >= min_inference_units ({params.min_inference_units})",
            params.max_inference_units,
        )
    _validate_notification(params)
    _validate_budgets(params)


def _validate_ladder(ladder: Any) -> None:
    if not isinstance(ladder, tuple) or any(
        not (isinstance(rung, tuple) and len(rung) == 2) or not all(_is_int(v, 1) for v in rung)
        for rung in ladder
    ):
        _fail("model_poll_ladder", "a tuple of (until seconds, every seconds) pairs >= 1", ladder)
    if [until for until, _ in ladder] != sorted({until for until, _ in ladder}):
        _fail("model_poll_ladder", "in increasing `until` order", ladder)


def _validate_budgets(params: WorkflowParams) -> None:
    """Step Functions' history limit, and the cost estimate's integer range."""
    if params.drain_poll_budget < MIN_DRAIN_POLLS:
        raise ValueError(
            "WorkflowParams.model_start_timeout_seconds (with max_start_attempts and the "
            f"describe ladder) leaves the drain fewer than {MIN_DRAIN_POLLS} polls within "
            f"Step Functions' history limit: {params.drain_poll_budget}"
        )
    worst_cost = (
        params.max_units
        * params.price_per_inference_unit_hour
        * (params.max_run_seconds + params.max_drain_polls * params.confirm_seconds)
        / 3600
    )
    if worst_cost / COST_UNIT_USD > MAX_RUN_COST_UNITS:
        raise ValueError(
            "WorkflowParams.price_per_inference_unit_hour x units x max_run_seconds: a run "
            f"could cost {worst_cost:,.0f} USD, more than the cost estimate can count"
        )


def _validate_notification(params: WorkflowParams) -> None:
    """An SNS topic ARN and an event bus ARN (each optional), and a non-empty set
    of known outcomes."""
    for name, pattern in (
        ("notification_topic_arn", _TOPIC_ARN),
        ("event_bus_arn", _EVENT_BUS_ARN),
    ):
        value = getattr(params, name)
        if value is not None and (not isinstance(value, str) or not pattern.match(value)):
            _fail(name, "None or an ARN", value)
    outcomes = params.notify_outcomes
    if (
        not isinstance(outcomes, tuple)
        or not outcomes
        or any(outcome not in OUTCOMES for outcome in outcomes)
        or len(set(outcomes)) != len(outcomes)
    ):
        _fail(
            "notify_outcomes", f"a non-empty tuple of distinct outcomes from {OUTCOMES}", outcomes
        )


def _project_of(arn: str) -> str:
    """'arn:...:project/<name>/...' -> 'arn:...:project/<name>' (project and version ARNs)."""
    head, sep, rest = arn.partition(":project/")
    return head + sep + rest.split("/", 1)[0]
