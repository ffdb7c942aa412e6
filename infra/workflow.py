"""The orchestration: the Step Functions state machine and the schedule that starts it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import policies
from infra.contract import SCHEDULE_INPUT
from infra.encryption import key_usage_grant
from infra.statemachine import StackResources, WorkflowOptions, WorkflowParams, build_definition

TYPE = "rekognition-batch:workflow:Workflow"
LEGACY_TYPE = "rekbatch:workflow:Workflow"


@dataclass
class WorkflowArgs:
    # How runs behave: the options built once from the stack config (StackConfig.workflow).
    options: WorkflowOptions
    # The stack's resources the definition names and the role may use.
    queue_url: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    final_bucket: pulumi.Input[str]
    final_bucket_arn: pulumi.Input[str]
    event_source_mapping_uuid: pulumi.Input[str]
    event_source_mapping_arn: pulumi.Input[str]
    project_arn: str
    project_version_arn: str
    version_name: str
    # Run-end notification: None = no SNS publish / no event (StackResources).
    notification_topic_arn: pulumi.Input[str] | None
    event_bus_arn: str | None
    # Where it is deployed, and how it is started and logged.
    account_id: str
    region: str
    schedule_group_arn: str
    schedule_expression: str
    schedule_timezone: str
    log_group_name: str
    log_retention_days: int
    log_level: str
    # Customer-managed key (None: none): log group encryption; the role may use it
    # through S3 (runs/), SQS (the test-event peek) and SNS (the notification).
    kms_key_arn: pulumi.Input[str] | None = None
    log_group_depends_on: Sequence[pulumi.Resource] = ()


def render_definition(params: WorkflowParams) -> str:
    """The definition string exactly as Step Functions receives it."""
    return json.dumps(build_definition(params), indent=2, sort_keys=False)


def definition(args: WorkflowArgs) -> pulumi.Output[str]:
    """The rendered definition, once the resources' names are known."""
    return pulumi.Output.all(
        args.queue_url,
        args.event_source_mapping_uuid,
        args.final_bucket,
        args.notification_topic_arn,
    ).apply(
        lambda a: render_definition(
            WorkflowParams.of(
                StackResources(
                    queue_url=a[0],
                    project_arn=args.project_arn,
                    project_version_arn=args.project_version_arn,
                    version_name=args.version_name,
                    event_source_mapping_uuid=a[1],
                    final_bucket=a[2],
                    notification_topic_arn=a[3],
                    event_bus_arn=args.event_bus_arn,
                ),
                args.options,
            )
        )
    )


class Workflow(pulumi.ComponentResource):
    """STANDARD state machine logging to its own log group, started by EventBridge
    Scheduler through a role that may start this state machine and nothing else."""

    state_machine: aws.sfn.StateMachine
    schedule: aws.scheduler.Schedule

    def __init__(
        self, name: str, args: WorkflowArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
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
            opts=self._child,
        )
        self.state_machine = self._state_machine()
        grants = self._role_grants()
        self.schedule = self._schedule(grants)
        self.register_outputs(
            {"stateMachineArn": self.state_machine.arn, "scheduleArn": self.schedule.arn}
        )

    def _state_machine(self) -> aws.sfn.StateMachine:
        name, args = self._name, self._args
        # CreateStateMachine verifies the log delivery permissions when logging
        # is configured, so this part of the role exists before the state machine.
        logging_policy = aws.iam.RolePolicy(
            f"{name}-logging-policy",
            role=self.role.id,
            policy=json.dumps(policies.state_machine_logging_policy()),
            opts=self._child,
        )
        return aws.sfn.StateMachine(
            name,
            type="STANDARD",
            role_arn=self.role.arn,
            definition=definition(args),
            logging_configuration={
                "log_destination": self.log_group.arn.apply(policies.log_streams_arn),
                "include_execution_data": True,
                "level": args.log_level,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logging_policy]),
        )

    def _role_grants(self) -> list[pulumi.Resource]:
        """What the workflow's role may do (and with the stack's key, if any)."""
        name, args = self._name, self._args
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
                        runs_prefix=args.options.runs_prefix,
                        notification_topic_arn=a[4],
                        event_bus_arn=args.event_bus_arn,
                    )
                )
            ),
            opts=self._child,
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
                    self._child,
                )
            )
        return grants

    def _schedule(self, grants: list[pulumi.Resource]) -> aws.scheduler.Schedule:
        """The schedule and the role it starts the state machine with."""
        name, args = self._name, self._args
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
            opts=self._child,
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-policy",
            role=self.scheduler_role.id,
            policy=self.state_machine.arn.apply(
                lambda arn: json.dumps(policies.scheduler_policy(arn))
            ),
            opts=self._child,
        )
        # The first scheduled run must find every permission in place.
        return aws.scheduler.Schedule(
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
