"""IAM policies: the pure builders, and parliament on every policy the program renders."""

from __future__ import annotations

import json

import parliament
import pytest

from infra import policies
from tests.infra.conftest import (
    ACCOUNT,
    PIPELINE,
    PROJECT_ARN,
    REGION,
    VERSION_ARN,
    ProgramRun,
    run_program,
)

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:ingest"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:workflow"
MAPPING_ARN = policies.event_source_mapping_arn("aws", REGION, ACCOUNT, "a1b2c3d4-uuid")
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fn"

# Parliament findings judged false positives, each with the reason. Anything
# else parliament reports fails the test.
ACCEPTED_FINDINGS = {
    # states:ListExecutions lists the executions of a state machine OR of a
    # map run; AWS requires one of the two resource types, parliament wants
    # both. Granting map runs would widen the policy for nothing.
    ("RESOURCE_MISMATCH", "states:ListExecutions"),
}


# A KMS key policy is a resource policy whose "Resource": "*" means the key
# itself, which parliament (an identity-policy linter) reports as RESOURCE_STAR;
# and AWS documents ArnEquals for kms:EncryptionContext:aws:logs:arn, a string
# key to parliament (MISMATCHED_TYPE). Accepted for key policies only.
KEY_POLICY_ACCEPTED_ISSUES = {"RESOURCE_STAR", "MISMATCHED_TYPE"}


def findings(policy: dict) -> list[tuple[str, str]]:
    result = parliament.analyze_policy_string(json.dumps(policy))
    out = []
    for finding in result.findings:
        detail = finding.detail
        if isinstance(detail, list):  # [{"action": ...}] or, for RESOURCE_STAR, [action]
            actions = [d["action"] if isinstance(d, dict) else str(d) for d in detail]
        else:
            actions = [str(detail)]
        out.extend((finding.issue, action) for action in actions)
    return [f for f in out if f not in ACCEPTED_FINDINGS]


def function_policy() -> dict:
    return policies.function_policy(
        source_bucket_arn="arn:aws:s3:::src",
        final_bucket_arn="arn:aws:s3:::fin",
        queue_arn=QUEUE_ARN,
        project_version_arn=VERSION_ARN,
        log_group_arn=LOG_GROUP_ARN,
    )


def state_machine_policy() -> dict:
    return policies.state_machine_policy(
        state_machine_arn=STATE_MACHINE_ARN,
        queue_arn=QUEUE_ARN,
        project_arn=PROJECT_ARN,
        project_version_arn=VERSION_ARN,
        event_source_mapping_arn=MAPPING_ARN,
        final_bucket_arn="arn:aws:s3:::fin",
        runs_prefix="runs/",
    )


def test_rekognition_actions_are_scoped_to_the_resource_type_aws_authorises_them_on() -> None:
    sm = {s["Sid"]: s for s in state_machine_policy()["Statement"]}
    assert sm["DescribeTheModel"]["Resource"] == PROJECT_ARN  # "project" resource type
    assert sm["StartAndStopTheModel"]["Resource"] == VERSION_ARN  # "projectversion"
    fn = {s["Sid"]: s for s in function_policy()["Statement"]}
    assert fn["DetectWithTheModelVersion"]["Resource"] == VERSION_ARN


def test_the_workflow_may_consume_messages_of_its_queue_only() -> None:
    """The s3:TestEvent peek: receive + delete on the ingest queue, nothing else."""
    sqs = [
        s
        for s in state_machine_policy()["Statement"]
        if s["Sid"].startswith(("MeasureTheBacklog", "DropS3TestEvents"))
    ]
    assert {s["Sid"]: (s["Action"], s["Resource"]) for s in sqs} == {
        "MeasureTheBacklog": (["sqs:GetQueueAttributes"], QUEUE_ARN),
        "DropS3TestEvents": (["sqs:DeleteMessage", "sqs:ReceiveMessage"], QUEUE_ARN),
    }
    granted = policies.actions_of(state_machine_policy())
    assert {a for a in granted if a.startswith("sqs:")} == {
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
    }


