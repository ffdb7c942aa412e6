"""The inference Lambda: role, log group, function, and its (disabled) queue mapping."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.config import LAMBDA_RUNTIME
from infra.encryption import key_usage_grant

HANDLER = "runtime.handler.lambda_handler"
TYPE = "rekognition-batch:inference:InferenceFunction"
LEGACY_TYPE = "rekbatch:inference:InferenceFunction"


@dataclass
class InferenceFunctionArgs:
    code_path: str  # the deployment zip (infra/bundle.py or config lambdaBundle)
    source_code_hash: str  # base64 SHA-256 of the zip: redeploys exactly when it changes
    environment: pulumi.Input[dict[str, str]]  # runtime.settings.Settings(...).to_env()
    source_bucket_arn: pulumi.Input[str]
    final_bucket_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    project_version_arn: str
    log_group_name: str
    log_retention_days: int
    architecture: str
    memory_mb: int
    timeout_seconds: int
    batch_size: int
    batch_window_seconds: int
    max_concurrency: int
    # Customer-managed key (None: none): the log group is encrypted with it and the
    # role may use it through S3 and SQS in ``region`` only.
    kms_key_arn: pulumi.Input[str] | None = None
    region: str = ""
    # What the encrypted log group needs first (the key policy admitting CloudWatch Logs).
    log_group_depends_on: Sequence[pulumi.Resource] = ()
    # The default bus the function puts label alerts on (config alertLabels); None: no grant.
    alert_event_bus_arn: str | None = None


class InferenceFunction(pulumi.ComponentResource):
    """The function that labels images; the workflow enables its mapping only while
    the model is RUNNING, so it is created DISABLED and the workflow owns ``enabled``."""

    function: aws.lambda_.Function
    mapping: aws.lambda_.EventSourceMapping

    def __init__(
        self, name: str, args: InferenceFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=args.log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.log_group_depends_on)),
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description="Inference Lambda: label images from the queue with the model version",
            assume_role_policy=json.dumps(policies.lambda_assume_role_policy()),
            opts=child,
        )
        grants = self._role_grants(name, args)
        self.function = aws.lambda_.Function(
            name,
            runtime=LAMBDA_RUNTIME,
            handler=HANDLER,
            architectures=[args.architecture],
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            role=self.role.arn,
            code=pulumi.FileArchive(args.code_path),
            source_code_hash=args.source_code_hash,
            environment={"variables": args.environment},
            logging_config={"log_format": "Text", "log_group": self.log_group.name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )
        # CreateEventSourceMapping checks that the role may read the queue: the
        # policy must be attached first. `enabled` and the MaximumConcurrency belong
        # to the workflow after creation (each run enables the mapping at its plan's
        # concurrency), so a `pulumi up --refresh` during a run neither disables the
        # mapping nor resets its concurrency to the stack's default.
        self.mapping = aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=args.queue_arn,
            function_name=self.function.arn,
            enabled=False,
            batch_size=args.batch_size,
            maximum_batching_window_in_seconds=args.batch_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": args.max_concurrency},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=grants, ignore_changes=["enabled", "scaling_config"]
            ),
        )
        self.register_outputs(
            {
                "functionName": self.function.name,
                "mappingUuid": self.mapping.uuid,
                "mappingArn": self.mapping.arn,
            }
        )

    def _role_grants(self, name: str, args: InferenceFunctionArgs) -> list[pulumi.Resource]:
        """What the function's role may do (and with the stack's key, if any)."""
        child = pulumi.ResourceOptions(parent=self)
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.source_bucket_arn, args.final_bucket_arn, args.queue_arn, self.log_group.arn
            ).apply(
                lambda a: json.dumps(
                    policies.function_policy(
                        source_bucket_arn=a[0],
                        final_bucket_arn=a[1],
                        queue_arn=a[2],
                        project_version_arn=args.project_version_arn,
                        log_group_arn=a[3],
                        alert_event_bus_arn=args.alert_event_bus_arn,
                    )
                )
            ),
            opts=child,
        )
        grants: list[pulumi.Resource] = [role_policy]
        if args.kms_key_arn is not None:
            # Reading source objects (also Rekognition reading the image with the
            # function's credentials), writing results, receiving messages.
            grants.append(
                key_usage_grant(
                    name,
                    self.role,
                    args.kms_key_arn,
                    args.region,
                    "UseTheStackKeyForObjectsAndMessages",
                    ["s3", "sqs"],
                    child,
                )
            )
        return grants
