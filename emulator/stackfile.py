"""A stack's own configuration on the emulator: ``Pulumi.<stack>.yaml`` read
through the same :func:`infra.config.load` the Pulumi program uses, turned into
the options of :func:`emulator.workflow.provision_stack`.

Everything that applies locally comes from the stack: the model version, units
and sizing, minConfidence/maxResults, ownership, maxRunMinutes and the start
deadline, batch size and window, concurrency, image suffixes, visibility,
maxReceiveCount, label thresholds and alerts, notifications, the schedule.
Only the waits (poll intervals, describe ladder, grace and settle times) are
scaled down, and only when asked (``fast_waits``): limits such as maxRunMinutes
stay the stack's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from infra.config import ConfigError, StackConfig, load

PULUMI_PROJECT = "rekognition-batch"  # `name:` in Pulumi.yaml, the prefix of its config keys

# The workflow's waits, scaled for a person watching (FAST_WORKFLOW's, without its
# limits). A STARTING model is described every second for its first minute, then at
# the stack's modelPollSeconds: every second for the whole start deadline (45 min by
# default) would not fit Step Functions' history limit.
FAST_WAITS: dict[str, Any] = {
    "poll_interval_seconds": 1,
    "fast_poll_seconds": 1,
    "model_poll_ladder": ((60, 1),),
    "model_check_seconds": 2,
    "disable_grace_seconds": 1,
    "retry_interval_seconds": 1,
    "peek_visibility_timeout_seconds": 1,
    "guard_settle_seconds": 0,
}


class StackFileError(ValueError):
    """The stack file can not be read, or its configuration is invalid (the
    message names the file and, for a bad value, the key)."""


def read_stack_file(stack: str, folder: Path | str = ".") -> dict[str, Any]:
    """The ``config:`` map of ``Pulumi.<stack>.yaml`` in ``folder`` ({} without one)."""
    path = Path(folder) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        config = document.get("config") or {}
    except (yaml.YAMLError, AttributeError) as err:
        raise StackFileError(f"{path}: not a Pulumi stack file ({err})") from None
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: `config:` is not a map")
    return config


def _raw(value: Any) -> str | None:
    """A value as Pulumi's Config.get returns it: a string (structured values as JSON)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def demo_version_arn(region: str = "us-east-1") -> str:
    """The model version the emulator registers when the stack names none."""
    return f"arn:aws:rekognition:{region}:123456789012:project/demo/version/demo.v1/1700000000000"


def stack_config(
    stack: str, folder: Path | str = ".", *, project_version_arn: str | None = None
) -> StackConfig:
    """The stack's validated configuration, as ``pulumi up`` would read it.

    ``project_version_arn`` replaces the stack's; a stack that sets none gets
    :func:`demo_version_arn` in its region (a stack file is not needed: every
    other key has its declared default)."""
    values = read_stack_file(stack, folder)

    def get(key: str) -> str | None:
        name = key if ":" in key else f"{PULUMI_PROJECT}:{key}"
        raw = _raw(values.get(name))
        if key == "projectVersionArn":
            region = _raw(values.get("aws:region")) or "us-east-1"
            return project_version_arn or raw or demo_version_arn(region)
        return raw

    try:
        return load(get)
    except ConfigError as err:
        raise StackFileError(f"Pulumi.{stack}.yaml: {err}") from None


def provision_options(cfg: StackConfig, *, fast_waits: bool = False) -> dict[str, Any]:
    """Options of :func:`emulator.workflow.provision_stack` for this configuration."""
    workflow = cfg.workflow
    options: dict[str, Any] = {
        name: getattr(workflow, name)
        for name in workflow.__dataclass_fields__
        if name not in ("runs_prefix", "min_inference_units")
    }
    if fast_waits:
        options.update(FAST_WAITS)
    options.update(
        project_version_arn=cfg.project_version_arn,
        min_confidence=cfg.min_confidence,
        handler_max_concurrency=cfg.handler_concurrency,
        max_results=cfg.max_results,
        image_suffixes=cfg.image_suffixes,
        max_receive_count=cfg.max_receive_count,
        batch_size=cfg.batch_size,
        batching_window=cfg.batch_window_seconds,
        maximum_concurrency=cfg.mapping_max_concurrency,
        lambda_timeout_seconds=cfg.lambda_timeout_seconds,
        visibility_timeout_seconds=cfg.queue_visibility_timeout_seconds,
        retry_visibility_seconds=cfg.retry_visibility,
        memory_mb=cfg.lambda_memory_mb,
        runs_prefix=workflow.runs_prefix,
        min_inference_units=cfg.min_inference_units,
        price_per_inference_unit_hour=cfg.price_per_inference_unit_hour,
        label_thresholds=dict(cfg.label_thresholds) or None,
        alert_labels=dict(cfg.alert_labels) or None,
    )
    return options


__all__ = [
    "FAST_WAITS",
    "StackFileError",
    "demo_version_arn",
    "provision_options",
    "read_stack_file",
    "stack_config",
]
