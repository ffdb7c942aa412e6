"""Validation of the workflow's resources and options (params.py), run when each
is made.

Rejects values AWS would accept but that make a broken workflow, raising
:class:`OptionError` naming the field, so a bad stack config fails at ``pulumi
up`` (preview) instead of in the first scheduled run. The rules that relate
two stack config keys as well (:func:`confirm_within_poll`,
:func:`max_units_within_bounds`) are written here once; infra/config's rules
call them with the keys' values.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from infra.contract import OUTCOMES
from infra.sizing import MAX_CONCURRENCY, MIN_CONCURRENCY
from infra.statemachine.params import (
    COST_UNIT_USD,
    MAX_RUN_COST_UNITS,
    MIN_DRAIN_POLLS,
    OWNERSHIP_EXCLUSIVE,
    OWNERSHIP_SHARED,
    SQS_MAX_RECEIVE,
)

if TYPE_CHECKING:
    from infra.statemachine.params import StackResources, WorkflowOptions

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
    "mapping_poll_seconds",
    "mapping_wait_seconds",
)
_NON_NEGATIVE = (
    "target_run_minutes",
    "drain_confirm_seconds",
    "disable_grace_seconds",
    "guard_settle_seconds",
    "peek_visibility_timeout_seconds",
)


class OptionError(ValueError):
    """A workflow option or resource the definition can not be built with."""

    def __init__(self, record: object, name: str, message: str) -> None:
        super().__init__(f"{type(record).__name__}.{name} {message}")
        self.field = name.split("[")[0]
        self.reason = message


def _fail(record: object, name: str, must: str, value: Any) -> None:
    raise OptionError(record, name, f"must be {must}, got {value!r}")


def _is_int(value: Any, low: int, high: int | None = None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    )


def _is_number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def validate_resources(r: StackResources) -> None:
    """Every resource named, the version of the project, the notification's ARNs."""
    for name in ("queue_url", "project_arn", "project_version_arn", "version_name",
                 "event_source_mapping_uuid", "final_bucket"):  # fmt: skip
        value = getattr(r, name)
        if not isinstance(value, str) or not value:
            _fail(r, name, "a non-empty string", value)
    if _project_of(r.project_version_arn) != _project_of(r.project_arn):
        raise OptionError(
            r,
            "project_version_arn",
            f"must belong to project_arn: {r.project_version_arn!r} vs {r.project_arn!r}",
        )
    for name, pattern in (
        ("notification_topic_arn", _TOPIC_ARN),
        ("event_bus_arn", _EVENT_BUS_ARN),
    ):
        value = getattr(r, name)
        if value is not None and (not isinstance(value, str) or not pattern.match(value)):
            _fail(r, name, "None or an ARN", value)


def confirm_within_poll(confirm: int, poll: int) -> str | None:
    """The drain confirmation (0: the default) waits at most one longest poll."""
    if confirm > poll:
        return f"must be 0 (the default) or at most the poll interval ({poll} s), got {confirm}"
    return None


def max_units_within_bounds(max_units: int | None, min_units: int) -> str | None:
    """Auto-scaling's ceiling (None/0: no auto-scaling) is at least the units started."""
    if max_units and max_units < min_units:
        return (
            f"must be none (no auto-scaling) or at least the inference units started "
            f"({min_units}), got {max_units}"
        )
    return None


