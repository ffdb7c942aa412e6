"""Stack configuration: declared once, read once, validated before anything is created.

``KEYS`` is the single declaration of every config key (type, default,
description). Pulumi.yaml's ``config:`` block, the config table in the docs and
the defaults applied by :func:`load` all come from it, and a test proves
Pulumi.yaml matches it, so the three never drift apart.

:func:`load` is pure (``get`` returns the raw string Pulumi would give, or None),
so every validation rule is unit-tested without Pulumi. A bad value fails
``pulumi up``/``preview`` before any resource is touched, with a
:class:`ConfigError` whose message starts with the key's name.
"""

from __future__ import annotations

import json
import math
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.contract import DEFAULT_NOTIFY_OUTCOMES, OUTCOMES
from infra.sizing import DEFAULT_TPS_PER_UNIT
from infra.statemachine import OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED
from runtime.arns import PROJECT_ARN, VERSION_ARN

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_RUNTIME = "python3.12"
ARCHITECTURES = ("arm64", "x86_64")
WORKFLOW_LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# Margin added to the expected model running time before the "model running too
# long" alarm fires: covers StopProjectVersion latency and metric granularity.
MODEL_ALARM_MARGIN_MINUTES = 15
# Queue retention. A message's age counts from its first enqueue, also in the
# DLQ, so the DLQ keeps messages longer than the queue (SQS's maximum, 14 days):
# a message dead-lettered on its last day in the queue still has 4 days in the
# DLQ to be looked at and redriven. A backlog older than 10 days (a pipeline
# paused that long) expires from the queue, never from S3: `rekbatch backfill`
# queues what is still in the source bucket again.
QUEUE_RETENTION_SECONDS = 10 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# After max-run disables the mapping, the model stays up for the invocations
# already running (up to the function timeout) and the batches a poller was
# still gathering (the batching window), plus this margin for the mapping's
# Disabling -> Disabled transition.
DISABLE_GRACE_MARGIN_SECONDS = 15
# CloudWatch evaluates at most one day of data per alarm (period x periods).
ALARM_MAX_EVALUATION_MINUTES = 24 * 60
# The stall alarm (age of the oldest queued image) must fire while that image is
# still queued: at most the queue's retention minus a day left to act (fix the
# cause, run, redrive) before SQS deletes the message. Below 5 minutes it would
# only echo SQS's metric granularity.
STALL_ALARM_ACT_MARGIN_MINUTES = 24 * 60
STALL_ALARM_MIN_MINUTES = 5
STALL_ALARM_MAX_MINUTES = QUEUE_RETENTION_SECONDS // 60 - STALL_ALARM_ACT_MARGIN_MINUTES


@dataclass(frozen=True)
class Key:
    """One config key as declared in Pulumi.yaml."""

    name: str
    # Pulumi project config types: string | integer | boolean | array. Pulumi has no
    # float type; "number" keys are declared untyped in Pulumi.yaml (Pulumi then skips
    # its type check, so `pulumi config set minConfidence 62.5` works) and parsed here.
    type: str
    description: str
    default: Any = None  # None: required


