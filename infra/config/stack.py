"""The stack config as read (one field per key), the values derived from it, and
the workflow's options built from it (pure)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from infra.config.keys import KEYS, ConfigError
from infra.config.limits import (
    DISABLE_GRACE_MARGIN_SECONDS,
    KMS_CREATE,
    MODEL_ALARM_MARGIN_MINUTES,
    STALL_ALARM_MAX_MINUTES,
    STALL_ALARM_MIN_MINUTES,
)
from infra.contract import DEFAULT_RUNS_PREFIX
from infra.schedule import ScheduleError
from infra.schedule import parse as parse_schedule
from infra.sizing import DEFAULT_TPS_PER_UNIT, derive_concurrency, planned_units_bound
from infra.statemachine import OptionError, WorkflowOptions
from runtime import settings as runtime_settings
from runtime.arns import VERSION_ARN


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Every key's value as declared (infra/config/keys.py: one field per key, in
    snake_case, where 0 keeps the key's meaning, e.g. "derive"); derived values are
    properties, and the workflow's options one object, :attr:`workflow`."""

    project_version_arn: str
    project_arn: str | None
    min_confidence: float
    max_results: int
    schedule: str
    schedule_timezone: str
    min_inference_units: int
    max_inference_units: int  # 0: no auto-scaling
    tps_per_unit: float
    target_run_minutes: int  # 0: off
    max_planned_units: int
    poll_interval_seconds: int
    drain_confirm_seconds: int  # 0: the workflow's default (WorkflowOptions.confirm_seconds)
    model_start_timeout_minutes: int
    max_run_minutes: int
    model_ownership: str
    batch_size: int
    batch_window_seconds: int
    max_concurrency: int  # 0: derive (mapping_max_concurrency)
    image_suffixes: tuple[str, ...]
    force_destroy: bool
    log_retention_days: int
    lambda_architecture: str
    lambda_memory_mb: int
    lambda_timeout_seconds: int
    lambda_bundle: str | None
    max_receive_count: int
    workflow_log_level: str
    price_per_inference_unit_hour: float
    stall_alarm_minutes: int  # 0: derive (stall_alarm_after_minutes)
    alarm_email: str | None
    notify_email: str | None
    notify_on_outcomes: tuple[str, ...]
    label_thresholds: dict[str, float]  # label -> confidence
    alert_labels: dict[str, float]  # label -> confidence
    alert_email: str | None  # an EventBridge rule -> SNS e-mail for the alerts
    kms_key: str | None  # None: SSE-S3/SQS-managed; KMS_CREATE; or a key ARN
    # Pulumi's aws:region (the provider's, not a key of this project); None: unset.
    deploy_region: str | None = None

    @classmethod
    def read(cls, get: Callable[[str], str | None]) -> StackConfig:
        """Every key read through its declaration (``get(name)``: the raw config
        string or None); rules across keys are not checked here (rules.py)."""
        region = (get("aws:region") or "").strip() or None
        return cls(**{key.field: key.read(get(key.name)) for key in KEYS}, deploy_region=region)

    @cached_property
    def workflow(self) -> WorkflowOptions:
        """The workflow's options, built once from this configuration."""
        return workflow_options(self)

    @property
    def create_kms_key(self) -> bool:
        return self.kms_key == KMS_CREATE

    @property
    def mapping_max_concurrency(self) -> int:
        """The mapping's MaximumConcurrency as deployed: maxConcurrency, or derived
        from the auto-scaling ceiling (else the units started)."""
        if self.max_concurrency:
            return self.max_concurrency
        return derive_max_concurrency(
            self.max_inference_units or self.min_inference_units, self.batch_size, self.tps_per_unit
        )

    @property
    def max_concurrency_derived(self) -> bool:
        return self.max_concurrency == 0

    @property
    def stall_alarm_after_minutes(self) -> int:
        """The stall alarm's threshold: stallAlarmMinutes, or derived from the schedule."""
        return self.stall_alarm_minutes or default_stall_alarm_minutes(
            self.schedule, self.max_run_minutes
        )

    @property
    def stall_alarm_minutes_derived(self) -> bool:
        return self.stall_alarm_minutes == 0

    @property
    def _arn(self) -> re.Match[str]:
        match = VERSION_ARN.match(self.project_version_arn)
        assert match is not None  # validated by load()
        return match

    @property
    def partition(self) -> str:
        return self._arn["partition"]

    @property
    def region(self) -> str:
        return self._arn["region"]

    @property
    def account_id(self) -> str:
        return self._arn["account"]

    @property
    def schedule_group_arn(self) -> str:
        """The Scheduler group the schedule lives in (the account's default group)."""
        return (
            f"arn:{self.partition}:scheduler:{self.region}:{self.account_id}:schedule-group/default"
        )

    @property
    def project_name(self) -> str:
        return self._arn["project"]

    @property
    def version_name(self) -> str:
        return self._arn["version"]

    @property
    def handler_concurrency(self) -> int:
        return handler_concurrency(self.batch_size)

    @property
    def queue_visibility_timeout_seconds(self) -> int:
        """AWS's rule for SQS event sources: at least 6x the function timeout, plus the
        batching window, so a message is not redelivered while a retry is still running."""
        return visibility_timeout(self.lambda_timeout_seconds, self.batch_window_seconds)

    @property
    def retry_visibility(self) -> tuple[int, int]:
        """(base, cap) of the visibility the handler gives records it reports for retry."""
        return retry_visibility(self.queue_visibility_timeout_seconds)

    @property
    def disable_grace_seconds(self) -> int:
        """After max-run: how long the model stays up for batches still in flight."""
        return (
            self.lambda_timeout_seconds + self.batch_window_seconds + DISABLE_GRACE_MARGIN_SECONDS
        )

    @property
    def planned_units_bound(self) -> int:
        """The most units a run may plan (and the concurrency table's length)."""
        return planned_units_bound(
            self.min_inference_units, self.max_inference_units or None, self.max_planned_units
        )

    @property
    def concurrency_by_units(self) -> tuple[int, ...]:
        """The mapping's MaximumConcurrency for a run planned at 1, 2, ... units: the
        configured maxConcurrency, or derived per plan from tpsPerUnit."""
        units = range(1, self.planned_units_bound + 1)
        if not self.max_concurrency_derived:
            return tuple(self.max_concurrency for _ in units)
        return tuple(derive_max_concurrency(u, self.batch_size, self.tps_per_unit) for u in units)

    @property
    def model_alarm_minutes(self) -> int:
        """Longest a run may legitimately keep the model up, plus a margin."""
        return (
            self.model_start_timeout_minutes
            + self.max_run_minutes
            + math.ceil(self.disable_grace_seconds / 60)
            + MODEL_ALARM_MARGIN_MINUTES
        )


