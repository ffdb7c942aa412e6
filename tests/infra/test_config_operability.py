"""Config keys of the run notification and the customer-managed key, and the
notification fields of the workflow's resources and options: defaults, accepted forms, and every
invalid value failing with a message naming its key (or field)."""

from __future__ import annotations

import dataclasses

import pytest

from infra import contract
from infra.config import KMS_CREATE, ConfigError
from infra.statemachine import WorkflowParams
from tests.infra.conftest import ACCOUNT, PROJECT_ARN, REGION, VERSION_ARN
from tests.infra.test_config import error_for, load_with

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-000011112222"


def test_defaults_notify_drained_max_run_and_failed_and_use_no_customer_key() -> None:
    cfg = load_with()
    assert cfg.notify_on_outcomes == ("drained", "max-run-reached", "failed")
    assert cfg.notify_email is None
    assert cfg.kms_key is None and not cfg.create_kms_key


@pytest.mark.parametrize(
    "raw",
    ['["failed", "skipped", "nothing-to-do"]', "failed, skipped,nothing-to-do"],
)
def test_notify_outcomes_accept_json_arrays_and_comma_lists(raw: str) -> None:
    assert load_with(notifyOnOutcomes=raw).notify_on_outcomes == (
        "failed",
        "skipped",
        "nothing-to-do",
    )


def test_kms_key_create_or_an_arn() -> None:
    assert load_with(kmsKey="create").create_kms_key
    assert load_with(kmsKey=KMS_CREATE).kms_key == KMS_CREATE
    cfg = load_with(kmsKey=KEY_ARN)
    assert cfg.kms_key == KEY_ARN and not cfg.create_kms_key


@pytest.mark.parametrize(
    ("values", "key", "fragment"),
    [
        ({"notifyEmail": "ops"}, "notifyEmail", "not an e-mail address"),
        ({"notifyOnOutcomes": '["drained", "done"]'}, "notifyOnOutcomes", "'done'"),
        ({"notifyOnOutcomes": "[]"}, "notifyOnOutcomes", "at least one"),
        ({"notifyOnOutcomes": '["failed"'}, "notifyOnOutcomes", "not a JSON list"),
        ({"notifyOnOutcomes": "[1]"}, "notifyOnOutcomes", "list of run outcomes"),
        ({"kmsKey": "yes"}, "kmsKey", "a KMS key ARN"),
        ({"kmsKey": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mine"}, "kmsKey", "not an alias"),
        (
            {"kmsKey": KEY_ARN.replace(REGION, "us-east-1")},
            "kmsKey",
            "region 'us-east-1'",
        ),
        ({"kmsKey": KEY_ARN.replace(ACCOUNT, "999999999999")}, "kmsKey", "account"),
    ],
)
def test_invalid_values_fail_naming_the_key(values: dict, key: str, fragment: str) -> None:
    error = error_for(**values)
    assert isinstance(error, ConfigError)
    assert error.key == key and str(error).startswith(f"{key}: ")
    assert fragment in str(error)


# ------------------------------------------------------------------ WorkflowParams

TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:pipeline-notifications-topic-1a2b3c4"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"


def params(**changes) -> WorkflowParams:
    base = WorkflowParams(
        queue_url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q",
        project_arn=PROJECT_ARN,
        project_version_arn=VERSION_ARN,
        version_name="shapes.2025-06-01",
        event_source_mapping_uuid="a1b2c3d4-0000-4000-8000-000000000000",
        final_bucket="final",
    )
    return dataclasses.replace(base, **changes)


def test_notification_fields_default_to_none_and_the_contract_outcomes() -> None:
    p = params()
    assert p.notification_topic_arn is None and p.event_bus_arn is None
    assert p.notify_outcomes == contract.DEFAULT_NOTIFY_OUTCOMES
    params(
        notification_topic_arn=TOPIC_ARN, event_bus_arn=BUS_ARN, notify_outcomes=contract.OUTCOMES
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"notification_topic_arn": ""}, "notification_topic_arn"),
        ({"notification_topic_arn": BUS_ARN}, "notification_topic_arn"),
        ({"event_bus_arn": TOPIC_ARN}, "event_bus_arn"),
        ({"notify_outcomes": ()}, "notify_outcomes"),
        ({"notify_outcomes": ["failed"]}, "notify_outcomes"),
        ({"notify_outcomes": ("failed", "failed")}, "notify_outcomes"),
        ({"notify_outcomes": ("finished",)}, "notify_outcomes"),
    ],
)
def test_invalid_notification_fields_fail_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"WorkflowParams.{field} "):
        params(**changes)


def test_event_constants_are_the_contract() -> None:
    assert contract.EVENT_SOURCE == "rekognition-batch"
    assert contract.EVENT_DETAIL_TYPE == "Rekognition Batch Run Finished"