KEYS: tuple[Key, ...] = (
    Key("projectVersionArn", "string",
        "ARN of the Rekognition Custom Labels model version "
        "(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP). Required."),
    Key("projectArn", "string",
        "ARN of the model's project (arn:aws:rekognition:REGION:ACCOUNT:project/NAME/TIMESTAMP). "
        "The version ARN does not contain the project's creation timestamp; when empty the "
        "program looks it up once with DescribeProjects.", default=""),
    Key("minConfidence", "number",
        "Minimum label confidence (0-100) passed to DetectCustomLabels.", default=50),
    Key("maxResults", "integer",
        "Maximum labels per image (0 = every label Rekognition returns).", default=0),
    Key("schedule", "string",
        "EventBridge Scheduler expression that starts a run: rate(...), cron(...) or at(...).",
        default="rate(1 hour)"),
    Key("scheduleTimezone", "string",
        "IANA time zone the schedule expression is evaluated in.", default="UTC"),
    Key("minInferenceUnits", "integer",
        "Inference units the model is started with (cost: units x price x hours).", default=1),
    Key("maxInferenceUnits", "integer",
        "Upper bound for Rekognition auto-scaling; 0 = no auto-scaling.", default=0),
    Key("tpsPerUnit", "number",
        "Planning figure: images/s one inference unit of this model labels (sizes runs, the "
        "Lambda concurrency and the drain polls; `rekbatch status` shows the observed value).",
        default=5),
    Key("targetRunMinutes", "integer",
        "Backlog-aware sizing: start each run with enough units to drain its backlog in about "
        "this long (units = ceil(backlog / (tpsPerUnit x 60 x targetRunMinutes)), bounded by "
        "minInferenceUnits and maxInferenceUnits or maxPlannedUnits); 0 = off.", default=0),
    Key("maxPlannedUnits", "integer",
        "Upper bound of a planned run's units when maxInferenceUnits is 0.", default=4),
    Key("pollIntervalSeconds", "integer",
        "Longest wait between queue-depth polls while the backlog drains (waits shrink as the "
        "backlog left shrinks, down to 2 s).", default=60),
    Key("drainConfirmSeconds", "integer",
        "Seconds from a poll that finds the queue empty to the poll that confirms it (the "
        "model idles, billed, in between); 0 = 5 s.", default=0),
    Key("modelStartTimeoutMinutes", "integer",
        "Give up (and clean up) when the model is not RUNNING after this long.", default=45),
    Key("maxRunMinutes", "integer",
        "End a run after this long even if the queue is not drained (the rest waits).",
        default=360),
    Key("modelOwnership", "string",
        "exclusive: always stop the model at the end of a run; shared: leave a model this "
        "run did not start running.", default=OWNERSHIP_EXCLUSIVE),
    Key("batchSize", "integer", "SQS messages per Lambda invocation (1-10000).", default=10),
    Key("batchWindowSeconds", "integer",
        "Seconds the event source mapping waits to fill a batch (0-300; >= 1 when "
        "batchSize > 10).", default=1),
    Key("maxConcurrency", "integer",
        "Maximum concurrent Lambda invocations for the queue (2-1000); 0 = derive it from "
        "the model's inference units.", default=0),
    Key("imageSuffixes", "array",
        "Object key suffixes that are queued for inference (matched in lower and upper case).",
        default=[".jpg", ".jpeg", ".png"]),
    Key("forceDestroy", "boolean",
        "Let `pulumi destroy` delete the buckets even when they still hold objects.",
        default=False),
    Key("logRetentionDays", "integer",
        "Retention of the function and workflow log groups (a CloudWatch Logs value).",
        default=30),
    Key("lambdaArchitecture", "string", "Inference function architecture: arm64 or x86_64.",
        default="arm64"),
    Key("lambdaMemoryMb", "integer", "Inference function memory (128-10240 MB).", default=512),
    Key("lambdaTimeoutSeconds", "integer",
        "Inference function timeout (1-900 s); the queue's visibility timeout is 6x this plus "
        "the batch window.", default=120),
    Key("lambdaBundle", "string",
        "Path to a prebuilt Lambda zip; empty = build it from requirements/runtime.txt and "
        "runtime/ (cached in .bundle-cache/).", default=""),
    Key("maxReceiveCount", "integer",
        "Receives of a message before it moves to the dead-letter queue (3-1000: the "
        "workflow's s3:TestEvent peek may receive a small backlog once per run).", default=5),
    Key("workflowLogLevel", "string",
        "State machine log level: ALL, ERROR, FATAL or OFF.", default="ERROR"),
    Key("pricePerInferenceUnitHour", "number",
        "Price of one inference unit hour (USD) used for cost estimates.",
        default=4.0),
    Key("stallAlarmMinutes", "integer",
        "Alarm when the oldest queued image has waited longer than this (SQS "
        "ApproximateAgeOfOldestMessage); 0 = derive it: 2 x the schedule's period + "
        "maxRunMinutes (cron: a day, or a week when days of the week are restricted), at most "
        "the queue's retention minus one day.", default=0),
    Key("alarmEmail", "string",
        "E-mail address subscribed to the alarm topic; empty = no subscription.", default=""),
    Key("notifyEmail", "string",
        "E-mail address subscribed to the run notification topic; empty = no subscription.",
        default=""),
    Key("notifyOnOutcomes", "array",
        "Run outcomes that send the run-end notification (SNS + EventBridge event): any of "
        "drained, max-run-reached, failed, skipped, nothing-to-do.",
        default=list(DEFAULT_NOTIFY_OUTCOMES)),
    Key("kmsKey", "string",
        "Encryption at rest: empty = SSE-S3 and SQS-managed keys; 'create' = a customer-managed "
        "KMS key of this stack (rotation on); or the ARN of an existing key (its policy must "
        "admit the services, see the README).", default=""),
)  # fmt: skip
KEYS_BY_NAME = {k.name: k for k in KEYS}

