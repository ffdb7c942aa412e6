"""The orchestration workflow on the local emulator.

``provision_stack`` creates what ``pulumi up`` creates: the data path (from
:mod:`emulator.stack`) plus the Step Functions role and state machine, built
by the same :func:`infra.statemachine.build_definition` the Pulumi program uses;
``lambda_service`` runs the local Lambda service for its mapping. Running the
workflow (start, wait, summary, queue depth, model status) is the CLI's
layer: cli/operations.py, on plain boto3 clients, for AWS and the emulator alike.

The definition stays AWS-correct; where moto's aws-sdk tasks differ from AWS
(parameter and result casing among them), emulator/shims.py adapts moto.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from infra import outputs as out
from infra.policies import (
    default_event_bus_arn,
    event_source_mapping_arn,
    state_machine_policy,
)
from infra.statemachine import (
    OWNERSHIP_EXCLUSIVE,
    StackResources,
    WorkflowOptions,
    WorkflowParams,
    build_definition,
)

# Waits scaled down for tests and the demo (the production defaults are in WorkflowOptions).
FAST_WORKFLOW: dict[str, Any] = {
    "poll_interval_seconds": 1,
    "fast_poll_seconds": 1,
    "model_poll_ladder": (),
    "model_poll_seconds": 1,
    "model_start_timeout_seconds": 30,
    "max_run_seconds": 300,
    "model_check_seconds": 2,
    "disable_grace_seconds": 1,
    "mapping_poll_seconds": 1,
    "mapping_wait_seconds": 10,
    "retry_interval_seconds": 1,
    "retry_max_attempts": 3,
    "peek_visibility_timeout_seconds": 1,  # kept peeked messages come back after 1 s
    "guard_settle_seconds": 0,  # one run at a time here (the two-runs scenario sets 1)
}
_OPTION_FIELDS = {f.name for f in dataclasses.fields(WorkflowOptions)}
_SHARED_FIELDS = {"runs_prefix", "min_inference_units"}  # data-path options too


def state_machine_name(stack: str) -> str:
    """Per stack, like every other resource: stacks (and the LocalStack engine's
    tests, which can not reset its state) live side by side."""
    return f"rekbatch-{stack}-orchestrator"


def role_name(stack: str) -> str:
    """The state machine's role (its inline policy: ``<role>-policy``)."""
    return f"{state_machine_name(stack)}-role"


def _role_name(state_machine_arn: str) -> str:
    return f"{state_machine_arn.rsplit(':', 1)[1]}-role"


# ------------------------------------------------------------------ provisioning


def stack_resources(outputs: Mapping[str, Any]) -> StackResources:
    """The resources of a provisioned stack (outputs keyed as infra/outputs.py)."""
    topic_arn = outputs.get(out.NOTIFICATION_TOPIC_ARN)
    event_bus_arn = None
    if topic_arn is not None:
        # The run-end notification: the stack's topic and this account's default bus.
        _, partition, _, region, account, *_ = str(topic_arn).split(":")
        event_bus_arn = default_event_bus_arn(partition, region, account)
    return StackResources(
        queue_url=outputs[out.QUEUE_URL],
        project_arn=outputs[out.PROJECT_ARN],
        project_version_arn=outputs[out.PROJECT_VERSION_ARN],
        version_name=outputs[out.VERSION_NAME],
        event_source_mapping_uuid=outputs[out.EVENT_SOURCE_MAPPING_UUID],
        final_bucket=outputs[out.FINAL_BUCKET],
        notification_topic_arn=topic_arn,
        event_bus_arn=event_bus_arn,
    )


def workflow_params(outputs: Mapping[str, Any], **options: Any) -> WorkflowParams:
    """WorkflowParams for a provisioned stack: its resources, and the options it was
    provisioned with (runs prefix, inference units) overridden by ``options``."""
    unknown = set(options) - _OPTION_FIELDS
    if unknown:
        raise TypeError(f"unknown workflow option(s): {sorted(unknown)}")
    provisioned: dict[str, Any] = {}
    if out.RUNS_PREFIX in outputs:
        provisioned["runs_prefix"] = outputs[out.RUNS_PREFIX]
    if out.MIN_INFERENCE_UNITS in outputs:
        provisioned["min_inference_units"] = int(outputs[out.MIN_INFERENCE_UNITS])
    return WorkflowParams.of(
        stack_resources(outputs), WorkflowOptions(**{**provisioned, **options})
    )


_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _ensure_role(iam: Any, name: str) -> str:
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY))[
            "Role"
        ]["Arn"]