def test_run_summaries_are_the_only_objects_the_workflow_may_write() -> None:
    (statement,) = [s for s in state_machine_policy()["Statement"] if "s3:PutObject" in s["Action"]]
    assert statement["Resource"] == "arn:aws:s3:::fin/runs/*"


def test_only_the_log_delivery_statement_uses_a_wildcard_resource() -> None:
    for policy in (
        function_policy(),
        state_machine_policy(),
        policies.scheduler_policy(STATE_MACHINE_ARN),
    ):
        for statement in policy["Statement"]:
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            assert "*" not in resources
    (logging,) = policies.state_machine_logging_policy()["Statement"]
    assert logging["Resource"] == "*"
    assert set(logging["Action"]) == set(policies.STATES_LOG_DELIVERY_ACTIONS)


def test_log_streams_arn_appends_the_stream_wildcard_once() -> None:
    assert policies.log_streams_arn(LOG_GROUP_ARN) == f"{LOG_GROUP_ARN}:*"
    assert policies.log_streams_arn(f"{LOG_GROUP_ARN}:*") == f"{LOG_GROUP_ARN}:*"


def test_trust_policies_guard_against_the_confused_deputy() -> None:
    trust = policies.assume_role_policy("scheduler.amazonaws.com", ACCOUNT, STATE_MACHINE_ARN)
    (statement,) = trust["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": STATE_MACHINE_ARN},
    }


@pytest.mark.parametrize(
    "policy",
    [
        function_policy(),
        state_machine_policy(),
        policies.state_machine_logging_policy(),
        policies.scheduler_policy(STATE_MACHINE_ARN),
        policies.tls_only_bucket_policy("arn:aws:s3:::src"),
        policies.queue_policy(QUEUE_ARN, "arn:aws:s3:::src", ACCOUNT),
        policies.tls_only_queue_policy(QUEUE_ARN),
    ],
    ids=[
        "function",
        "state-machine",
        "state-machine-logging",
        "scheduler",
        "tls-only",
        "queue",
        "queue-tls-only",
    ],
)
def test_parliament_reports_nothing_on_the_builders(policy: dict) -> None:
    assert findings(policy) == []


def test_parliament_catches_a_bad_policy() -> None:
    """The lint is live: a typo'd action and a wrong resource type are reported."""
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "rekognition:DetectCustomLabel", "Resource": VERSION_ARN},
            {"Effect": "Allow", "Action": "rekognition:StopProjectVersion", "Resource": QUEUE_ARN},
        ],
    }
    issues = {issue for issue, _ in findings(bad)}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues


POLICY_TYPES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:kms/keyPolicy:KeyPolicy",
)
DEFAULT_MODE_POLICIES = {
    "inference-policy",
    "workflow-logging-policy",
    "workflow-policy",
    "workflow-scheduler-policy",
    "source-tls-only",
    "final-tls-only",
    "ingest-policy",
    "ingest-dlq-tls-only",
    "notifications-tls-only",
}
KMS_MODE_POLICIES = {"inference-kms-policy", "workflow-kms-policy", "key-policy"}


def _rendered(run: ProgramRun) -> dict[str, dict]:
    return {
        r.name.removeprefix(f"{PIPELINE}-"): json.loads(r.inputs["policy"])
        for r in run.resources
        if r.type in POLICY_TYPES
    }


def test_parliament_reports_nothing_on_any_policy_the_program_renders(program: ProgramRun) -> None:
    rendered = _rendered(program)
    assert set(rendered) == DEFAULT_MODE_POLICIES
    for name, policy in rendered.items():
        assert findings(policy) == [], name


def test_parliament_reports_nothing_on_the_customer_managed_key_policies(
    base_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = _rendered(run_program({**base_config, "kmsKey": "create"}, monkeypatch))
    assert set(rendered) == DEFAULT_MODE_POLICIES | KMS_MODE_POLICIES
    for name, policy in rendered.items():
        found = findings(policy)
        if name == "key-policy":
            found = [f for f in found if f[0] not in KEY_POLICY_ACCEPTED_ISSUES]
        assert found == [], name