def visibility_timeout(function_timeout: int, batch_window: int) -> int:
    return 6 * function_timeout + batch_window


def retry_visibility(queue_visibility_timeout: int) -> tuple[int, int]:
    """(base, cap) seconds of the handler's retry visibility for a queue: the runtime's
    defaults, the cap at most half the queue's visibility timeout (a retried record must
    come back sooner than the queue would bring it back anyway)."""
    defaults = runtime_settings.DEFAULTS
    cap = min(
        int(defaults[runtime_settings.RETRY_VISIBILITY_MAX_SECONDS]),
        max(0, queue_visibility_timeout // 2),
    )
    base = min(int(defaults[runtime_settings.RETRY_VISIBILITY_BASE_SECONDS]), cap)
    return base, cap


_ANY = ("*", "?")


def schedule_period_minutes(schedule: str) -> int | None:
    """The longest gap between two runs of ``schedule``, where it can be told simply.

    rate(N unit): N units. cron(...): a day when every day of every month
    matches, a week when only the days of the week are restricted (an upper
    bound: the expression may well run more often). at(...) and other crons
    (days of the month, months): None, there is no regular period.
    """
    try:
        parsed = parse_schedule(schedule)
    except ScheduleError:
        return None
    if parsed.rate_minutes is not None:
        return parsed.rate_minutes
    if parsed.cron is not None:
        _, _, day_of_month, month, day_of_week, _ = parsed.cron
        if month not in _ANY or day_of_month not in _ANY:
            return None
        return 24 * 60 if day_of_week in _ANY else 7 * 24 * 60
    return None


def default_stall_alarm_minutes(schedule: str, max_run_minutes: int) -> int:
    """2 x the schedule's period + maxRunMinutes (a backlog older than that has missed
    two runs), capped at STALL_ALARM_MAX_MINUTES; that cap without a period."""
    period = schedule_period_minutes(schedule)
    if period is None:
        return STALL_ALARM_MAX_MINUTES
    return max(STALL_ALARM_MIN_MINUTES, min(2 * period + max_run_minutes, STALL_ALARM_MAX_MINUTES))


def handler_concurrency(batch_size: int) -> int:
    """Images one invocation works on at once (the runtime's MAX_CONCURRENCY): an
    invocation receives at most batchSize records, so it can work on all of them."""
    return max(1, min(batch_size, 1000))


def derive_max_concurrency(
    inference_units: int, batch_size: int, tps_per_unit: float = DEFAULT_TPS_PER_UNIT
) -> int:
    """Default MaximumConcurrency of the event source mapping for this many units.

    The rule (Little's law: provisioned TPS x time per image / images per
    invocation, with headroom) lives with the workflow's sizing in infra/sizing.py,
    where bench/bench_model_time.py measures it."""
    return derive_concurrency(
        inference_units,
        tps_per_unit,
        batch_size=batch_size,
        handler_concurrency=handler_concurrency(batch_size),
    )


# The WorkflowOptions set from the configuration: field -> (the key a bad value is
# reported under, the value). The options not listed keep their production
# defaults (infra/statemachine/params.py).
_WORKFLOW_OPTIONS: dict[str, tuple[str, Callable[[StackConfig], Any]]] = {
    "min_inference_units": ("minInferenceUnits", lambda c: c.min_inference_units),
    "max_inference_units": ("maxInferenceUnits", lambda c: c.max_inference_units or None),
    "ownership": ("modelOwnership", lambda c: c.model_ownership),
    "tps_per_unit": ("tpsPerUnit", lambda c: c.tps_per_unit),
    "target_run_minutes": ("targetRunMinutes", lambda c: c.target_run_minutes),
    "max_planned_units": ("maxPlannedUnits", lambda c: c.max_planned_units),
    "concurrency_by_units": ("maxConcurrency", lambda c: c.concurrency_by_units),
    "price_per_inference_unit_hour": (
        "pricePerInferenceUnitHour",
        lambda c: c.price_per_inference_unit_hour,
    ),
    "poll_interval_seconds": ("pollIntervalSeconds", lambda c: c.poll_interval_seconds),
    "drain_confirm_seconds": ("drainConfirmSeconds", lambda c: c.drain_confirm_seconds),
    "model_start_timeout_seconds": (
        "modelStartTimeoutMinutes",
        lambda c: c.model_start_timeout_minutes * 60,
    ),
    "max_run_seconds": ("maxRunMinutes", lambda c: c.max_run_minutes * 60),
    "disable_grace_seconds": ("lambdaTimeoutSeconds", lambda c: c.disable_grace_seconds),
    "notify_outcomes": ("notifyOnOutcomes", lambda c: c.notify_on_outcomes),
    "runs_prefix": ("", lambda c: DEFAULT_RUNS_PREFIX),
}


def workflow_options(cfg: StackConfig) -> WorkflowOptions:
    """The workflow's options from the configuration; an option the workflow refuses
    is a :class:`ConfigError` naming the key it came from."""
    try:
        return WorkflowOptions(
            **{name: value(cfg) for name, (_, value) in _WORKFLOW_OPTIONS.items()}
        )
    except OptionError as error:
        key = _WORKFLOW_OPTIONS.get(error.field, ("",))[0]
        raise ConfigError(key or error.field, error.reason) from None