def validate_options(o: WorkflowOptions) -> None:
    """Every wait, count and deadline in range, and the run within its budgets."""
    if o.ownership not in (OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED):
        _fail(o, "ownership", f"{OWNERSHIP_EXCLUSIVE!r} or {OWNERSHIP_SHARED!r}", o.ownership)
    prefix = o.runs_prefix
    if not prefix.endswith("/") or prefix.startswith("/"):
        _fail(o, "runs_prefix", "a key prefix ending in '/'", prefix)
    for name in _POSITIVE:
        if not _is_int(getattr(o, name), 1):
            _fail(o, name, "an integer >= 1", getattr(o, name))
    for name in _NON_NEGATIVE:
        if not _is_int(getattr(o, name), 0):
            _fail(o, name, "an integer >= 0", getattr(o, name))
    if o.fast_poll_seconds > o.poll_interval_seconds:
        _fail(
            o,
            "fast_poll_seconds",
            f"<= poll_interval_seconds ({o.poll_interval_seconds})",
            o.fast_poll_seconds,
        )
    _validate_ladder(o, o.model_poll_ladder)
    if not _is_number(o.tps_per_unit, 1e-9, 1000):
        _fail(o, "tps_per_unit", "a number in (0, 1000]", o.tps_per_unit)
    for index, value in enumerate(o.concurrency_by_units):
        if not _is_int(value, MIN_CONCURRENCY, MAX_CONCURRENCY):
            _fail(
                o,
                f"concurrency_by_units[{index}]",
                f"an integer {MIN_CONCURRENCY}..{MAX_CONCURRENCY}",
                value,
            )
    if not _is_number(o.price_per_inference_unit_hour, 0, 1000):
        _fail(
            o, "price_per_inference_unit_hour", "a number 0..1000", o.price_per_inference_unit_hour
        )
    confirm_error = confirm_within_poll(o.drain_confirm_seconds, o.poll_interval_seconds)
    if confirm_error:
        raise OptionError(o, "drain_confirm_seconds", confirm_error)
    if not _is_int(o.test_event_peek_max, 0, SQS_MAX_RECEIVE):
        _fail(o, "test_event_peek_max", f"an integer 0..{SQS_MAX_RECEIVE}", o.test_event_peek_max)
    if o.max_inference_units is not None and not _is_int(o.max_inference_units, 1):
        _fail(o, "max_inference_units", "None or an integer >= 1", o.max_inference_units)
    units_error = max_units_within_bounds(o.max_inference_units, o.min_inference_units)
    if units_error:
        raise OptionError(o, "max_inference_units", units_error)
    _validate_outcomes(o)
    _validate_budgets(o)


def _validate_ladder(o: WorkflowOptions, ladder: Any) -> None:
    if not isinstance(ladder, tuple) or any(
        not (isinstance(rung, tuple) and len(rung) == 2) or not all(_is_int(v, 1) for v in rung)
        for rung in ladder
    ):
        _fail(
            o, "model_poll_ladder", "a tuple of (until seconds, every seconds) pairs >= 1", ladder
        )
    if [until for until, _ in ladder] != sorted({until for until, _ in ladder}):
        _fail(o, "model_poll_ladder", "in increasing `until` order", ladder)


def _validate_budgets(o: WorkflowOptions) -> None:
    """Step Functions' history limit, and the cost estimate's integer range."""
    if o.drain_poll_budget < MIN_DRAIN_POLLS:
        raise OptionError(
            o,
            "model_start_timeout_seconds",
            f"(with max_start_attempts and the describe ladder) leaves the drain fewer than "
            f"{MIN_DRAIN_POLLS} polls within Step Functions' history limit: {o.drain_poll_budget}",
        )
    worst_cost = (
        o.max_units
        * o.price_per_inference_unit_hour
        * (o.max_run_seconds + o.max_drain_polls * o.confirm_seconds)
        / 3600
    )
    if worst_cost / COST_UNIT_USD > MAX_RUN_COST_UNITS:
        raise OptionError(
            o,
            "price_per_inference_unit_hour",
            f"x units x max_run_seconds: a run could cost {worst_cost:,.0f} USD, more than "
            "the cost estimate can count",
        )


def _validate_outcomes(o: WorkflowOptions) -> None:
    """A non-empty set of known outcomes."""
    outcomes = o.notify_outcomes
    if (
        not isinstance(outcomes, tuple)
        or not outcomes
        or any(outcome not in OUTCOMES for outcome in outcomes)
        or len(set(outcomes)) != len(outcomes)
    ):
        _fail(
            o,
            "notify_outcomes",
            f"a non-empty tuple of distinct outcomes from {OUTCOMES}",
            outcomes,
        )


def _project_of(arn: str) -> str:
    """'arn:...:project/<name>/...' -> 'arn:...:project/<name>' (project and version ARNs)."""
    head, sep, rest = arn.partition(":project/")
    return head + sep + rest.split("/", 1)[0]
