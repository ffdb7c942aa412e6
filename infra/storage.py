"""A private, encrypted, TLS-only S3 bucket (the source and the final bucket)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies

TYPE = "rekognition-batch:storage:SecureBucket"
LEGACY_TYPE = "rekbatch:storage:SecureBucket"  # before the rename; aliased by the pipeline


@dataclass
class SecureBucketArgs:
    force_destroy: bool = False  # let `pulumi destroy` empty the bucket first
    # None: SSE-S3. A key ARN: SSE-KMS with an S3 Bucket Key (one data key per
    # bucket for a while instead of one KMS request per object: cost and throttles).
    kms_key_arn: pulumi.Input[str] | None = None


def _encryption_rule(
    kms_key_arn: pulumi.Input[str] | None,
) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict:
    if kms_key_arn is None:
        # SSE-S3 (bucket keys only apply to SSE-KMS: nothing to enable).
        return {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
    return {
        "apply_server_side_encryption_by_default": {
            "sse_algorithm": "aws:kms",
            "kms_master_key_id": kms_key_arn,
        },
        "bucket_key_enabled": True,
    }


class SecureBucket(pulumi.ComponentResource):
    """Bucket + public access block + SSE-S3 + BucketOwnerEnforced + TLS-only policy.

    SSE-S3 (AES256) by default: the Lambda, Rekognition (which reads the image
    with the caller's credentials) and the state machine then need no kms:Decrypt
    grants, and S3 notifications need no key policy. With a customer-managed key
    (config kmsKey) the bucket uses SSE-KMS with a Bucket Key, and the pipeline
    grants each of those exactly what it needs (infra/encryption.py).
    """

    bucket: aws.s3.Bucket

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(name, force_destroy=args.force_destroy, opts=child)
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[_encryption_rule(args.kms_key_arn)],
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        # After the public access block: S3 rejects policies racing a PAB update.
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps(policies.tls_only_bucket_policy(arn))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})
