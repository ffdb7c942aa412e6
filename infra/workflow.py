"""The orchestration: the Step Functions state machine and the schedule that starts it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.contract import DEFAULT_NOTIFY_OUTCOMES, SCHEDULE_INPUT
from infra.encryption import key_usage_grant
from infra.statemachine import WorkflowParams, build_definition

TYPE = "rekognition-batch:workflow:Workflow"
LEGACY_TYPE = "rekbatch:workflow:Workflow"


@dataclass
class WorkflowArgs:
    queue_url: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    final_bucket: pulumi.Input[str]
    final_bucket_arn: pulumi.Input[str]
    event_source_mapping_uuid: pulumi.Input[str]
    event_source_mapping_arn: pulumi.Input[str]
    project_arn: str
    project_version_arn: str
    version_name: str
    account_id: str
    runs_prefix: str
    min_inference_units: int
    max_inference_units: int | None
    ownership: str
    tps_per_unit: float
    target_run_minutes: int
    max_planned_units: int
    concurrency_by_units: tuple[int, ...]
    price_per_inference_unit_hour: float
    poll_interval_seconds: int
    drain_confirm_seconds: int | None
    model_start_timeout_seconds: int
    max_run_seconds: int
    disable_grace_seconds: int
    schedule_group_arn: str
    log_group_name: str
    log_retention_days: int
    log_level: str
    schedule_expression: str
    schedule_timezone: str
    # Run-end notification: None = no SNS publish / no event (WorkflowParams).
    notification_topic_arn: pulumi.Input[str] | None = None
    event_bus_arn: str | None = None
    notify_outcomes: tuple[str, ...] = DEFAULT_NOTIFY_OUTCOMES
    # Customer-managed key (None: none): log group encryption; the role may use it
    # through S3 (runs/), SQS (the test-event peek) and SNS (the notification).
    kms_key_arn: pulumi.Input[str] | None = None
    region: str = ""
    log_group_depends_on: Sequence[pulumi.Resource] = ()


def render_definition(params: WorkflowParams) -> str:
    """The definition string exactly as Step Functions receives it."""
    return json.dumps(build_definition(params), indent=2, sort_keys=False)


class Workflow(pulumi.ComponentResource):
    """STANDARD state machine logging to its own log group, started by EventBridge
    Scheduler through a role that may start this state machine and nothing else."""

    state_machine: aws.sfn.StateMachine
    schedule: aws.scheduler.Schedule

    def __init__(
        self, name: str, args: WorkflowArgs, opts: pulumi.ResourceOptions | None = None
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
            description="Batch inference workflow: model start/stop, mapping toggle, run summaries",
            assume_role_policy=json.dumps(
                policies.assume_role_policy("states.amazonaws.com", args.account_id)
            ),
            opts=child,
        )
        # CreateStateMachine verifies the log delivery permissions when logging
        # is configured, so this part of the role exists before the state machine.
        logging_policy = aws.iam.RolePolicy(
            f"{name}-logging-policy",
            role=self.role.id,
            policy=json.dumps(policies.state_machine_logging_policy()),
            opts=child,
        )
        definition = pulumi.Output.all(
            args.queue_url,
            args.event_source_mapping_uuid,
            args.final_bucket,
            args.notification_topic_arn,
        ).apply(
            lambda a: render_definition(
                WorkflowParams(
                    queue_url=a[0],
                    project_arn=args.project_arn,
                    project_version_arn=args.project_version_arn,
                    version_name=args.version_name,
                    event_source_mapping_uuid=a[1],
                    final_bucket=a[2],
                    runs_prefix=args.runs_prefix,
                    min_inference_units=args.min_inference_units,
                    max_inference_units=args.max_inference_units,
                    ownership=args.ownership,
                    tps_per_unit=args.tps_per_unit,
                    target_run_minutes=args.target_run_minutes,
                    max_planned_units=args.max_planned_units,
                    concurrency_by_units=args.concurrency_by_units,
                    price_per_inference_unit_hour=args.price_per_inference_unit_hour,
                    poll_interval_seconds=args.poll_interval_seconds,
                    drain_confirm_seconds=args.drain_confirm_seconds,
                    model_start_timeout_seconds=args.model_start_timeout_seconds,
                    max_run_seconds=args.max_run_seconds,
                    disable_grace_seconds=args.disable_grace_seconds,
                    notification_topic_arn=a[3],
                    event_bus_arn=args.event_bus_arn,
                    notify_outcomes=args.notify_outcomes,
                )
            )
        )
        self.state_machine = aws.sfn.StateMachine(
            name,
            type="STANDARD",
            role_arn=self.role.arn,
            definition=definition,
            logging_configuration={
                "log_destination": self.log_group.arn.apply(policies.log_streams_arn),
                "include_execution_data": True,
                "level": args.log_level,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logging_policy]),
        )
        workflow_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                self.state_machine.arn,
                args.queue_arn,
                args.event_source_mapping_arn,
                args.final_bucket_arn,
                args.notification_topic_arn,
            ).apply(
                lambda a: json.dumps(
                    policies.state_machine_policy(
                        state_machine_arn=a[0],
                        queue_arn=a[1],
                        project_arn=args.project_arn,
                        project_version_arn=args.project_version_arn,
                        event_source_mapping_arn=a[2],
                        final_bucket_arn=a[3],
                        runs_prefix=args.runs_prefix,
                        notification_topic_arn=a[4],
                        event_bus_arn=args.event_bus_arn,
                    )
                )
            ),
            opts=child,
        )
        grants: list[pulumi.Resource] = [workflow_policy]
        if args.kms_key_arn is not None:
            grants.append(
                key_usage_grant(
                    name,
                    self.role,
                    args.kms_key_arn,
                    args.region,
                    "UseTheStackKeyForSummariesPeekAndNotification",
                    ["s3", "sqs", "sns"],
                    child,
                )
            )

        self.scheduler_role = aws.iam.Role(
            f"{name}-scheduler-role",
            description="EventBridge Scheduler: start the batch inference workflow",
            assume_role_policy=json.dumps(
                # Only schedules of this account's default group may assume it
                # (the confused-deputy guard AWS documents for Scheduler roles).
                policies.assume_role_policy(
                    "scheduler.amazonaws.com", args.account_id, args.schedule_group_arn
                )
            ),
            opts=child,
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-policy",
            role=self.scheduler_role.id,
            policy=self.state_machine.arn.apply(
                lambda arn: json.dumps(policies.scheduler_policy(arn))
            ),
            opts=child,
        )
        # The first scheduled run must find every permission in place.
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            description="Process the image backlog with the Custom Labels model",
            schedule_expression=args.schedule_expression,
            schedule_expression_timezone=args.schedule_timezone,
            flexible_time_window={"mode": "OFF"},
            state="ENABLED",
            target={
                "arn": self.state_machine.arn,
                "role_arn": self.scheduler_role.arn,
                "input": json.dumps(dict(SCHEDULE_INPUT)),
                # A missed start is not worth a late duplicate: the next tick comes.
                "retry_policy": {
                    "maximum_event_age_in_seconds": 900,
                    "maximum_retry_attempts": 3,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_policy, *grants]),
        )
        self.register_outputs(
            {"stateMachineArn": self.state_machine.arn, "scheduleArn": self.schedule.arn}
        )
