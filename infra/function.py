"""What the inference function is made of: its code (the Lambda zip) and its
environment (the runtime's own settings, rendered and read back). Pure: no
resources here; infra/pipeline.py passes both to the InferenceFunction."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from infra import bundle as bundle_module
from infra import config as stack_config
from runtime.settings import DEFAULTS as RUNTIME_DEFAULTS
from runtime.settings import FAILED_PREFIX, POWERTOOLS_SERVICE_NAME, RESULTS_PREFIX, Settings

ROOT = bundle_module.ROOT


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
    )
    env = settings.to_env()
    if Settings.from_env(env) != settings:  # the runtime would start with other values
        raise RuntimeError(f"the function environment does not round-trip: {env}")
    return {**env, POWERTOOLS_SERVICE_NAME: service_name}
