"""Stack configuration: declared once, read once, validated before anything is created.

``KEYS`` (infra/keys.py) is the single declaration of every config key (type, default,
description). Pulumi.yaml's ``config:`` block, the config table in the docs and
the defaults applied by :func:`load` all come from it, and a test proves
Pulumi.yaml matches it, so the three never drift apart.

:func:`load` is pure (``get`` returns the raw string Pulumi would give, or None),
so every validation rule is unit-tested without Pulumi. A bad value fails
``pulumi up``/``preview`` before any resource is touched, with a
:class:`ConfigError` whose message starts with the key's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from infra.configdocs import markdown_table, pulumi_yaml_config, render_pulumi_yaml, write_generated
from infra.keys import (
    ALARM_MAX_EVALUATION_MINUTES,
    ARCHITECTURES,
    DISABLE_GRACE_MARGIN_SECONDS,
    DLQ_RETENTION_SECONDS,
    KEYS,
    KEYS_BY_NAME,
    KMS_CREATE,
    LAMBDA_MAX_TIMEOUT_SECONDS,
    LAMBDA_PYTHON_VERSION,
    LAMBDA_RUNTIME,
    LOG_RETENTION_DAYS,
    MODEL_ALARM_MARGIN_MINUTES,
    QUEUE_RETENTION_SECONDS,
    SQS_MAX_VISIBILITY_SECONDS,
    STALL_ALARM_MAX_MINUTES,
    STALL_ALARM_MIN_MINUTES,
    WORKFLOW_LOG_LEVELS,
    ConfigError,
    Key,
    RawConfig,
    _outcomes,
    _suffixes,
    _valid_timezone,
)
from infra.stackconfig import (
    StackConfig,
    default_stall_alarm_minutes,
    derive_max_concurrency,
    handler_concurrency,
    retry_visibility,
    schedule_period_minutes,
    visibility_timeout,
)
from infra.statemachine import OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED
from runtime import thresholds
from runtime.arns import PROJECT_ARN, VERSION_ARN

# The public names of the stack config, wherever they are defined.
__all__ = [
    "DISABLE_GRACE_MARGIN_SECONDS",
    "MODEL_ALARM_MARGIN_MINUTES",
    "KMS_CREATE",
    "ALARM_MAX_EVALUATION_MINUTES",
    "STALL_ALARM_MIN_MINUTES",
    "LOG_RETENTION_DAYS",
    "SQS_MAX_VISIBILITY_SECONDS",
    "LAMBDA_MAX_TIMEOUT_SECONDS",
    "ARCHITECTURES",
    "WORKFLOW_LOG_LEVELS",
    "default_stall_alarm_minutes",
    "DLQ_RETENTION_SECONDS",
    "KEYS",
    "KEYS_BY_NAME",
    "LAMBDA_PYTHON_VERSION",
    "LAMBDA_RUNTIME",
    "QUEUE_RETENTION_SECONDS",
    "STALL_ALARM_MAX_MINUTES",
    "ConfigError",
    "Key",
    "StackConfig",
    "derive_max_concurrency",
    "handler_concurrency",
    "load",
    "markdown_table",
    "pulumi_yaml_config",
    "render_pulumi_yaml",
    "retry_visibility",
    "schedule_period_minutes",
    "visibility_timeout",
    "write_generated",
]

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


def load(get: Callable[[str], str | None]) -> StackConfig:
    """Read and validate every key. ``get(name)`` returns the raw config string or None."""

    r = RawConfig(get)
    raw, string, integer, number, boolean, choice = (
        r.raw,
        r.string,
        r.integer,
        r.number,
        r.boolean,
        r.choice,
    )

    # --- the model -----------------------------------------------------------------
    version_arn = string("projectVersionArn")
    version = VERSION_ARN.match(version_arn)
    if not version:
        raise ConfigError(
            "projectVersionArn",
            "is not a Rekognition Custom Labels model version ARN "
            f"(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP): "
            f"{version_arn!r}",
        )
    project_arn = string("projectArn") or None
    if project_arn is not None:
        project = PROJECT_ARN.match(project_arn)
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
    min_confidence = number("minConfidence", 0, 100)
    label_thresholds = r.label_rules("labelThresholds")
    try:
        thresholds.check_thresholds(label_thresholds, min_confidence)
    except thresholds.RuleError as exc:
        raise ConfigError("labelThresholds", str(exc)) from None
    alert_labels = r.label_rules("alertLabels")
    try:
        thresholds.check_alerts(alert_labels, label_thresholds, min_confidence)
    except thresholds.RuleError as exc:
        raise ConfigError("alertLabels", str(exc)) from None
    alert_email = string("alertEmail") or None
    if alert_email is not None and not _EMAIL.match(alert_email):
        raise ConfigError("alertEmail", f"is not an e-mail address: {alert_email!r}")
    if alert_email is not None and not alert_labels:
        raise ConfigError(
            "alertEmail", "is set but alertLabels is empty: no label would ever be alerted"
        )
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
        min_confidence=min_confidence,
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
        label_thresholds=label_thresholds,
        alert_labels=alert_labels,
        alert_email=alert_email,
        stall_alarm_minutes=stall,
        stall_alarm_minutes_derived=stall_derived,
    )


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
