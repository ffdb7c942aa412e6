"""What the inference function is made of: its code (the Lambda zip) and its
environment (the runtime's own settings, rendered and read back). Pure: no
resources here; infra/pipeline.py passes both to the InferenceFunction."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from infra import bundle as bundle_module
from infra import config as stack_config
from runtime.settings import (
    ALERT_LABELS,
    FAILED_PREFIX,
    LABEL_THRESHOLDS,
    POWERTOOLS_SERVICE_NAME,
    RESULTS_PREFIX,
    Settings,
)
from runtime.settings import DEFAULTS as RUNTIME_DEFAULTS

ROOT = bundle_module.ROOT
# Lambda: "The total size of all environment variables doesn't exceed 4 KB" (keys + values).
MAX_ENVIRONMENT_BYTES = 4096


def lambda_code(cfg: stack_config.StackConfig, root: Path = ROOT) -> tuple[str, str]:
    """(zip path, base64 SHA-256): a prebuilt archive from config, else the cached build."""
    if cfg.lambda_bundle:
        path = Path(cfg.lambda_bundle)
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise stack_config.ConfigError("lambdaBundle", f"no such file: {path}")
        digest = hashlib.sha256(path.read_bytes()).digest()
        return str(path), base64.b64encode(digest).decode()
    bundle = bundle_module.build_bundle(cfg.lambda_architecture, stack_config.LAMBDA_PYTHON_VERSION)
    return str(bundle.path), bundle.source_code_hash


def function_environment(
    cfg: stack_config.StackConfig, final_bucket: str, service_name: str
) -> dict[str, str]:
    """The runtime's own settings object renders the environment, and reading it
    back proves the function will start with exactly these values. The metrics'
    service dimension is the pipeline's prefix, so two pipelines' metrics (and
    dashboards) stay apart."""
    settings = Settings(
        final_bucket=final_bucket,
        project_version_arn=cfg.project_version_arn,
        min_confidence=cfg.min_confidence,
        max_results=cfg.max_results,
        max_concurrency=cfg.handler_concurrency,
        failed_prefix=RUNTIME_DEFAULTS[FAILED_PREFIX],
        results_prefix=RUNTIME_DEFAULTS[RESULTS_PREFIX],
        image_suffixes=cfg.image_suffixes,
        retry_visibility_base_seconds=cfg.retry_visibility[0],
        retry_visibility_max_seconds=cfg.retry_visibility[1],
        label_thresholds=dict(cfg.label_thresholds),
        alert_labels=dict(cfg.alert_labels),
    )
    env = settings.to_env()
    if Settings.from_env(env) != settings:  # the runtime would start with other values
        raise RuntimeError(f"the function environment does not round-trip: {env}")
    env = {**env, POWERTOOLS_SERVICE_NAME: service_name}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in env.items())
    if size > MAX_ENVIRONMENT_BYTES:
        key = (
            "labelThresholds"
            if len(env[LABEL_THRESHOLDS]) >= len(env[ALERT_LABELS])
            else "alertLabels"
        )
        raise stack_config.ConfigError(
            key,
            f"the function's environment would be {size} bytes, over Lambda's "
            f"{MAX_ENVIRONMENT_BYTES}-byte limit: shorten labelThresholds/alertLabels",
        )
    return env
