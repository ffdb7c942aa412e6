"""The run-end notification topic: what the workflow's final phase publishes to."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies

TYPE = "rekognition-batch:notifications:RunNotifications"
# SNS's AWS-managed key: enough when only IAM principals of this account publish
# (the state machine's role); a customer-managed key replaces it when configured.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


@dataclass
class RunNotificationsArgs:
    account_id: str
    email: str | None = None  # subscribed (the address confirms once) when set
    kms_key_arn: pulumi.Input[str] | None = None  # None: the AWS-managed SNS key


class RunNotifications(pulumi.ComponentResource):
    """Encrypted, TLS-only SNS topic (+ optional e-mail subscription) for run ends."""

    topic: aws.sns.Topic

    def __init__(
        self, name: str, args: RunNotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.topic = aws.sns.Topic(
            f"{name}-topic",
            kms_master_key_id=args.kms_key_arn or AWS_MANAGED_SNS_KEY,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-tls-only",
            arn=self.topic.arn,
            policy=self.topic.arn.apply(
                lambda arn: json.dumps(policies.tls_only_topic_policy(arn, args.account_id))
            ),
            opts=child,
        )
        if args.email:
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.email,
                opts=child,
            )
        self.register_outputs({"topicArn": self.topic.arn})