_VERSION_ARN = VERSION_ARN
_PROJECT_ARN = PROJECT_ARN
_SCHEDULE = re.compile(
    r"^(rate\(\s*\d+\s+(minute|minutes|hour|hours|day|days)\s*\)"
    r"|cron\(\s*\S+(\s+\S+){5}\s*\)"
    r"|at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\))$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"key/[A-Za-z0-9-]+$"
)
KMS_CREATE = "create"


class ConfigError(ValueError):
    """An invalid stack config value; the message starts with the key's name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class StackConfig:
    """Every stack setting, validated; derived values are properties."""

    project_version_arn: str
    project_arn: str | None
    min_confidence: float
    max_results: int
    schedule: str
    schedule_timezone: str
    min_inference_units: int
    max_inference_units: int | None
    tps_per_unit: float
    target_run_minutes: int  # 0: off
    max_planned_units: int
    poll_interval_seconds: int
    drain_confirm_seconds: int | None  # None: the workflow's default (5 s)
    model_start_timeout_minutes: int
    max_run_minutes: int
    model_ownership: str
    batch_size: int
    batch_window_seconds: int
    max_concurrency: int  # resolved: never 0
    max_concurrency_derived: bool
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
    alarm_email: str | None
    notify_email: str | None = None
    notify_outcomes: tuple[str, ...] = DEFAULT_NOTIFY_OUTCOMES
    kms_key: str | None = None  # None: SSE-S3/SQS-managed; KMS_CREATE; or a key ARN

    @property
    def create_kms_key(self) -> bool:
        return self.kms_key == KMS_CREATE

    stall_alarm_minutes: int = 0  # resolved: never 0 after load()
    stall_alarm_minutes_derived: bool = True

    @property
    def _arn(self) -> re.Match[str]:
        match = _VERSION_ARN.match(self.project_version_arn)
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
        return self.max_inference_units or max(self.max_planned_units, self.min_inference_units)

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
    from runtime import settings as runtime_settings

    defaults = runtime_settings.DEFAULTS
    cap = min(
        int(defaults[runtime_settings.RETRY_VISIBILITY_MAX_SECONDS]),
        max(0, queue_visibility_timeout // 2),
    )
    base = min(int(defaults[runtime_settings.RETRY_VISIBILITY_BASE_SECONDS]), cap)
    return base, cap


def load(get: Callable[[str], str | None]) -> StackConfig:
    """Read and validate every key. ``get(name)`` returns the raw config string or None."""

    def raw(name: str) -> Any:
        key = KEYS_BY_NAME[name]
        value = get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if key.default is None:
                raise ConfigError(name, f"is required (pulumi config set {name} ...)")
            return key.default
        return value

    def string(name: str) -> str:
        return str(raw(name)).strip()

    def integer(name: str, lo: int, hi: int) -> int:
        value = raw(name)
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            raise ConfigError(name, f"must be an integer, got {value!r}")
        if not lo <= number <= hi:
            raise ConfigError(name, f"must be between {lo} and {hi}, got {number}")
        return number

    def number(name: str, lo: float, hi: float) -> float:
        value = raw(name)
        try:
            result = float(str(value).strip())
        except ValueError:
            raise ConfigError(name, f"must be a number, got {value!r}") from None
        if not lo <= result <= hi:
            raise ConfigError(name, f"must be between {lo:g} and {hi:g}, got {result:g}")
        return result

    def boolean(name: str) -> bool:
        value = raw(name)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ConfigError(name, f"must be true or false, got {value!r}")

    def choice(name: str, options: tuple[str, ...]) -> str:
        value = string(name)
        if value not in options:
            raise ConfigError(name, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    # --- the model -----------------------------------------------------------------
    version_arn = string("projectVersionArn")
    version = _VERSION_ARN.match(version_arn)
    if not version:
        raise ConfigError(
            "projectVersionArn",
            "is not a Rekognition Custom Labels model version ARN "
            f"(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP): "
            f"{version_arn!r}",
        )
    project_arn = string("projectArn") or None
    if project_arn is not None:
        project = _PROJECT_ARN.match(project_arn)
        if not project:
            raise ConfigError(
                "projectArn",
                "is not a Rekognition project ARN "
                f"(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/TIMESTAMP): {project_arn!r}",
            )
        for part in ("partition", "region", "account", "project"):
            if project[part] != version[part]:
                raise ConfigError(
                    "projectArn",
                    f"does not match projectVersionArn: {part} {project[part]!r} != "
                    f"{version[part]!r} (the version must belong to this project)",
                )
    aws_region = get("aws:region")
    if aws_region and aws_region.strip() and aws_region.strip() != version["region"]:
        raise ConfigError(
            "projectVersionArn",
            f"the model is in {version['region']} but the stack deploys to {aws_region.strip()} "
            "(aws:region): DetectCustomLabels reads images from same-region buckets only",
        )

    min_units = integer("minInferenceUnits", 1, 1000)
    max_units_raw = integer("maxInferenceUnits", 0, 1000)
    if max_units_raw and max_units_raw < min_units:
        raise ConfigError(
            "maxInferenceUnits",
            f"must be 0 (no auto-scaling) or >= minInferenceUnits ({min_units}), got {max_units_raw}",
        )
    ownership = choice("modelOwnership", (OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED))

    # --- the schedule and the run ---------------------------------------------------
    schedule = string("schedule")
    if not _SCHEDULE.match(schedule):
        raise ConfigError(
            "schedule",
            f"must be rate(N minutes|hours|days), cron(6 fields) or at(yyyy-mm-ddThh:mm:ss), "
            f"got {schedule!r}",
        )
    timezone = string("scheduleTimezone")
    if not _valid_timezone(timezone):
        raise ConfigError("scheduleTimezone", f"is not an IANA time zone name: {timezone!r}")
    poll = integer("pollIntervalSeconds", 2, 3600)
    confirm = integer("drainConfirmSeconds", 0, 3600)
    if confirm > poll:
        raise ConfigError(
            "drainConfirmSeconds",
            f"must be 0 (5 s) or at most pollIntervalSeconds ({poll}), got {confirm}",
        )
    tps_per_unit = number("tpsPerUnit", 0.01, 1000)
    max_planned = integer("maxPlannedUnits", 1, 1000)
    if not max_units_raw and max_planned < min_units:
        raise ConfigError(
            "maxPlannedUnits",
            f"must be >= minInferenceUnits ({min_units}) when maxInferenceUnits is 0, "
            f"got {max_planned}",
        )
    start_timeout = integer("modelStartTimeoutMinutes", 1, 240)
    max_run = integer("maxRunMinutes", 1, 24 * 60)
    if start_timeout + max_run + MODEL_ALARM_MARGIN_MINUTES > ALARM_MAX_EVALUATION_MINUTES:
        raise ConfigError(
            "maxRunMinutes",
            f"modelStartTimeoutMinutes + maxRunMinutes + {MODEL_ALARM_MARGIN_MINUTES} must be <= "
            f"{ALARM_MAX_EVALUATION_MINUTES} (the model-running alarm watches at most one day), "
            f"got {start_timeout} + {max_run}",
        )
    target = integer("targetRunMinutes", 0, 24 * 60)
    if target > max_run:
        raise ConfigError(
            "targetRunMinutes",
            f"must be 0 (off) or at most maxRunMinutes ({max_run}): a run planned to take "
            f"longer would be cut at max-run, got {target}",
        )
    if poll * 2 > max_run * 60:
        raise ConfigError(
            "pollIntervalSeconds",
            f"two polls ({2 * poll} s) must fit in maxRunMinutes ({max_run} min) to detect a "
            "drained queue",
        )

    # --- the data path ---------------------------------------------------------------
    batch_size = integer("batchSize", 1, 10000)
    window = integer("batchWindowSeconds", 0, 300)
    if batch_size > 10 and window < 1:
        raise ConfigError(
            "batchWindowSeconds", f"must be >= 1 when batchSize > 10 (AWS rule), got {window}"
        )
    timeout = integer("lambdaTimeoutSeconds", 1, LAMBDA_MAX_TIMEOUT_SECONDS)
    if visibility_timeout(timeout, window) > SQS_MAX_VISIBILITY_SECONDS:
        raise ConfigError(
            "lambdaTimeoutSeconds",
            f"too long for the queue: 6 x {timeout} + batchWindowSeconds {window} = "
            f"{visibility_timeout(timeout, window)} s exceeds the SQS visibility timeout limit "
            f"of {SQS_MAX_VISIBILITY_SECONDS} s",
        )
    if visibility_timeout(timeout, window) > max_run * 60:
        raise ConfigError(
            "lambdaTimeoutSeconds",
            f"too long for the queue: a batch that fails becomes visible again only after the "
            f"visibility timeout (6 x {timeout} + batchWindowSeconds {window} = "
            f"{visibility_timeout(timeout, window)} s), longer than a run (maxRunMinutes "
            f"{max_run} = {max_run * 60} s): its retry would always wait for the next run",
        )
    concurrency = integer("maxConcurrency", 0, 1000)
    derived = concurrency == 0
    if derived:
        concurrency = derive_max_concurrency(max_units_raw or min_units, batch_size, tps_per_unit)
    elif concurrency < 2:
        raise ConfigError(
            "maxConcurrency",
            f"must be 0 (derive) or between 2 and 1000 (SQS event source limit), got {concurrency}",
        )
    suffixes = _suffixes(raw("imageSuffixes"))
    memory = integer("lambdaMemoryMb", 128, 10240)
    architecture = choice("lambdaArchitecture", ARCHITECTURES)
    retention = integer("logRetentionDays", 1, 3653)
    if retention not in LOG_RETENTION_DAYS:
        raise ConfigError(
            "logRetentionDays",
            f"must be a CloudWatch Logs retention value ({', '.join(map(str, LOG_RETENTION_DAYS))}),"
            f" got {retention}",
        )
    stall = integer("stallAlarmMinutes", 0, 10**6)
    stall_derived = stall == 0
    if stall_derived:
        stall = default_stall_alarm_minutes(schedule, max_run)
    elif not STALL_ALARM_MIN_MINUTES <= stall <= STALL_ALARM_MAX_MINUTES:
        raise ConfigError(
            "stallAlarmMinutes",
            f"must be 0 (derive) or between {STALL_ALARM_MIN_MINUTES} and "
            f"{STALL_ALARM_MAX_MINUTES}: the queue keeps a message "
            f"{QUEUE_RETENTION_SECONDS // 86400} days and the alarm must leave a day to act "
            f"before SQS deletes it, got {stall}",
        )
    email = string("alarmEmail") or None
    if email is not None and not _EMAIL.match(email):
        raise ConfigError("alarmEmail", f"is not an e-mail address: {email!r}")
    notify_email = string("notifyEmail") or None
    if notify_email is not None and not _EMAIL.match(notify_email):
        raise ConfigError("notifyEmail", f"is not an e-mail address: {notify_email!r}")
    notify_outcomes = _outcomes(raw("notifyOnOutcomes"))
    kms_key = string("kmsKey") or None
    if kms_key is not None and kms_key != KMS_CREATE:
        key = _KMS_KEY_ARN.match(kms_key)
        if not key:
            raise ConfigError(
                "kmsKey",
                f"must be empty, {KMS_CREATE!r} or a KMS key ARN "
                f"(arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias), got {kms_key!r}",
            )
        for part in ("partition", "region", "account"):
            if key[part] != version[part]:
                raise ConfigError(
                    "kmsKey",
                    f"the key's {part} {key[part]!r} is not the stack's ({version[part]!r}): "
                    "S3, SQS and CloudWatch Logs use keys of their own region and account",
                )

    return StackConfig(
        project_version_arn=version_arn,
        project_arn=project_arn,
        min_confidence=number("minConfidence", 0, 100),
        max_results=integer("maxResults", 0, 4096),
        schedule=schedule,
        schedule_timezone=timezone,
        min_inference_units=min_units,
        max_inference_units=max_units_raw or None,
        tps_per_unit=tps_per_unit,
        target_run_minutes=target,
        max_planned_units=max_planned,
        poll_interval_seconds=poll,
        drain_confirm_seconds=confirm or None,
        model_start_timeout_minutes=start_timeout,
        max_run_minutes=max_run,
        model_ownership=ownership,
        batch_size=batch_size,
        batch_window_seconds=window,
        max_concurrency=concurrency,
        max_concurrency_derived=derived,
        image_suffixes=suffixes,
        force_destroy=boolean("forceDestroy"),
        log_retention_days=retention,
        lambda_architecture=architecture,
        lambda_memory_mb=memory,
        lambda_timeout_seconds=timeout,
        lambda_bundle=string("lambdaBundle") or None,
        max_receive_count=integer("maxReceiveCount", 3, 1000),
        workflow_log_level=choice("workflowLogLevel", WORKFLOW_LOG_LEVELS),
        price_per_inference_unit_hour=number("pricePerInferenceUnitHour", 0, 1000),
        alarm_email=email,
        notify_email=notify_email,
        notify_outcomes=notify_outcomes,
        kms_key=kms_key,
        stall_alarm_minutes=stall,
        stall_alarm_minutes_derived=stall_derived,
    )


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_RATE_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 24 * 60}
_ANY = ("*", "?")


def schedule_period_minutes(schedule: str) -> int | None:
    """The longest gap between two runs of ``schedule``, where it can be told simply.

    rate(N unit): N units. cron(...): a day when every day of every month
    matches, a week when only the days of the week are restricted (an upper
    bound: the expression may well run more often). at(...) and other crons
    (days of the month, months): None, there is no regular period.
    """
    rate = _RATE.match(schedule.strip())
    if rate:
        return int(rate[1]) * _RATE_UNIT_MINUTES[rate[2].removesuffix("s")]
    if schedule.startswith("cron("):
        fields = schedule.strip()[5:-1].split()
        if len(fields) != 6:
            return None
        _, _, day_of_month, month, day_of_week, _ = fields
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
    from infra.sizing import derive_concurrency

    return derive_concurrency(
        inference_units,
        tps_per_unit,
        batch_size=batch_size,
        handler_concurrency=handler_concurrency(batch_size),
    )


def _suffixes(value: Any) -> tuple[str, ...]:
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise ConfigError("imageSuffixes", f"is not a JSON list: {text!r}") from None
        else:
            items = [s for s in text.split(",")]
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
        raise ConfigError("imageSuffixes", f"must be a list of suffixes like .jpg, got {value!r}")
    cleaned = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    if not cleaned:
        raise ConfigError("imageSuffixes", "must name at least one suffix")
    for suffix in cleaned:
        if not re.fullmatch(r"\.[a-z0-9]{1,10}", suffix):
            # One dot, so no two suffixes can overlap (S3 rejects overlapping filters).
            raise ConfigError(
                "imageSuffixes", f"each suffix must look like .jpg (dot + letters), got {suffix!r}"
            )
    if ".json" in cleaned:
        raise ConfigError(
            "imageSuffixes", "must not include .json: result and error documents end in .json"
        )
    return cleaned


def _outcomes(value: Any) -> tuple[str, ...]:
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        try:
            items = json.loads(text) if text.startswith("[") else text.split(",")
        except json.JSONDecodeError:
            raise ConfigError("notifyOnOutcomes", f"is not a JSON list: {text!r}") from None
    if not isinstance(items, list | tuple) or not all(isinstance(o, str) for o in items):
        raise ConfigError("notifyOnOutcomes", f"must be a list of run outcomes, got {value!r}")
    cleaned = tuple(dict.fromkeys(o.strip() for o in items if o.strip()))
    if not cleaned:
        raise ConfigError("notifyOnOutcomes", "must name at least one outcome")
    unknown = [o for o in cleaned if o not in OUTCOMES]
    if unknown:
        raise ConfigError(
            "notifyOnOutcomes",
            f"unknown outcome(s) {', '.join(map(repr, unknown))}: use {', '.join(OUTCOMES)}",
        )
    return cleaned


def _valid_timezone(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def pulumi_yaml_config() -> dict[str, dict[str, Any]]:
    """The ``config:`` block of Pulumi.yaml, generated from ``KEYS``."""
    block: dict[str, dict[str, Any]] = {}
    for key in KEYS:
        entry: dict[str, Any] = {"description": key.description}
        if key.type != "number":
            entry = {"type": key.type, **entry}
        if key.type == "array":
            entry["items"] = {"type": "string"}
        if key.default is not None:
            entry["default"] = key.default
        block[key.name] = entry
    return block


def markdown_table() -> str:
    """The config table of the docs, generated from ``KEYS``."""
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for key in KEYS:
        if key.default is None:
            default = "(required)"
        elif key.default == "":
            default = "(empty)"
        else:
            default = "`" + json.dumps(key.default).strip('"') + "`"
        lines.append(f"| `{key.name}` | {key.type} | {default} | {key.description} |")
    return "\n".join(lines) + "\n"


PULUMI_YAML_HEAD = """\
# Pulumi project: scheduled, cost-optimal batch inference for Rekognition Custom Labels.
# The `config:` block is generated from infra/config.py KEYS, the single declaration
# (tests/infra/test_config.py fails when they differ). Regenerate with:
#   .venv/bin/python -m infra.config --pulumi-yaml > Pulumi.yaml
name: rekognition-batch
description: Scheduled, cost-optimal batch inference for Amazon Rekognition Custom Labels
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: .venv
"""


def render_pulumi_yaml() -> str:
    """The whole Pulumi.yaml (PyYAML is a dependency of the pulumi SDK)."""
    import yaml

    body = yaml.safe_dump({"config": pulumi_yaml_config()}, sort_keys=False, width=100)
    return PULUMI_YAML_HEAD + body


DOCS_WITH_TABLE = ("README.md", "docs/infra.md")


def write_generated(root: str = ".") -> list[str]:
    """Rewrite Pulumi.yaml and the config tables of the docs from ``KEYS``."""
    from pathlib import Path

    changed = []
    targets = {"Pulumi.yaml": render_pulumi_yaml()}
    for doc in DOCS_WITH_TABLE:
        lines = (Path(root) / doc).read_text().splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith("| key | type | default"))
        end = start
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        targets[doc] = "".join([*lines[:start], markdown_table(), *lines[end:]])
    for name, text in targets.items():
        path = Path(root) / name
        if path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    return changed


if __name__ == "__main__":  # python -m infra.config --pulumi-yaml | --markdown | --write
    import sys

    if sys.argv[1:] == ["--pulumi-yaml"]:
        sys.stdout.write(render_pulumi_yaml())
    elif sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown_table())
    elif sys.argv[1:] == ["--write"]:
        print("updated:", ", ".join(write_generated()) or "nothing")
    else:
        sys.exit("usage: python -m infra.config --pulumi-yaml | --markdown | --write")
