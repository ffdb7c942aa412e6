"""The stack config keys: each declared once, with its type, default,
description and its own bounds or format.

``KEYS`` is the single declaration: Pulumi.yaml's ``config:`` block and the
docs' tables are generated from it (docs.py), :func:`~infra.config.load` reads
every key through :meth:`Key.read`, and each key's value lands in the
:class:`~infra.config.stack.StackConfig` field of the same name in snake_case.
Rules that relate two keys are in rules.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.config import values
from infra.config.limits import (
    ARCHITECTURES,
    LAMBDA_MAX_TIMEOUT_SECONDS,
    QUEUE_RETENTION_SECONDS,
    STALL_ALARM_MAX_MINUTES,
    STALL_ALARM_MIN_MINUTES,
    WORKFLOW_LOG_LEVELS,
)
from infra.sizing import MAX_CONCURRENCY, MIN_CONCURRENCY
from infra.statemachine import (
    DEFAULT_CONFIRM_SECONDS,
    OWNERSHIP_EXCLUSIVE,
    OWNERSHIP_SHARED,
    WorkflowOptions,
)
from runtime import thresholds


class ConfigError(ValueError):
    """An invalid stack config value; the message starts with the key's name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _integer(value: Any) -> int:
    try:
        if not isinstance(value, bool):
            return int(str(value).strip())
    except ValueError:
        pass
    raise ValueError(f"must be an integer, got {value!r}")


def _number(value: Any) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None


def _boolean(value: Any) -> bool:
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in ("true", "1", "yes", "false", "0", "no"):
        return value if isinstance(value, bool) else text in ("true", "1", "yes")
    raise ValueError(f"must be true or false, got {value!r}")


_TYPES: dict[str, Callable[[Any], Any]] = {
    "string": lambda value: str(value).strip(),
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "array": lambda value: value,  # its parser reads the list
    "object": lambda value: value,  # its parser reads the object
}


@dataclass(frozen=True)
class Key:
    """One config key as declared in Pulumi.yaml, and what values it accepts."""

    name: str
    # Pulumi project config types: string | integer | boolean | array. Pulumi has no
    # float type; "number" keys are declared untyped in Pulumi.yaml (Pulumi then skips
    # its type check, so `pulumi config set minConfidence 62.5` works) and parsed here;
    # "object" keys likewise (structured config, `pulumi config set --path
    # 'labelThresholds.cat' 80` or a JSON string, read back as JSON text).
    type: str
    description: str
    default: Any = None  # None: required; "" for a string: optional (read as None)
    lo: float | None = None  # integer and number keys: inclusive bounds
    hi: float | None = None
    choices: tuple[str, ...] = ()
    parse: Callable[[Any], Any] | None = None  # the value's own format (values.py)

    @property
    def field(self) -> str:
        """The StackConfig attribute holding the value: the name in snake_case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()

    def read(self, raw: Any) -> Any:
        """The value from the raw config value (None or blank: the default), parsed
        and within bounds; a :class:`ConfigError` naming the key otherwise."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.default is None:
                raise ConfigError(self.name, f"is required (pulumi config set {self.name} ...)")
            raw = self.default
        try:
            return self._parse(raw)
        except ValueError as error:
            raise ConfigError(self.name, str(error)) from None

    def _parse(self, raw: Any) -> Any:
        value = _TYPES[self.type](raw)
        if self.lo is not None and self.hi is not None and not self.lo <= value <= self.hi:
            show = (lambda x: f"{x:g}") if self.type == "number" else str
            raise ValueError(
                f"must be between {show(self.lo)} and {show(self.hi)}, got {show(value)}"
            )
        if self.choices and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}, got {value!r}")
        if self.type == "string" and self.default == "" and not value:
            return None
        return self.parse(value) if self.parse else value


# The workflow's production defaults: a key that sets an option defaults to it.
_OPTION = WorkflowOptions()

