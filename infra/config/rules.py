"""The rules that relate keys: each a small named check returning the message for
the key it names (None: the rule holds). :func:`check` runs them once, in order,
after every key was read within its own bounds (keys.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.config.keys import ConfigError
from infra.config.limits import (
    ALARM_MAX_EVALUATION_MINUTES,
    KMS_CREATE,
    MODEL_ALARM_MARGIN_MINUTES,
)
from infra.config.stack import StackConfig
from infra.config.values import KMS_KEY_ARN
from infra.statemachine.validation import confirm_within_poll, max_units_within_bounds
from runtime import thresholds
from runtime.arns import PROJECT_ARN, VERSION_ARN


@dataclass(frozen=True)
class Rule:
    key: str  # the key the message is about
    check: Callable[[StackConfig], str | None]


def project_matches_version(c: StackConfig) -> str | None:
    project, version = (
        PROJECT_ARN.match(c.project_arn or ""),
        VERSION_ARN.match(c.project_version_arn),
    )
    if project is None or version is None:
        return None  # no projectArn (looked up at deploy time)
    for part in ("partition", "region", "account", "project"):
        if project[part] != version[part]:
            return (
                f"does not match projectVersionArn: {part} {project[part]!r} != "
                f"{version[part]!r} (the version must belong to this project)"
            )
    return None


def model_in_deploy_region(c: StackConfig) -> str | None:
    if c.deploy_region and c.deploy_region != c.region:
        return (
            f"the model is in {c.region} but the stack deploys to {c.deploy_region} "
            "(aws:region): DetectCustomLabels reads images from same-region buckets only"
        )
    return None


def max_units_at_least_min(c: StackConfig) -> str | None:
    return max_units_within_bounds(c.max_inference_units, c.min_inference_units)


def planned_units_at_least_min(c: StackConfig) -> str | None:
    if not c.max_inference_units and c.max_planned_units < c.min_inference_units:
        return (
            f"must be >= minInferenceUnits ({c.min_inference_units}) when maxInferenceUnits "
            f"is 0, got {c.max_planned_units}"
        )
    return None


def confirm_within_longest_poll(c: StackConfig) -> str | None:
    return confirm_within_poll(c.drain_confirm_seconds, c.poll_interval_seconds)


def model_alarm_within_a_day(c: StackConfig) -> str | None:
    start, run = c.model_start_timeout_minutes, c.max_run_minutes
    if start + run + MODEL_ALARM_MARGIN_MINUTES > ALARM_MAX_EVALUATION_MINUTES:
        return (
            f"modelStartTimeoutMinutes + maxRunMinutes + {MODEL_ALARM_MARGIN_MINUTES} must be <= "
            f"{ALARM_MAX_EVALUATION_MINUTES} (the model-running alarm watches at most one day), "
            f"got {start} + {run}"
        )
    return None


def target_within_max_run(c: StackConfig) -> str | None:
    if c.target_run_minutes > c.max_run_minutes:
        return (
            f"must be 0 (off) or at most maxRunMinutes ({c.max_run_minutes}): a run planned "
            f"to take longer would be cut at max-run, got {c.target_run_minutes}"
        )
    return None


def two_polls_in_a_run(c: StackConfig) -> str | None:
    if c.poll_interval_seconds * 2 > c.max_run_minutes * 60:
        return (
            f"two polls ({2 * c.poll_interval_seconds} s) must fit in maxRunMinutes "
            f"({c.max_run_minutes} min) to detect a drained queue"
        )
    return None


def window_for_large_batches(c: StackConfig) -> str | None:
    if c.batch_size > 10 and c.batch_window_seconds < 1:
        return f"must be >= 1 when batchSize > 10 (AWS rule), got {c.batch_window_seconds}"
    return None


def retry_within_a_run(c: StackConfig) -> str | None:
    # (Within the keys' bounds the visibility timeout, at most 6 x 900 + 300 s, never
    # reaches SQS's limit of 12 hours: no rule for it.)
    if c.queue_visibility_timeout_seconds > c.max_run_minutes * 60:
        visibility = (
            f"6 x {c.lambda_timeout_seconds} + batchWindowSeconds {c.batch_window_seconds} = "
            f"{c.queue_visibility_timeout_seconds} s"
        )
        return (
            f"too long for the queue: a batch that fails becomes visible again only after the "
            f"visibility timeout ({visibility}), longer than a run (maxRunMinutes "
            f"{c.max_run_minutes} = {c.max_run_minutes * 60} s): its retry would always wait "
            "for the next run"
        )
    return None


def thresholds_at_least_min_confidence(c: StackConfig) -> str | None:
    return _rule_error(thresholds.check_thresholds, c.label_thresholds, c.min_confidence)


def alerts_at_least_thresholds(c: StackConfig) -> str | None:
    return _rule_error(
        thresholds.check_alerts, c.alert_labels, c.label_thresholds, c.min_confidence
    )


def alert_email_has_labels(c: StackConfig) -> str | None:
    if c.alert_email is not None and not c.alert_labels:
        return "is set but alertLabels is empty: no label would ever be alerted"
    return None


def _rule_error(check: Callable[..., None], *args: Any) -> str | None:
    """The message of a runtime/thresholds.py check (written once, used by the runtime too)."""
    try:
        check(*args)
    except thresholds.RuleError as error:
        return str(error)
    return None


def key_in_stack_account_and_region(c: StackConfig) -> str | None:
    key = KMS_KEY_ARN.match(c.kms_key or "")
    if c.kms_key == KMS_CREATE or key is None:
        return None
    for part, ours in (("partition", c.partition), ("region", c.region), ("account", c.account_id)):
        if key[part] != ours:
            return (
                f"the key's {part} {key[part]!r} is not the stack's ({ours!r}): "
                "S3, SQS and CloudWatch Logs use keys of their own region and account"
            )
    return None


RULES: tuple[Rule, ...] = (
    Rule("projectArn", project_matches_version),
    Rule("projectVersionArn", model_in_deploy_region),
    Rule("maxInferenceUnits", max_units_at_least_min),
    Rule("drainConfirmSeconds", confirm_within_longest_poll),
    Rule("maxPlannedUnits", planned_units_at_least_min),
    Rule("maxRunMinutes", model_alarm_within_a_day),
    Rule("targetRunMinutes", target_within_max_run),
    Rule("pollIntervalSeconds", two_polls_in_a_run),
    Rule("batchWindowSeconds", window_for_large_batches),
    Rule("lambdaTimeoutSeconds", retry_within_a_run),
    Rule("labelThresholds", thresholds_at_least_min_confidence),
    Rule("alertLabels", alerts_at_least_thresholds),
    Rule("alertEmail", alert_email_has_labels),
    Rule("kmsKey", key_in_stack_account_and_region),
)


def check(cfg: StackConfig) -> None:
    """Raise a :class:`ConfigError` for the first rule ``cfg`` breaks."""
    for rule in RULES:
        message = rule.check(cfg)
        if message:
            raise ConfigError(rule.key, message)
