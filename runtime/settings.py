"""Settings of the inference Lambda, owned here and nowhere else.

The Pulumi program imports ``ENV`` names and ``Settings.to_env`` to set the
function's environment, and the local emulator does the same for its Lambda
poller, so the three never drift apart. Standard library only: the infra
imports this module without the runtime's dependencies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from runtime import thresholds as rules
from runtime.arns import VERSION_ARN

# Environment variable names (the contract with infra/ and emulator/).
FINAL_BUCKET = "FINAL_BUCKET"
PROJECT_VERSION_ARN = "PROJECT_VERSION_ARN"
MIN_CONFIDENCE = "MIN_CONFIDENCE"
MAX_RESULTS = "MAX_RESULTS"
MAX_CONCURRENCY = "MAX_CONCURRENCY"
FAILED_PREFIX = "FAILED_PREFIX"
RESULTS_PREFIX = "RESULTS_PREFIX"  # the JSON Lines dataset (runtime/dataset.py)
IMAGE_SUFFIXES = "IMAGE_SUFFIXES"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
RETRY_MODE = "RETRY_MODE"
MAX_ATTEMPTS = "MAX_ATTEMPTS"
RETRY_VISIBILITY_BASE_SECONDS = "RETRY_VISIBILITY_BASE_SECONDS"
RETRY_VISIBILITY_MAX_SECONDS = "RETRY_VISIBILITY_MAX_SECONDS"
# JSON objects label name -> confidence (runtime/thresholds.py); "{}" = none.
LABEL_THRESHOLDS = "LABEL_THRESHOLDS"
ALERT_LABELS = "ALERT_LABELS"

# botocore retry modes the runtime accepts ("legacy" has no throttling back-off).
RETRY_MODES: tuple[str, ...] = ("adaptive", "standard")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# SQS's largest visibility timeout (ChangeMessageVisibility accepts 0..43200 s).
SQS_MAX_VISIBILITY_SECONDS = 43200

REQUIRED: tuple[str, ...] = (FINAL_BUCKET, PROJECT_VERSION_ARN)
DEFAULTS: dict[str, str] = {
    MIN_CONFIDENCE: "50",
    MAX_RESULTS: "0",  # 0 = let Rekognition return every label
    MAX_CONCURRENCY: "16",
    FAILED_PREFIX: "failed/",
    RESULTS_PREFIX: "results/",
    IMAGE_SUFFIXES: ".jpg,.jpeg,.png",
    POWERTOOLS_SERVICE_NAME: "custom-labels-inference",
    POWERTOOLS_METRICS_NAMESPACE: "CustomLabelsPipeline",
    LOG_LEVEL: "INFO",
    # standard: per-request retries with jittered exponential back-off. Not adaptive:
    # its client-side token bucket cuts the rate of every request of the client after
    # one S3 503 SlowDown and recovers slowly, idling the billed model (measured:
    # bench/bench_faults.py, 5% S3 503s cost +51% model time adaptive, none standard).
    # The Rekognition client always runs standard (runtime/clients.py).
    RETRY_MODE: "standard",
    MAX_ATTEMPTS: "5",
    # A record reported for retry comes back after BASE seconds on its first
    # receive, doubling with each receive, at most MAX (runtime/visibility.py);
    # the infra lowers MAX to half the queue's visibility timeout when that is less.
    RETRY_VISIBILITY_BASE_SECONDS: "4",
    RETRY_VISIBILITY_MAX_SECONDS: "240",
    LABEL_THRESHOLDS: "{}",
    ALERT_LABELS: "{}",
}
ENV: tuple[str, ...] = REQUIRED + tuple(DEFAULTS)


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    final_bucket: str
    project_version_arn: str
    min_confidence: float = 50.0
    max_results: int = 0
    max_concurrency: int = 16
    failed_prefix: str = "failed/"
    results_prefix: str = "results/"
    image_suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png")
    retry_mode: str = "standard"
    max_attempts: int = 5
    retry_visibility_base_seconds: int = 4
    retry_visibility_max_seconds: int = 240
    # label -> confidence; never mutated (a frozen dataclass can not freeze a dict)
    label_thresholds: dict[str, float] = field(default_factory=dict)
    alert_labels: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise SettingsError(f"missing required environment variable(s): {', '.join(missing)}")

        def get(name: str) -> str:
            return env.get(name) or DEFAULTS[name]

        arn = env[PROJECT_VERSION_ARN]
        if not VERSION_ARN.match(arn):
            raise SettingsError(
                f"{PROJECT_VERSION_ARN} is not a Rekognition project version ARN: {arn!r}"
            )
        min_conf = _number(MIN_CONFIDENCE, get(MIN_CONFIDENCE), float)
        if not 0 <= min_conf <= 100:
            raise SettingsError(f"{MIN_CONFIDENCE} must be between 0 and 100, got {min_conf}")
        max_results = _number(MAX_RESULTS, get(MAX_RESULTS), int)
        if max_results < 0:
            raise SettingsError(f"{MAX_RESULTS} must be >= 0 (0 = no limit), got {max_results}")
        concurrency = _number(MAX_CONCURRENCY, get(MAX_CONCURRENCY), int)
        if not 1 <= concurrency <= 1000:
            raise SettingsError(f"{MAX_CONCURRENCY} must be between 1 and 1000, got {concurrency}")
        prefix = get(FAILED_PREFIX)
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise SettingsError(
                f"{FAILED_PREFIX} must be a key prefix ending in '/', got {prefix!r}"
            )
        results_prefix = get(RESULTS_PREFIX)
        if not results_prefix.endswith("/") or results_prefix.startswith("/"):
            raise SettingsError(
                f"{RESULTS_PREFIX} must be a key prefix ending in '/', got {results_prefix!r}"
            )
        if results_prefix.startswith(prefix) or prefix.startswith(results_prefix):
            raise SettingsError(
                f"{RESULTS_PREFIX} ({results_prefix!r}) and {FAILED_PREFIX} ({prefix!r}) "
                "must not contain one another"
            )
        suffixes = tuple(s.strip().lower() for s in get(IMAGE_SUFFIXES).split(",") if s.strip())
        if not suffixes or any(not s.startswith(".") for s in suffixes):
            raise SettingsError(f"{IMAGE_SUFFIXES} must be a comma list like '.jpg,.png'")
        if any(s.endswith(".json") for s in suffixes):
            raise SettingsError(
                f"{IMAGE_SUFFIXES} must not include .json: result and error documents end in .json"
            )
        retry_mode = get(RETRY_MODE).strip().lower()
        if retry_mode not in RETRY_MODES:
            raise SettingsError(
                f"{RETRY_MODE} must be one of {', '.join(RETRY_MODES)}, got {retry_mode!r}"
            )
        max_attempts = _number(MAX_ATTEMPTS, get(MAX_ATTEMPTS), int)
        if not 1 <= max_attempts <= 20:
            raise SettingsError(f"{MAX_ATTEMPTS} must be between 1 and 20, got {max_attempts}")
        visibility_base = _number(
            RETRY_VISIBILITY_BASE_SECONDS, get(RETRY_VISIBILITY_BASE_SECONDS), int
        )
        if not 0 <= visibility_base <= SQS_MAX_VISIBILITY_SECONDS:
            raise SettingsError(
                f"{RETRY_VISIBILITY_BASE_SECONDS} must be between 0 and "
                f"{SQS_MAX_VISIBILITY_SECONDS}, got {visibility_base}"
            )
        visibility_max = _number(
            RETRY_VISIBILITY_MAX_SECONDS, get(RETRY_VISIBILITY_MAX_SECONDS), int
        )
        if not visibility_base <= visibility_max <= SQS_MAX_VISIBILITY_SECONDS:
            raise SettingsError(
                f"{RETRY_VISIBILITY_MAX_SECONDS} must be between {RETRY_VISIBILITY_BASE_SECONDS} "
                f"({visibility_base}) and {SQS_MAX_VISIBILITY_SECONDS}, got {visibility_max}"
            )
        try:
            label_thresholds = rules.parse_rules(get(LABEL_THRESHOLDS))
            rules.check_thresholds(label_thresholds, min_conf)
        except rules.RuleError as exc:
            raise SettingsError(f"{LABEL_THRESHOLDS} {exc}") from None
        try:
            alert_labels = rules.parse_rules(get(ALERT_LABELS))
            rules.check_alerts(alert_labels, label_thresholds, min_conf)
        except rules.RuleError as exc:
            raise SettingsError(f"{ALERT_LABELS} {exc}") from None
        return cls(
            final_bucket=env[FINAL_BUCKET],
            project_version_arn=arn,
            min_confidence=min_conf,
            max_results=max_results,
            max_concurrency=concurrency,
            failed_prefix=prefix,
            results_prefix=results_prefix,
            image_suffixes=suffixes,
            retry_mode=retry_mode,
            max_attempts=max_attempts,
            retry_visibility_base_seconds=visibility_base,
            retry_visibility_max_seconds=visibility_max,
            label_thresholds=label_thresholds,
            alert_labels=alert_labels,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` return these settings."""
        return {
            FINAL_BUCKET: self.final_bucket,
            PROJECT_VERSION_ARN: self.project_version_arn,
            MIN_CONFIDENCE: _fmt(self.min_confidence),
            MAX_RESULTS: str(self.max_results),
            MAX_CONCURRENCY: str(self.max_concurrency),
            FAILED_PREFIX: self.failed_prefix,
            RESULTS_PREFIX: self.results_prefix,
            IMAGE_SUFFIXES: ",".join(self.image_suffixes),
            RETRY_MODE: self.retry_mode,
            MAX_ATTEMPTS: str(self.max_attempts),
            RETRY_VISIBILITY_BASE_SECONDS: str(self.retry_visibility_base_seconds),
            RETRY_VISIBILITY_MAX_SECONDS: str(self.retry_visibility_max_seconds),
            LABEL_THRESHOLDS: rules.dumps_rules(self.label_thresholds),
            ALERT_LABELS: rules.dumps_rules(self.alert_labels),
            POWERTOOLS_SERVICE_NAME: DEFAULTS[POWERTOOLS_SERVICE_NAME],
            POWERTOOLS_METRICS_NAMESPACE: DEFAULTS[POWERTOOLS_METRICS_NAMESPACE],
            LOG_LEVEL: DEFAULTS[LOG_LEVEL],
        }


def log_level_from_env(env: Mapping[str, str]) -> str:
    """The logger's level from ``POWERTOOLS_LOG_LEVEL`` (default INFO), validated.

    Read before the logger exists (at import, in Lambda's init), so a bad value
    fails the cold start naming the variable rather than with logging's
    ``Unknown level``.
    """
    raw = (env.get(LOG_LEVEL) or DEFAULTS[LOG_LEVEL]).strip().upper()
    raw = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(raw, raw)  # logging's aliases
    if raw not in LOG_LEVELS:
        raise SettingsError(f"{LOG_LEVEL} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw


_Number = TypeVar("_Number", int, float)


def _number(name: str, raw: str, kind: type[_Number]) -> _Number:
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
