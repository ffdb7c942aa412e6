"""Customer-managed encryption (config kmsKey) under mocks: the default stays
SSE-S3 / SQS-managed, `create` makes a rotating key used everywhere with a key
policy admitting exactly the services that need it, and a key ARN is used as is."""

from __future__ import annotations

import json

import pytest

from infra import outputs
from tests.infra.conftest import ACCOUNT, PIPELINE, REGION, STACK, ProgramRun, run_program

KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ALIAS = "aws:kms/alias:Alias"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
EXISTING_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-000011112222"
LOG_GROUPS = (
    f"/aws/lambda/rekognition-batch-{STACK}-inference",
    f"/aws/vendedlogs/states/rekognition-batch-{STACK}-workflow",
)


@pytest.fixture(scope="module")
def created(dummy_bundle) -> ProgramRun:
    from tests.infra.conftest import minimal_config

    with pytest.MonkeyPatch.context() as mp:
        return run_program({**minimal_config(dummy_bundle), "kmsKey": "create"}, mp)


@pytest.fixture(scope="module")
def existing(dummy_bundle) -> ProgramRun:
    from tests.infra.conftest import minimal_config

    with pytest.MonkeyPatch.context() as mp:
        return run_program({**minimal_config(dummy_bundle), "kmsKey": EXISTING_KEY}, mp)


def _key_users(run: ProgramRun, key_arn: str | None) -> None:
    """Every data store of the pipeline is encrypted with ``key_arn``."""
    for bucket in ("source", "final"):
        rule = run.by_name(f"{bucket}-encryption").inputs["rules"][0]
        assert rule == {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": key_arn,
            },
            "bucketKeyEnabled": True,
        }
    for queue in ("ingest", "ingest-dlq"):
        inputs = run.by_name(queue).inputs
        assert inputs["kmsMasterKeyId"] == key_arn, queue
        assert "sqsManagedSseEnabled" not in inputs, queue
    assert {r.inputs["name"]: r.inputs.get("kmsKeyId") for r in run.of_type(LOG_GROUP)} == {
        group: key_arn for group in LOG_GROUPS
    }
    assert {r.name: r.inputs.get("kmsMasterKeyId") for r in run.of_type(TOPIC)} == {
        f"{PIPELINE}-notifications-topic": key_arn,
        f"{PIPELINE}-alarms-topic": key_arn,
    }
    assert run.outputs[outputs.KMS_KEY_ARN] == key_arn


def test_default_mode_uses_no_customer_managed_key(program: ProgramRun) -> None:
    assert program.of_type(KEY) == [] and program.of_type(KEY_POLICY) == []
    for queue in ("ingest", "ingest-dlq"):
        assert program.by_name(queue).inputs["sqsManagedSseEnabled"] is True
        assert "kmsMasterKeyId" not in program.by_name(queue).inputs
    assert all("kmsKeyId" not in r.inputs for r in program.of_type(LOG_GROUP))
    assert "kmsMasterKeyId" not in program.by_name("alarms-topic").inputs
    names = {r.name for r in program.resources}
    assert f"{PIPELINE}-inference-kms-policy" not in names
    assert f"{PIPELINE}-workflow-kms-policy" not in names


def test_created_key_rotates_and_is_used_by_every_store(created: ProgramRun) -> None:
    (key,) = created.of_type(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert "policy" not in key.inputs  # the KeyPolicy resource owns it
    (alias,) = created.of_type(ALIAS)
    assert alias.inputs["name"] == f"alias/rekognition-batch-{STACK}"
    _key_users(created, key.state["arn"])


def test_existing_key_is_used_as_given_and_its_policy_left_alone(existing: ProgramRun) -> None:
    assert existing.of_type(KEY) == [] and existing.of_type(KEY_POLICY) == []
    _key_users(existing, EXISTING_KEY)
    grant = json.loads(existing.by_name("inference-kms-policy").inputs["policy"])
    assert grant["Statement"][0]["Resource"] == EXISTING_KEY


def test_key_policy_admits_exactly_the_services_that_need_it(created: ProgramRun) -> None:
    (policy_resource,) = created.of_type(KEY_POLICY)
    (key,) = created.of_type(KEY)
    assert policy_resource.inputs["keyId"] == key.state["keyId"]
    statements = {s["Sid"]: s for s in json.loads(policy_resource.inputs["policy"])["Statement"]}
    assert set(statements) == {
        "AccountAdministersAndIamDelegates",
        "S3NotifiesTheEncryptedQueue",
        "CloudWatchLogsEncryptsTheStackLogGroups",
        "CloudWatchAlarmsPublishToTheEncryptedTopic",
    }
    assert statements["AccountAdministersAndIamDelegates"]["Principal"] == {
        "AWS": f"arn:aws:iam::{ACCOUNT}:root"
    }
    s3 = statements["S3NotifiesTheEncryptedQueue"]
    assert s3["Principal"] == {"Service": "s3.amazonaws.com"}
    assert s3["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert s3["Condition"] == {
        "ArnEquals": {"aws:SourceArn": created.state_of("source", "arn")},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }
    logs = statements["CloudWatchLogsEncryptsTheStackLogGroups"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": [
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}" for group in LOG_GROUPS
            ]
        }
    }
    alarms = statements["CloudWatchAlarmsPublishToTheEncryptedTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert alarms["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"
    }


def test_what_aws_validates_against_the_key_policy_waits_for_it(created: ProgramRun) -> None:
    assert KEY_POLICY in created.by_name("ingest-notification").dependencies
    for group in created.of_type(LOG_GROUP):
        assert KEY_POLICY in group.dependencies, group.name


@pytest.mark.parametrize(
    ("role_policy", "services"),
    [
        ("inference-kms-policy", ["s3", "sqs"]),
        ("workflow-kms-policy", ["s3", "sqs", "sns"]),
    ],
)
def test_roles_use_the_key_only_through_their_services(
    created: ProgramRun, role_policy: str, services: list[str]
) -> None:
    (key,) = created.of_type(KEY)
    (statement,) = json.loads(created.by_name(role_policy).inputs["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == key.state["arn"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": [f"{s}.{REGION}.amazonaws.com" for s in services]}
    }


def test_the_function_and_schedule_wait_for_the_key_grants(created: ProgramRun) -> None:
    function = created.one("aws:lambda/function:Function")
    mapping = created.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    schedule = created.one("aws:scheduler/schedule:Schedule")
    for resource in (function, mapping, schedule):
        assert resource.dependencies.count("aws:iam/rolePolicy:RolePolicy") >= 2, resource.name
