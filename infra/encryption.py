"""The stack's customer-managed KMS key (config ``kmsKey``): created or brought.

With ``kmsKey=create`` the stack creates a symmetric key with yearly automatic
rotation and its key policy (``keypolicies.kms_key_policy``: the account, S3 for
the source bucket's notifications to the encrypted queue, CloudWatch Logs for
the two log groups, CloudWatch alarms for the alarm topic). The policy is a
separate resource because it names the source bucket, whose generated name is
known only after the bucket exists (the bucket itself needs the key's ARN, not
its policy): the pipeline declares it with :func:`key_policy` once the source
bucket is declared, and whatever the services validate at creation (the log
groups, the bucket notification) waits for it.

With an existing key ARN the stack does not touch the key's policy: its owner
adds the same service statements (README, "Customer-managed encryption").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import keypolicies

TYPE = "rekognition-batch:encryption:StackKey"
KEY_DELETION_WINDOW_DAYS = 30  # the maximum: time to notice a mistaken destroy


@dataclass
class StackKeyArgs:
    alias: str  # alias/<resource prefix>


class StackKey(pulumi.ComponentResource):
    """A rotating symmetric KMS key and its alias; the policy comes from :func:`key_policy`."""

    key: aws.kms.Key

    def __init__(
        self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.name = name
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Data at rest of {args.alias.removeprefix('alias/')} (rekognition-batch)",
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            opts=child,
        )
        aws.kms.Alias(f"{name}-alias", name=args.alias, target_key_id=self.key.key_id, opts=child)
        self.register_outputs({"keyArn": self.key.arn})


def key_policy(
    stack_key: StackKey,
    *,
    partition: str,
    region: str,
    account_id: str,
    source_bucket_arn: pulumi.Input[str],
    log_group_names: list[str],
    alert_rule_arn: str | None = None,
) -> aws.kms.KeyPolicy:
    """The key policy (keypolicies.kms_key_policy), a child of the key's component."""
    log_group_arns = [
        keypolicies.log_group_arn(partition, region, account_id, group) for group in log_group_names
    ]
    return aws.kms.KeyPolicy(
        f"{stack_key.name}-policy",
        key_id=stack_key.key.key_id,
        policy=pulumi.Output.from_input(source_bucket_arn).apply(
            lambda bucket_arn: json.dumps(
                keypolicies.kms_key_policy(
                    partition=partition,
                    region=region,
                    account_id=account_id,
                    source_bucket_arn=bucket_arn,
                    log_group_arns=log_group_arns,
                    alert_rule_arn=alert_rule_arn,
                )
            )
        ),
        opts=pulumi.ResourceOptions(parent=stack_key),
    )


def key_usage_grant(
    name: str,
    role: aws.iam.Role,
    key_arn: pulumi.Input[str],
    region: str,
    sid: str,
    services: list[str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.RolePolicy:
    """A role's inline policy to use the stack's key through ``services`` only
    (kms:ViaService names the region, so it must be known)."""
    if not region:
        raise ValueError(f"{name}: kms_key_arn needs region (kms:ViaService names it)")
    return aws.iam.RolePolicy(
        f"{name}-kms-policy",
        role=role.id,
        policy=pulumi.Output.from_input(key_arn).apply(
            lambda key: json.dumps(keypolicies.kms_usage_policy(sid, key, region, services))
        ),
        opts=opts,
    )
