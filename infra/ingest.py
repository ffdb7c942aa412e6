"""The ingest path: source bucket notifications -> encrypted queue -> dead-letter queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.config import DLQ_RETENTION_SECONDS, QUEUE_RETENTION_SECONDS
from infra.contract import notification_suffixes

TYPE = "rekognition-batch:ingest:IngestQueue"
LEGACY_TYPE = "rekbatch:ingest:IngestQueue"
# How long SQS reuses a data key before asking KMS again (AWS default; the max is 86400).
KMS_DATA_KEY_REUSE_SECONDS = 300


def queue_encryption(kms_key_arn: pulumi.Input[str] | None) -> dict[str, Any]:
    """Queue arguments for SQS-managed SSE, or SSE-KMS with the stack's key."""
    if kms_key_arn is None:
        return {"sqs_managed_sse_enabled": True}
    return {
        "kms_master_key_id": kms_key_arn,
        "kms_data_key_reuse_period_seconds": KMS_DATA_KEY_REUSE_SECONDS,
    }


@dataclass
class IngestQueueArgs:
    source_bucket_id: pulumi.Input[str]
    source_bucket_arn: pulumi.Input[str]
    account_id: str
    visibility_timeout_seconds: int
    max_receive_count: int
    image_suffixes: Sequence[str]
    # None: SQS-managed SSE. A key ARN: SSE-KMS for the queue and the DLQ.
    kms_key_arn: pulumi.Input[str] | None = None
    # What S3 needs before it can validate the notification (the key policy).
    notification_depends_on: Sequence[pulumi.Resource] = ()


class IngestQueue(pulumi.ComponentResource):
    """Queue + DLQ (SQS-managed SSE or the stack's key), redrive both ways, the bucket's
    notification."""

    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue

    def __init__(
        self, name: str, args: IngestQueueArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.dlq = aws.sqs.Queue(
            f"{name}-dlq",
            **queue_encryption(args.kms_key_arn),
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            name,
            **queue_encryption(args.kms_key_arn),
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            visibility_timeout_seconds=args.visibility_timeout_seconds,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": self.dlq.arn, "maxReceiveCount": args.max_receive_count}
            ),
            opts=child,
        )
        # Only this queue may use the DLQ (a separate resource: queue and DLQ
        # referencing each other's ARN directly would be a cycle).
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dlq.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.queue.arn]}
            ),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.all(self.queue.arn, args.source_bucket_arn).apply(
                lambda a: json.dumps(policies.queue_policy(a[0], a[1], args.account_id))
            ),
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-tls-only",
            queue_url=self.dlq.url,
            policy=self.dlq.arn.apply(lambda arn: json.dumps(policies.tls_only_queue_policy(arn))),
            opts=child,
        )
        # S3 validates the destination when the notification is saved: the queue
        # policy must exist first, hence the explicit dependency.
        self.notification = aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=args.source_bucket_id,
            queues=[
                {
                    "id": f"image{suffix}",
                    "queue_arn": self.queue.arn,
                    "events": ["s3:ObjectCreated:*"],
                    "filter_suffix": suffix,
                }
                for suffix in notification_suffixes(args.image_suffixes)
            ],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[queue_policy, *args.notification_depends_on]
            ),
        )
        self.register_outputs(
            {"queueUrl": self.queue.url, "queueArn": self.queue.arn, "dlqUrl": self.dlq.url}
        )
