"""Label alerts by e-mail (config ``alertEmail``): an EventBridge rule on the
function's "Rekognition Batch Label Detected" events -> an SNS topic -> e-mail.

The function puts the events on the default bus whenever ``alertLabels`` is
set (runtime/alerts.py); this component is the optional sample consumer. Your
own rules (Slack through a Lambda, a ticket, a queue) can match the same
source and detail-type instead or as well.

Encryption as the alarm topic's: with the stack's customer-managed key
(``kmsKey``) the topic uses it and the key policy admits EventBridge for this
rule only (infra/keypolicies.py); without one the topic is not encrypted at
rest, because EventBridge can not publish to a topic under the AWS-managed
SNS key (that key's policy can not admit events.amazonaws.com). TLS is
enforced either way, and only this rule (``aws:SourceArn``) may publish.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from runtime.alerts import DETAIL_TYPE, EVENT_SOURCE

TYPE = "rekognition-batch:alerts:LabelAlerts"
RULE_NAME_MAX = 64  # EventBridge rule names: 1-64 characters


def rule_name(prefix: str) -> str:
    """The rule's name, fixed (the key policy names the rule's ARN before it exists)."""
    name = f"{prefix}-label-alerts"
    if len(name) <= RULE_NAME_MAX:
        return name
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:8]
    return f"{prefix[: RULE_NAME_MAX - len('-label-alerts') - 9]}-{digest}-label-alerts"


def rule_arn(partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:events:{region}:{account_id}:rule/{name}"


def event_pattern() -> dict[str, list[str]]:
    """What the rule matches: the function's label alerts, nothing else."""
    return {"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE]}


@dataclass
class LabelAlertsArgs:
    rule_name: str
    rule_arn: str  # rule_arn(...) of rule_name: the topic policy's aws:SourceArn
    account_id: str
    email: str
    kms_key_arn: pulumi.Input[str] | None = None  # None: not encrypted (see the docstring)


class LabelAlerts(pulumi.ComponentResource):
    """Rule (default bus) -> encrypted, TLS-only topic that only the rule may publish to
    -> an e-mail subscription (the address confirms once)."""

    rule: aws.cloudwatch.EventRule
    topic: aws.sns.Topic

    def __init__(
        self, name: str, args: LabelAlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=args.kms_key_arn, opts=child)
        topic_policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=self.topic.arn.apply(
                lambda arn: json.dumps(
                    policies.alert_topic_policy(arn, args.account_id, args.rule_arn)
                )
            ),
            opts=child,
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=args.rule_name,
            description="Label alerts of the inference function (alertLabels) to the alert topic",
            event_pattern=json.dumps(event_pattern()),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-to-topic",
            rule=self.rule.name,
            arn=self.topic.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[topic_policy]),
        )
        aws.sns.TopicSubscription(
            f"{name}-email",
            topic=self.topic.arn,
            protocol="email",
            endpoint=args.email,
            opts=child,
        )
        self.register_outputs({"topicArn": self.topic.arn, "ruleArn": self.rule.arn})