KEYS: tuple[Key, ...] = (
    Key("projectVersionArn", "string",
        "ARN of the Rekognition Custom Labels model version "
        "(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP). Required.",
        parse=values.version_arn),
    Key("projectArn", "string",
        "ARN of the model's project (arn:aws:rekognition:REGION:ACCOUNT:project/NAME/TIMESTAMP). "
        "The version ARN does not contain the project's creation timestamp; when empty the "
        "program looks it up once with DescribeProjects.", default="", parse=values.project_arn),
    Key("minConfidence", "number",
        "Minimum label confidence (0-100) passed to DetectCustomLabels.", default=50,
        lo=0, hi=100),
    Key("maxResults", "integer",
        "Maximum labels per image (0 = every label Rekognition returns).", default=0,
        lo=0, hi=4096),
    Key("schedule", "string",
        "EventBridge Scheduler expression that starts a run, checked by AWS's rules: "
        "rate(1 hour) / rate(N hours) (minute, hour, day; singular only for 1), "
        "cron(minutes hours day-of-month month day-of-week year) with one day field '?', "
        "or at(yyyy-mm-ddThh:mm:ss).",
        default="rate(1 hour)", parse=values.schedule),
    Key("scheduleTimezone", "string",
        "IANA time zone the schedule expression is evaluated in.", default="UTC",
        parse=values.timezone),
    Key("minInferenceUnits", "integer",
        "Inference units the model is started with (cost: units x price x hours).",
        default=_OPTION.min_inference_units,
        lo=1, hi=1000),
    Key("maxInferenceUnits", "integer",
        "Upper bound for Rekognition auto-scaling; 0 = no auto-scaling.", default=0,
        lo=0, hi=1000),
    Key("tpsPerUnit", "number",
        "Planning figure: images/s one inference unit of this model labels (sizes runs, the "
        "Lambda concurrency and the drain polls; `rekbatch status` shows the observed value).",
        default=_OPTION.tps_per_unit, lo=0.01, hi=1000),
    Key("targetRunMinutes", "integer",
        "Backlog-aware sizing: start each run with enough units to drain its backlog in about "
        "this long (units = ceil(backlog / (tpsPerUnit x 60 x targetRunMinutes)), bounded by "
        "minInferenceUnits and maxInferenceUnits or maxPlannedUnits); 0 = off.",
        default=_OPTION.target_run_minutes,
        lo=0, hi=24 * 60),
    Key("maxPlannedUnits", "integer",
        "Upper bound of a planned run's units when maxInferenceUnits is 0.",
        default=_OPTION.max_planned_units,
        lo=1, hi=1000),
    Key("pollIntervalSeconds", "integer",
        "Longest wait between queue-depth polls while the backlog drains (waits shrink as the "
        "backlog left shrinks, down to 2 s).", default=_OPTION.poll_interval_seconds, lo=2, hi=3600),
    Key("drainConfirmSeconds", "integer",
        "Seconds from a poll that finds the queue empty to the poll that confirms it (the "
        f"model idles, billed, in between); 0 = {DEFAULT_CONFIRM_SECONDS} s, or "
        "pollIntervalSeconds when that is shorter.", default=_OPTION.drain_confirm_seconds,
        lo=0, hi=3600),
    Key("modelStartTimeoutMinutes", "integer",
        "Give up (and clean up) when the model is not RUNNING after this long.",
        default=_OPTION.model_start_timeout_seconds // 60,
        lo=1, hi=240),
    Key("maxRunMinutes", "integer",
        "End a run after this long even if the queue is not drained (the rest waits). A run "
        "also ends at its drain poll budget, which keeps the execution under Step Functions' "
        "history limit: 285 polls at the defaults, fewer with a longer "
        "modelStartTimeoutMinutes (docs/workflow.md, history limit).",
        default=_OPTION.max_run_seconds // 60, lo=1, hi=24 * 60),
    Key("modelOwnership", "string",
        "exclusive: always stop the model at the end of a run; shared: leave a model this "
        "run did not start running.", default=_OPTION.ownership,
        choices=(OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED)),
    Key("batchSize", "integer", "SQS messages per Lambda invocation (1-10000).", default=10,
        lo=1, hi=10000),
    Key("batchWindowSeconds", "integer",
        "Seconds the event source mapping waits to fill a batch (0-300; >= 1 when "
        "batchSize > 10).", default=1, lo=0, hi=300),
    Key("maxConcurrency", "integer",
        "Maximum concurrent Lambda invocations for the queue (2-1000); 0 = derive it from "
        "the model's inference units.", default=0, lo=0, hi=MAX_CONCURRENCY,
        parse=values.zero_or_between(MIN_CONCURRENCY, MAX_CONCURRENCY, "derive",
                                     " (SQS event source limit)")),
    Key("imageSuffixes", "array",
        "Object key suffixes that are queued for inference (matched in lower and upper case).",
        default=[".jpg", ".jpeg", ".png"], parse=values.suffixes),
    Key("forceDestroy", "boolean",
        "Let `pulumi destroy` delete the buckets even when they still hold objects.",
        default=False),
    Key("logRetentionDays", "integer",
        "Retention of the function and workflow log groups (a CloudWatch Logs value).",
        default=30, parse=values.retention_days),
    Key("lambdaArchitecture", "string", "Inference function architecture: arm64 or x86_64.",
        default="arm64", choices=ARCHITECTURES),
    Key("lambdaMemoryMb", "integer", "Inference function memory (128-10240 MB).", default=512,
        lo=128, hi=10240),
    Key("lambdaTimeoutSeconds", "integer",
        "Inference function timeout (1-900 s); the queue's visibility timeout is 6x this plus "
        "the batch window.", default=120, lo=1, hi=LAMBDA_MAX_TIMEOUT_SECONDS),
    Key("lambdaBundle", "string",
        "Path to a prebuilt Lambda zip; empty = build it from requirements/runtime.txt and "
        "runtime/ (cached in .bundle-cache/).", default=""),
    Key("maxReceiveCount", "integer",
        "Receives of a message before it moves to the dead-letter queue (3-1000: the "
        "workflow's s3:TestEvent peek may receive a small backlog once per run).", default=5,
        lo=3, hi=1000),
    Key("workflowLogLevel", "string",
        "State machine log level: ALL, ERROR, FATAL or OFF.", default="ERROR",
        choices=WORKFLOW_LOG_LEVELS),
    Key("pricePerInferenceUnitHour", "number",
        "Price of one inference unit hour (USD) used for cost estimates.",
        default=_OPTION.price_per_inference_unit_hour, lo=0, hi=1000),
    Key("stallAlarmMinutes", "integer",
        "Alarm when the oldest queued image has waited longer than this (SQS "
        "ApproximateAgeOfOldestMessage); 0 = derive it: 2 x the schedule's period + "
        "maxRunMinutes (cron: a day, or a week when days of the week are restricted), at most "
        "the queue's retention minus one day.", default=0,
        parse=values.zero_or_between(
            STALL_ALARM_MIN_MINUTES, STALL_ALARM_MAX_MINUTES, "derive",
            f": the queue keeps a message {QUEUE_RETENTION_SECONDS // 86400} days and the alarm "
            "must leave a day to act before SQS deletes it")),
    Key("alarmEmail", "string",
        "E-mail address subscribed to the alarm topic; empty = no subscription.", default="",
        parse=values.email),
    Key("notifyEmail", "string",
        "E-mail address subscribed to the run notification topic; empty = no subscription.",
        default="", parse=values.email),
    Key("notifyOnOutcomes", "array",
        "Run outcomes that send the run-end notification (SNS + EventBridge event): any of "
        "drained, max-run-reached, failed, skipped, nothing-to-do.",
        default=list(_OPTION.notify_outcomes), parse=values.outcomes),
    Key("labelThresholds", "object",
        "Per-label confidence (0-100) a label needs to count, applied after DetectCustomLabels, "
        "e.g. {\"cat\": 80}; labels under theirs stay in the result under "
        "labelsBelowThreshold. Each at least minConfidence (the floor sent to the API).",
        default={}, parse=thresholds.parse_rules),
    Key("alertLabels", "object",
        "Label -> confidence at which an image with that label puts a 'Rekognition Batch Label "
        "Detected' event on the default EventBridge bus, e.g. {\"defect\": 90}; each at least "
        "the label's threshold.", default={}, parse=thresholds.parse_rules),
    Key("alertEmail", "string",
        "E-mail address subscribed (through an EventBridge rule and an SNS topic) to the label "
        "alerts of alertLabels; empty = no rule, no topic.", default="", parse=values.email),
    Key("kmsKey", "string",
        "Encryption at rest: empty = SSE-S3 and SQS-managed keys; 'create' = a customer-managed "
        "KMS key of this stack (rotation on); or the ARN of an existing key (its policy must "
        "admit the services, see the README).", default="", parse=values.kms_key),
)  # fmt: skip
KEYS_BY_NAME = {k.name: k for k in KEYS}
