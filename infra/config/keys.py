"""The stack config keys: each declared once, with type, default and description,
and the parsers for the values they accept.

``KEYS`` is the single declaration: Pulumi.yaml's ``config:`` block and the docs'
tables are generated from it (infra/configdocs.py), and infra/config.py's
:func:`~infra.config.load` applies its defaults.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.contract import DEFAULT_NOTIFY_OUTCOMES, OUTCOMES
from infra.sizing import DEFAULT_TPS_PER_UNIT
from infra.statemachine import OWNERSHIP_EXCLUSIVE

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
    # its type check; "object" keys likewise: structured config, `pulumi config set --path
    # 'labelThresholds.cat' 80` or a JSON string, read back as JSON text) and parsed here.
    # its type check, so `pulumi config set minConfidence 62.5` works).
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
        default=DEFAULT_TPS_PER_UNIT),
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
    Key("labelThresholds", "object",
        "Per-label confidence (0-100) a label needs to count, applied after DetectCustomLabels, "
        "e.g. {\"cat\": 80}; labels under theirs stay in the result under "
        "labelsBelowThreshold. Each at least minConfidence (the floor sent to the API).",
        default={}),
    Key("alertLabels", "object",
        "Label -> confidence at which an image with that label puts a 'Rekognition Batch Label "
        "Detected' event on the default EventBridge bus, e.g. {\"defect\": 90}; each at least "
        "the label's threshold.", default={}),
    Key("alertEmail", "string",
        "E-mail address subscribed (through an EventBridge rule and an SNS topic) to the label "
        "alerts of alertLabels; empty = no rule, no topic.", default=""),
    Key("kmsKey", "string",
        "Encryption at rest: empty = SSE-S3 and SQS-managed keys; 'create' = a customer-managed "
        "KMS key of this stack (rotation on); or the ARN of an existing key (its policy must "
        "admit the services, see the README).", default=""),
)  # fmt: skip
KEYS_BY_NAME = {k.name: k for k in KEYS}

KMS_CREATE = "create"


class ConfigError(ValueError):
    """An invalid stack config value; the message starts with the key's name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


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


class RawConfig:
    """Reads one key's raw value (``get(name)``: the string Pulumi would give, or
    None), applies its declared default, and parses it, failing naming the key."""

    def __init__(self, get: Callable[[str], str | None]) -> None:
        self.get = get

    def raw(self, name: str) -> Any:
        key = KEYS_BY_NAME[name]
        value = self.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if key.default is None:
                raise ConfigError(name, f"is required (pulumi config set {name} ...)")
            return key.default
        return value

    def string(self, name: str) -> str:
        return str(self.raw(name)).strip()

    def integer(self, name: str, lo: int, hi: int) -> int:
        value = self.raw(name)
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            raise ConfigError(name, f"must be an integer, got {value!r}")
        if not lo <= number <= hi:
            raise ConfigError(name, f"must be between {lo} and {hi}, got {number}")
        return number

    def number(self, name: str, lo: float, hi: float) -> float:
        value = self.raw(name)
        try:
            result = float(str(value).strip())
        except ValueError:
            raise ConfigError(name, f"must be a number, got {value!r}") from None
        if not lo <= result <= hi:
            raise ConfigError(name, f"must be between {lo:g} and {hi:g}, got {result:g}")
        return result

    def boolean(self, name: str) -> bool:
        value = self.raw(name)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ConfigError(name, f"must be true or false, got {value!r}")

    def label_rules(self, name: str) -> dict[str, float]:
        """A label -> confidence object (runtime/thresholds.py rules), failing naming the key."""
        from runtime import thresholds

        try:
            return thresholds.parse_rules(self.raw(name))
        except thresholds.RuleError as exc:
            raise ConfigError(name, str(exc)) from None

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.string(name)
        if value not in options:
            raise ConfigError(name, f"must be one of {', '.join(options)}, got {value!r}")
        return value
