"""Stack configuration: declared once, read once, validated before anything is created.

- keys.py: ``KEYS``, the single declaration of every config key (type, default,
  description, its own bounds or format; the formats are in values.py, AWS's
  limits and the stack's fixed settings in limits.py);
- rules.py: ``RULES``, the rules that relate keys, each a named check;
- stack.py: :class:`StackConfig`, one field per key, the values derived from them
  and the workflow's options (:attr:`StackConfig.workflow`);
- docs.py: Pulumi.yaml's ``config:`` block and the docs' tables, generated from
  ``KEYS`` (``python -m infra.config --write``; a test proves they match).

:func:`load` is pure (``get`` returns the raw string Pulumi would give, or None),
so every rule is unit-tested without Pulumi. A bad value fails ``pulumi
up``/``preview`` before any resource is touched, with a :class:`ConfigError`
whose message starts with the key's name.
"""

from __future__ import annotations

from collections.abc import Callable

from infra.config import rules
from infra.config.docs import (
    markdown_table,
    pulumi_yaml_config,
    render_pulumi_yaml,
    write_generated,
)
from infra.config.keys import KEYS, KEYS_BY_NAME, ConfigError, Key
from infra.config.limits import (
    ALARM_MAX_EVALUATION_MINUTES,
    ARCHITECTURES,
    DISABLE_GRACE_MARGIN_SECONDS,
    DLQ_RETENTION_SECONDS,
    KMS_CREATE,
    LAMBDA_MAX_TIMEOUT_SECONDS,
    LAMBDA_PYTHON_VERSION,
    LAMBDA_RUNTIME,
    LOG_RETENTION_DAYS,
    MODEL_ALARM_MARGIN_MINUTES,
    QUEUE_RETENTION_SECONDS,
    STALL_ALARM_MAX_MINUTES,
    STALL_ALARM_MIN_MINUTES,
    WORKFLOW_LOG_LEVELS,
)
from infra.config.stack import (
    StackConfig,
    default_stall_alarm_minutes,
    derive_max_concurrency,
    handler_concurrency,
    retry_visibility,
    schedule_period_minutes,
    visibility_timeout,
    workflow_options,
)

__all__ = [
    "ALARM_MAX_EVALUATION_MINUTES",
    "ARCHITECTURES",
    "DISABLE_GRACE_MARGIN_SECONDS",
    "DLQ_RETENTION_SECONDS",
    "KEYS",
    "KEYS_BY_NAME",
    "KMS_CREATE",
    "LAMBDA_MAX_TIMEOUT_SECONDS",
    "LAMBDA_PYTHON_VERSION",
    "LAMBDA_RUNTIME",
    "LOG_RETENTION_DAYS",
    "MODEL_ALARM_MARGIN_MINUTES",
    "QUEUE_RETENTION_SECONDS",
    "STALL_ALARM_MAX_MINUTES",
    "STALL_ALARM_MIN_MINUTES",
    "WORKFLOW_LOG_LEVELS",
    "ConfigError",
    "Key",
    "StackConfig",
    "default_stall_alarm_minutes",
    "derive_max_concurrency",
    "handler_concurrency",
    "load",
    "markdown_table",
    "pulumi_yaml_config",
    "render_pulumi_yaml",
    "retry_visibility",
    "schedule_period_minutes",
    "visibility_timeout",
    "workflow_options",
    "write_generated",
]


def load(get: Callable[[str], str | None]) -> StackConfig:
    """Read and validate every key. ``get(name)`` returns the raw config string or None."""
    cfg = StackConfig.read(get)  # each key within its own bounds
    rules.check(cfg)  # the rules across keys
    cfg.workflow  # noqa: B018 - the workflow's options, built (and validated) now
    return cfg
