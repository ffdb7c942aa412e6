"""Settings of the inference Lambda, owned here and nowhere else.

The Pulumi program imports ``ENV`` names and ``Settings.to_env`` to set the
function's environment, and the local emulator does the same for its Lambda
poller, so the three never drift apart. Standard library only: the infra
imports this module without the runtime's dependencies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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
    # Defaults: DEFAULTS, parsed (one value per default).
    min_confidence: float = float(DEFAULTS[MIN_CONFIDENCE])
    max_results: int = int(DEFAULTS[MAX_RESULTS])
    max_concurrency: int = int(DEFAULTS[MAX_CONCURRENCY])
    failed_prefix: str = DEFAULTS[FAILED_PREFIX]
    results_prefix: str = DEFAULTS[RESULTS_PREFIX]
    image_suffixes: tuple[str, ...] = tuple(DEFAULTS[IMAGE_SUFFIXES].split(","))
    retry_mode: str = DEFAULTS[RETRY_MODE]
    max_attempts: int = int(DEFAULTS[MAX_ATTEMPTS])
    retry_visibility_base_seconds: int = int(DEFAULTS[RETRY_VISIBILITY_BASE_SECONDS])
    retry_visibility_max_seconds: int = int(DEFAULTS[RETRY_VISIBILITY_MAX_SECONDS])
    # label -> confidence; never mutated (a frozen dataclass can not freeze a dict)
    label_thresholds: dict[str, float] = field(default_factory=dict)
    alert_labels: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``environ`` (default: the process environment); a
        ``SettingsError`` names the first variable that is missing or invalid."""
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
        min_conf = _between(
            MIN_CONFIDENCE, _number(MIN_CONFIDENCE, get(MIN_CONFIDENCE), float), 0, 100
        )
        max_results = _number(MAX_RESULTS, get(MAX_RESULTS), int)
        if max_results < 0:
            raise SettingsError(f"{MAX_RESULTS} must be >= 0 (0 = no limit), got {max_results}")
        concurrency = _between(
            MAX_CONCURRENCY, _number(MAX_CONCURRENCY, get(MAX_CONCURRENCY), int), 1, 1000
        )
        failed_prefix, results_prefix = _prefixes(get(FAILED_PREFIX), get(RESULTS_PREFIX))
        suffixes = _image_suffixes(get(IMAGE_SUFFIXES))
        retry_mode = _retry_mode(get(RETRY_MODE))
        max_attempts = _between(MAX_ATTEMPTS, _number(MAX_ATTEMPTS, get(MAX_ATTEMPTS), int), 1, 20)
        visibility_base, visibility_max = _retry_visibility(get)
        label_thresholds, alert_labels = _label_rules(get, min_conf)
        return cls(
            final_bucket=env[FINAL_BUCKET],
            project_version_arn=arn,
            min_confidence=min_conf,
            max_results=max_results,
            max_concurrency=concurrency,
            failed_prefix=failed_prefix,
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


def _between(name: str, value: _Number, low: int, high: int) -> _Number:
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _prefixes(failed: str, results: str) -> tuple[str, str]:
    """FAILED_PREFIX and RESULTS_PREFIX: key prefixes, neither inside the other."""
    for name, prefix in ((FAILED_PREFIX, failed), (RESULTS_PREFIX, results)):
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise SettingsError(f"{name} must be a key prefix ending in '/', got {prefix!r}")
    if results.startswith(failed) or failed.startswith(results):
        raise SettingsError(
            f"{RESULTS_PREFIX} ({results!r}) and {FAILED_PREFIX} ({failed!r}) "
            "must not contain one another"
        )
    return failed, results


def _image_suffixes(raw: str) -> tuple[str, ...]:
    suffixes = tuple(s.strip().lower() for s in raw.split(",") if s.strip())
    if not suffixes or any(not s.startswith(".") for s in suffixes):
        raise SettingsError(f"{IMAGE_SUFFIXES} must be a comma list like '.jpg,.png'")
    if any(s.endswith(".json") for s in suffixes):
        raise SettingsError(
            f"{IMAGE_SUFFIXES} must not include .json: result and error documents end in .json"
        )
    return suffixes


def _retry_mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in RETRY_MODES:
        raise SettingsError(f"{RETRY_MODE} must be one of {', '.join(RETRY_MODES)}, got {mode!r}")
    return mode


def _retry_visibility(get: Callable[[str], str]) -> tuple[int, int]:
    """RETRY_VISIBILITY_BASE_SECONDS <= RETRY_VISIBILITY_MAX_SECONDS, both within SQS's range."""
    base = _between(
        RETRY_VISIBILITY_BASE_SECONDS,
        _number(RETRY_VISIBILITY_BASE_SECONDS, get(RETRY_VISIBILITY_BASE_SECONDS), int),
        0,
        SQS_MAX_VISIBILITY_SECONDS,
    )
    cap = _number(RETRY_VISIBILITY_MAX_SECONDS, get(RETRY_VISIBILITY_MAX_SECONDS), int)
    if not base <= cap <= SQS_MAX_VISIBILITY_SECONDS:
        raise SettingsError(
            f"{RETRY_VISIBILITY_MAX_SECONDS} must be between {RETRY_VISIBILITY_BASE_SECONDS} "
            f"({base}) and {SQS_MAX_VISIBILITY_SECONDS}, got {cap}"
        )
    return base, cap


def _label_rules(
    get: Callable[[str], str], min_confidence: float
) -> tuple[dict[str, float], dict[str, float]]:
    """LABEL_THRESHOLDS and ALERT_LABELS (runtime/thresholds.py), checked against each other."""
    try:
        thresholds = rules.parse_rules(get(LABEL_THRESHOLDS))
        rules.check_thresholds(thresholds, min_confidence)
    except rules.RuleError as exc:
        raise SettingsError(f"{LABEL_THRESHOLDS} {exc}") from None
    try:
        alerts = rules.parse_rules(get(ALERT_LABELS))
        rules.check_alerts(alerts, thresholds, min_confidence)
    except rules.RuleError as exc:
        raise SettingsError(f"{ALERT_LABELS} {exc}") from None
    return thresholds, alerts


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
