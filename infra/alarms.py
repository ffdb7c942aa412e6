"""Alarms worth paging on, published to one SNS topic (optionally e-mailed)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

# CloudWatch alarms evaluate at most one day: periods x period <= 86400 s.
MODEL_ALARM_PERIOD_SECONDS = 300
TYPE = "rekognition-batch:alarms:Alarms"
LEGACY_TYPE = "rekbatch:alarms:Alarms"


def model_alarm_periods(model_alarm_minutes: int) -> int:
    """Consecutive 5-minute periods with the model in service that mean 'too long'."""
    return max(1, math.ceil(model_alarm_minutes * 60 / MODEL_ALARM_PERIOD_SECONDS))


@dataclass
class AlarmsArgs:
    dlq_name: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]
    project_name: str
    version_name: str
    model_alarm_minutes: int  # start timeout + max run + margin
    alarm_email: str | None
    # A customer-managed key (None: unencrypted, see below); its key policy admits
    # cloudwatch.amazonaws.com for this account's alarms (infra/keypolicies.kms_key_policy).
    kms_key_arn: pulumi.Input[str] | None = None
    # The stall alarm: the main queue and the age of its oldest message that means
    # the backlog is not being worked off (infra/config/keys.py stallAlarmMinutes).
    queue_name: pulumi.Input[str] | None = None
    stall_alarm_minutes: int | None = None


class Alarms(pulumi.ComponentResource):
    """DLQ not empty; workflow executions failed or timed out; model in service
    longer than any run may keep it (the ~4 USD/unit-hour forgotten-model case);
    the oldest queued image older than the schedule promises (a stalled backlog)."""

    topic: aws.sns.Topic

    def __init__(
        self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)

        # Without a customer-managed key not encrypted on purpose: CloudWatch can
        # not publish to a topic encrypted with the AWS-managed SNS key (its key
        # policy can not grant cloudwatch.amazonaws.com kms:GenerateDataKey);
        # alarms carry no data. With the stack's key, its policy admits CloudWatch.
        self.topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=args.kms_key_arn, opts=child)
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.alarm_email,
                opts=child,
            )
        self.dlq_not_empty = self._alarm(
            "dlq-not-empty",
            "Messages reached the dead-letter queue: images failed repeatedly. Inspect them, "
            "fix the cause, then redrive the DLQ to the queue.",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": args.dlq_name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            threshold=0,
        )
        self.workflow_failed = self._workflow_failed()
        self.model_running_too_long = self._model_running_too_long()
        self.backlog_stalled = self._backlog_stalled()
        self.register_outputs({"topicArn": self.topic.arn})

    def _alarm(self, part: str, description: str, **metric: Any) -> aws.cloudwatch.MetricAlarm:
        """An alarm above ``threshold`` on ``metric`` that notifies the topic (on
        alarm and on OK); missing data is not breaching."""
        actions = [self.topic.arn]
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{part}",
            alarm_description=description,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            opts=pulumi.ResourceOptions(parent=self),
            **metric,
        )

    def _workflow_failed(self) -> aws.cloudwatch.MetricAlarm:
        def states_metric(
            query_id: str, metric: str
        ) -> aws.cloudwatch.MetricAlarmMetricQueryArgsDict:
            return {
                "id": query_id,
                "return_data": False,
                "metric": {
                    "namespace": "AWS/States",
                    "metric_name": metric,
                    "dimensions": {"StateMachineArn": self._args.state_machine_arn},
                    "period": 300,
                    "stat": "Sum",
                },
            }

        return self._alarm(
            "workflow-failed",
            "A batch inference run failed or timed out. Its cleanup stopped the model; see "
            "the execution and runs/<execution>.json in the final bucket.",
            metric_queries=[
                states_metric("failed", "ExecutionsFailed"),
                states_metric("timedout", "ExecutionsTimedOut"),
                {
                    "id": "problems",
                    "expression": "FILL(failed, 0) + FILL(timedout, 0)",
                    "label": "Failed or timed-out executions",
                    "return_data": True,
                },
            ],
            evaluation_periods=1,
            threshold=0,
        )

    def _model_running_too_long(self) -> aws.cloudwatch.MetricAlarm:
        # Rekognition publishes InServiceInferenceUnits (per ProjectName and
        # VersionName, 1-minute data) while the model runs: in service in every
        # period of a window longer than any run means it was left running.
        args = self._args
        periods = model_alarm_periods(args.model_alarm_minutes)
        return self._alarm(
            "model-running-too-long",
            f"The model {args.project_name}/{args.version_name} has been running for more "
            f"than {args.model_alarm_minutes} minutes (longer than any run may keep it). "
            "It costs per inference-unit hour: stop it unless someone else uses it.",
            namespace="AWS/Rekognition",
            metric_name="InServiceInferenceUnits",
            dimensions={"ProjectName": args.project_name, "VersionName": args.version_name},
            statistic="Average",
            period=MODEL_ALARM_PERIOD_SECONDS,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            threshold=0,
        )

    def _backlog_stalled(self) -> aws.cloudwatch.MetricAlarm | None:
        # SQS publishes ApproximateAgeOfOldestMessage every minute while the queue
        # is active (any message in it): a backlog that runs fail to work off, a model
        # that can not start, runs cut short by maxRunMinutes all show as age.
        args = self._args
        if args.queue_name is None or not args.stall_alarm_minutes:
            return None
        return self._alarm(
            "backlog-stalled",
            f"The oldest image in the queue has waited more than "
            f"{args.stall_alarm_minutes} minutes: runs are failing, the model can not "
            "start, or runs end at maxRunMinutes before the backlog drains. See "
            "`rekbatch status` and the README's troubleshooting; messages older than the "
            "queue's retention are deleted (`rekbatch backfill` queues the images again).",
            namespace="AWS/SQS",
            metric_name="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": args.queue_name},
            statistic="Maximum",
            period=MODEL_ALARM_PERIOD_SECONDS,
            evaluation_periods=1,
            threshold=args.stall_alarm_minutes * 60,
        )
