"""The Pulumi program: scheduled, cost-optimal batch inference for Rekognition Custom Labels.

Reads the stack config once (infra/config.py validates every key before any
resource is declared) and wires one component per concern:

    SecureBucket x2 -> IngestQueue (notifications, queue, DLQ) -> InferenceFunction
    (Lambda + disabled mapping) -> Workflow (state machine + schedule) -> Alarms
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pulumi

from infra import config as stack_config
from infra import contract, outputs
from infra.alarms import Alarms, AlarmsArgs
from infra.bundle import BundleError, build_bundle
from infra.console import console_urls, upload_command
from infra.inference import InferenceFunction, InferenceFunctionArgs
from infra.ingest import IngestQueue, IngestQueueArgs
from infra.lookup import find_project_arn
from infra.storage import SecureBucket, SecureBucketArgs
from infra.workflow import Workflow, WorkflowArgs
from runtime.settings import DEFAULTS as RUNTIME_DEFAULTS
from runtime.settings import FAILED_PREFIX, Settings

RUNS_PREFIX = contract.DEFAULT_RUNS_PREFIX
ROOT = Path(__file__).resolve().parent


def _get(key: str) -> str | None:
    """Raw config value as the CLI stores it; 'ns:key' reads another namespace."""
    namespace, _, name = key.rpartition(":")
    return pulumi.Config(namespace or None).get(name)


def _code(cfg: stack_config.StackConfig) -> tuple[str, str]:
    """(zip path, base64 SHA-256): a prebuilt archive from config, else the cached build."""
    if cfg.lambda_bundle:
        path = Path(cfg.lambda_bundle)
        path = path if path.is_absolute() else ROOT / path
        if not path.is_file():
            raise stack_config.ConfigError("lambdaBundle", f"no such file: {path}")
        digest = hashlib.sha256(path.read_bytes()).digest()
        return str(path), base64.b64encode(digest).decode()
    bundle = build_bundle(cfg.lambda_architecture, stack_config.LAMBDA_PYTHON_VERSION)
    return str(bundle.path), bundle.source_code_hash


try:
    cfg = stack_config.load(_get)
    project_arn = find_project_arn(cfg)
    code_path, code_hash = _code(cfg)
except stack_config.ConfigError as error:
    # RunError: Pulumi prints the message alone (no traceback) and stops before
    # any resource is declared. The message starts with the key's name.
    raise pulumi.RunError(f"invalid stack config: {error}") from error
except BundleError as error:
    raise pulumi.RunError(f"could not build the Lambda bundle: {error}") from error

prefix = f"{pulumi.get_project()}-{pulumi.get_stack()}"
failed_prefix = RUNTIME_DEFAULTS[FAILED_PREFIX]

source = SecureBucket("source", SecureBucketArgs(force_destroy=cfg.force_destroy))
final = SecureBucket("final", SecureBucketArgs(force_destroy=cfg.force_destroy))

ingest = IngestQueue(
    "ingest",
    IngestQueueArgs(
        source_bucket_id=source.bucket.id,
        source_bucket_arn=source.bucket.arn,
        account_id=cfg.account_id,
        visibility_timeout_seconds=cfg.queue_visibility_timeout_seconds,
        max_receive_count=cfg.max_receive_count,
        image_suffixes=cfg.image_suffixes,
    ),
)


def _function_env(final_bucket: str) -> dict[str, str]:
    """The runtime's own settings object renders the environment, and reading it
    back proves the function will start with exactly these values."""
    settings = Settings(
        final_bucket=final_bucket,
        project_version_arn=cfg.project_version_arn,
        min_confidence=cfg.min_confidence,
        max_results=cfg.max_results,
        max_concurrency=cfg.handler_concurrency,
        failed_prefix=failed_prefix,
        image_suffixes=cfg.image_suffixes,
        retry_visibility_base_seconds=cfg.retry_visibility[0],
        retry_visibility_max_seconds=cfg.retry_visibility[1],
    )
    env = settings.to_env()
    if Settings.from_env(env) != settings:  # the runtime would start with other values
        raise RuntimeError(f"the function environment does not round-trip: {env}")
    return env


inference = InferenceFunction(
    "inference",
    InferenceFunctionArgs(
        code_path=code_path,
        source_code_hash=code_hash,
        environment=final.bucket.bucket.apply(_function_env),
        source_bucket_arn=source.bucket.arn,
        final_bucket_arn=final.bucket.arn,
        queue_arn=ingest.queue.arn,
        project_version_arn=cfg.project_version_arn,
        log_group_name=f"/aws/lambda/{prefix}-inference",
        log_retention_days=cfg.log_retention_days,
        architecture=cfg.lambda_architecture,
        memory_mb=cfg.lambda_memory_mb,
        timeout_seconds=cfg.lambda_timeout_seconds,
        batch_size=cfg.batch_size,
        batch_window_seconds=cfg.batch_window_seconds,
        max_concurrency=cfg.max_concurrency,
    ),
)

workflow = Workflow(
    "workflow",
    WorkflowArgs(
        queue_url=ingest.queue.url,
        queue_arn=ingest.queue.arn,
        final_bucket=final.bucket.bucket,
        final_bucket_arn=final.bucket.arn,
        event_source_mapping_uuid=inference.mapping.uuid,
        event_source_mapping_arn=inference.mapping.arn,
        project_arn=project_arn,
        project_version_arn=cfg.project_version_arn,
        version_name=cfg.version_name,
        account_id=cfg.account_id,
        runs_prefix=RUNS_PREFIX,
        min_inference_units=cfg.min_inference_units,
        max_inference_units=cfg.max_inference_units,
        ownership=cfg.model_ownership,
        poll_interval_seconds=cfg.poll_interval_seconds,
        drain_confirm_seconds=cfg.drain_confirm_seconds,
        model_start_timeout_seconds=cfg.model_start_timeout_minutes * 60,
        max_run_seconds=cfg.max_run_minutes * 60,
        disable_grace_seconds=cfg.disable_grace_seconds,
        schedule_group_arn=cfg.schedule_group_arn,
        # /aws/vendedlogs/ keeps Step Functions' log resource policy small (AWS advice).
        log_group_name=f"/aws/vendedlogs/states/{prefix}-workflow",
        log_retention_days=cfg.log_retention_days,
        log_level=cfg.workflow_log_level,
        schedule_expression=cfg.schedule,
        schedule_timezone=cfg.schedule_timezone,
    ),
)

Alarms(
    "alarms",
    AlarmsArgs(
        dlq_name=ingest.dlq.name,
        state_machine_arn=workflow.state_machine.arn,
        project_name=cfg.project_name,
        version_name=cfg.version_name,
        model_alarm_minutes=cfg.model_alarm_minutes,
        alarm_email=cfg.alarm_email,
        queue_name=ingest.queue.name,
        stall_alarm_minutes=cfg.stall_alarm_minutes,
    ),
)

pulumi.export(outputs.SOURCE_BUCKET, source.bucket.bucket)
pulumi.export(outputs.FINAL_BUCKET, final.bucket.bucket)
pulumi.export(outputs.QUEUE_URL, ingest.queue.url)
pulumi.export(outputs.QUEUE_ARN, ingest.queue.arn)
pulumi.export(outputs.DLQ_URL, ingest.dlq.url)
pulumi.export(outputs.FUNCTION_NAME, inference.function.name)
pulumi.export(outputs.EVENT_SOURCE_MAPPING_UUID, inference.mapping.uuid)
pulumi.export(outputs.STATE_MACHINE_ARN, workflow.state_machine.arn)
pulumi.export(outputs.PROJECT_ARN, project_arn)
pulumi.export(outputs.PROJECT_VERSION_ARN, cfg.project_version_arn)
pulumi.export(outputs.VERSION_NAME, cfg.version_name)
pulumi.export(outputs.REGION, cfg.region)
pulumi.export(outputs.MIN_INFERENCE_UNITS, cfg.min_inference_units)
pulumi.export(outputs.PRICE_PER_INFERENCE_UNIT_HOUR, cfg.price_per_inference_unit_hour)
pulumi.export(outputs.RUNS_PREFIX, RUNS_PREFIX)
pulumi.export(outputs.FAILED_PREFIX, failed_prefix)
pulumi.export(
    outputs.UPLOAD_COMMAND,
    source.bucket.bucket.apply(lambda b: upload_command(b, cfg.region, cfg.image_suffixes)),
)
pulumi.export(
    outputs.CONSOLE_URLS,
    pulumi.Output.all(
        source.bucket.bucket,
        final.bucket.bucket,
        ingest.queue.url,
        ingest.dlq.url,
        inference.function.name,
        workflow.state_machine.arn,
    ).apply(
        lambda a: console_urls(
            region=cfg.region,
            source_bucket=a[0],
            final_bucket=a[1],
            queue_url=a[2],
            dlq_url=a[3],
            function_name=a[4],
            state_machine_arn=a[5],
            project_name=cfg.project_name,
        )
    ),
)
