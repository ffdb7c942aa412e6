"""provision_data_path creates what the Pulumi program declares for the data path."""

from __future__ import annotations

import json

import pytest

from emulator.stack import provision_data_path
from infra import outputs as out
from runtime.settings import Settings
from tests.emulator.emu_helpers import VERSION_ARN


@pytest.fixture
def stack(aws):
    return provision_data_path(
        aws, project_version_arn=VERSION_ARN, batch_size=7, batching_window=2, maximum_concurrency=3
    )


def test_outputs_use_the_stack_output_names(stack):
    for name in (*out.REQUIRED_BY_CLI, out.QUEUE_ARN, out.FUNCTION_NAME, out.REGION):
        if name != out.STATE_MACHINE_ARN:  # added by emulator/workflow.py
            assert stack[name], name
    assert stack[out.VERSION_NAME] == "shapes.2024-05-01"
    assert stack[out.PROJECT_ARN].endswith(":project/shapes/1714550400000")


def test_notifications_cover_both_letter_cases(aws, stack):
    config = aws.client("s3").get_bucket_notification_configuration(
        Bucket=stack[out.SOURCE_BUCKET]
    )["QueueConfigurations"]
    values = sorted(c["Filter"]["Key"]["FilterRules"][0]["Value"] for c in config)
    assert values == sorted([".jpg", ".JPG", ".jpeg", ".JPEG", ".png", ".PNG"])
    assert {c["QueueArn"] for c in config} == {stack[out.QUEUE_ARN]}


def test_mapping_is_created_disabled_with_partial_batch_responses(aws, stack):
    esm = aws.client("lambda").get_event_source_mapping(UUID=stack[out.EVENT_SOURCE_MAPPING_UUID])
    assert esm["State"] == "Disabled"
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (esm["BatchSize"], esm["MaximumBatchingWindowInSeconds"]) == (7, 2)
    assert esm["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert esm["EventSourceArn"] == stack[out.QUEUE_ARN]


def test_function_environment_is_the_runtime_settings(aws, stack):
    config = aws.client("lambda").get_function_configuration(FunctionName=stack[out.FUNCTION_NAME])
    env = config["Environment"]["Variables"]
    settings = Settings.from_env(env)
    assert settings.final_bucket == stack[out.FINAL_BUCKET]
    assert settings.project_version_arn == VERSION_ARN
    assert settings.to_env() == env


def test_queue_redrives_to_the_dlq_with_the_aws_visibility_rule(aws, stack):
    attrs = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack[out.QUEUE_URL], AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 3
    assert redrive["deadLetterTargetArn"].endswith(":rekbatch-dev-dlq")
    assert int(attrs["VisibilityTimeout"]) == 6 * 60 + 2
    assert json.loads(attrs["Policy"])["Statement"][0]["Principal"] == {
        "Service": "s3.amazonaws.com"
    }


def test_the_model_version_is_registered(aws, stack):
    assert aws.model.status(VERSION_ARN) == "TRAINING_COMPLETED"


def test_invalid_settings_fail_before_anything_is_created(aws):
    with pytest.raises(ValueError, match="MIN_CONFIDENCE"):
        provision_data_path(aws, project_version_arn=VERSION_ARN, min_confidence=120)
    assert aws.client("s3").list_buckets()["Buckets"] == []