def deploy_state_machine(
    aws: Any, outputs: Mapping[str, Any], *, stack: str = "dev", **workflow_options: Any
) -> str:
    """Create (or update in place) the state machine from the real builder.

    Returns its ARN. Used by :func:`provision_stack` and by tests that need
    other workflow settings (ownership, deadlines) on the same data path
    (``stack`` names a new one; an update keeps the name it has).
    """
    params = workflow_params(outputs, **workflow_options)
    definition = json.dumps(build_definition(params))
    sfn = aws.client("stepfunctions")
    arn = outputs.get(out.STATE_MACHINE_ARN)
    iam = aws.client("iam")
    if arn:
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
    else:
        name = state_machine_name(stack)
        arn = sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=_ensure_role(iam, role_name(stack)),
            type="STANDARD",
        )["stateMachineArn"]
    # The role's grants, as infra/workflow.py attaches them (moto does not enforce
    # them in executions; `rekbatch doctor` simulates them).
    iam.put_role_policy(
        RoleName=_role_name(arn),
        PolicyName=f"{_role_name(arn)}-policy",
        PolicyDocument=json.dumps(_role_policy(aws, outputs, params, arn)),
    )
    return str(arn)


def _role_policy(
    aws: Any, outputs: Mapping[str, Any], params: WorkflowParams, state_machine_arn: str
) -> dict[str, Any]:
    return state_machine_policy(
        state_machine_arn=state_machine_arn,
        queue_arn=outputs[out.QUEUE_ARN],
        project_arn=params.project_arn,
        project_version_arn=params.project_version_arn,
        event_source_mapping_arn=event_source_mapping_arn(
            "aws", aws.region, aws.account_id, outputs[out.EVENT_SOURCE_MAPPING_UUID]
        ),
        final_bucket_arn=f"arn:aws:s3:::{outputs[out.FINAL_BUCKET]}",
        runs_prefix=params.runs_prefix,
        notification_topic_arn=params.notification_topic_arn,
        event_bus_arn=params.event_bus_arn,
    )


def provision_stack(aws: Any, **options: Any) -> dict[str, Any]:
    """The whole stack on ``aws`` (a started LocalAws); returns the outputs.

    Options named like :class:`WorkflowOptions` fields (``ownership``,
    ``poll_interval_seconds``, ...) configure the state machine; the rest go
    to :func:`emulator.stack.provision_data_path` (``schedule`` and
    ``schedule_timezone`` to the schedule record). Workflow options not given
    are :data:`FAST_WORKFLOW`'s (the scaled-down waits); ``python -m emulator
    --stack`` gives them all from the stack (emulator/stackfile.py).
    """
    from emulator.stack import provision_data_path, provision_notifications, provision_operations

    # Settings both sides know (runs prefix, inference units) go to the data path,
    # whose outputs the workflow reads them from.
    workflow_options = {k: options.pop(k) for k in list(options) if k in workflow_option_names()}
    schedule = options.pop("schedule", None)
    timezone = options.pop("schedule_timezone", None)
    stack = options.get("stack", "dev")
    outputs = dict(provision_data_path(aws, **options))
    outputs.update(provision_notifications(aws, stack=stack))
    outputs[out.STATE_MACHINE_ARN] = deploy_state_machine(
        aws, outputs, stack=stack, **{**FAST_WORKFLOW, **workflow_options}
    )
    outputs.update(
        provision_operations(aws, outputs, stack=stack, schedule=schedule, timezone=timezone)
    )
    return outputs


def workflow_option_names() -> set[str]:
    """The options of :func:`provision_stack` that configure the state machine only."""
    return _OPTION_FIELDS - _SHARED_FIELDS


@contextmanager
def lambda_service(aws: Any, outputs: Mapping[str, Any], **poller_options: Any) -> Iterator[Any]:
    """The local Lambda service for the stack's mapping (emulator.poller), running
    the real handler while the state machine keeps the mapping Enabled.

    The handler's clients read AWS_ENDPOINT_URL and friends from the process
    environment: they are set to ``aws.env()`` for the duration (and restored),
    so nothing here can reach a real account.
    """
    from emulator.poller import LambdaPoller

    saved = {name: os.environ.get(name) for name in aws.env()}
    os.environ.update(aws.env())
    try:
        with LambdaPoller(aws, outputs[out.EVENT_SOURCE_MAPPING_UUID], **poller_options) as poller:
            yield poller
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


__all__ = [
    "FAST_WORKFLOW",
    "OWNERSHIP_EXCLUSIVE",
    "deploy_state_machine",
    "lambda_service",
    "provision_stack",
    "role_name",
    "stack_resources",
    "state_machine_name",
    "workflow_option_names",
    "workflow_params",
]
