"""`python -m emulator --stack NAME` deploys the stack's own configuration:
Pulumi.NAME.yaml through infra.config.load, only the waits scaled when asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.stackfile import (
    FAST_WAITS,
    StackFileError,
    demo_version_arn,
    provision_options,
    stack_config,
)
from emulator.workflow import provision_stack
from infra import outputs as out
from infra.config.keys import KEYS_BY_NAME

VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/big/version/big.v1/1700000000000"

PROD = f"""config:
  aws:region: us-east-1
  rekognition-batch:projectVersionArn: {VERSION_ARN}
  rekognition-batch:minConfidence: 70
  rekognition-batch:minInferenceUnits: 3
  rekognition-batch:maxRunMinutes: 180
  rekognition-batch:modelOwnership: shared
  rekognition-batch:batchSize: 20
  rekognition-batch:imageSuffixes: '[".png"]'
  rekognition-batch:notifyOnOutcomes: '["drained", "failed"]'
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.prod.yaml").write_text(PROD)
    return tmp_path


def test_every_key_that_applies_locally_comes_from_the_stack(folder: Path) -> None:
    options = provision_options(stack_config("prod", folder))

    assert options["project_version_arn"] == VERSION_ARN
    assert options["min_confidence"] == 70.0
    assert options["min_inference_units"] == 3
    assert options["max_run_seconds"] == 180 * 60  # not the emulator's 5 minutes
    assert options["ownership"] == "shared"
    assert options["batch_size"] == 20
    assert tuple(options["image_suffixes"]) == (".png",)
    assert tuple(options["notify_outcomes"]) == ("drained", "failed")
    assert options["poll_interval_seconds"] == KEYS_BY_NAME["pollIntervalSeconds"].default


def test_fast_waits_scale_the_waits_and_nothing_else(folder: Path) -> None:
    cfg = stack_config("prod", folder)
    slow, fast = provision_options(cfg), provision_options(cfg, fast_waits=True)

    changed = {name for name in slow if slow[name] != fast[name]}
    assert changed <= set(FAST_WAITS)
    assert fast["poll_interval_seconds"] == 1
    assert fast["max_run_seconds"] == slow["max_run_seconds"] == 180 * 60
    assert fast["model_start_timeout_seconds"] == slow["model_start_timeout_seconds"]


def test_a_bad_value_fails_naming_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  rekognition-batch:minInferenceUnits: lots\n"
    )
    with pytest.raises(StackFileError, match=r"Pulumi\.bad\.yaml: minInferenceUnits"):
        stack_config("bad", tmp_path)


def test_without_a_stack_file_the_defaults_and_a_demo_model_apply(tmp_path: Path) -> None:
    cfg = stack_config("absent", tmp_path)
    assert cfg.project_version_arn == demo_version_arn()
    assert cfg.max_run_minutes == KEYS_BY_NAME["maxRunMinutes"].default
    (tmp_path / "Pulumi.eu.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    assert stack_config("eu", tmp_path).project_version_arn == demo_version_arn("eu-west-1")


def test_the_deployed_stack_has_the_configured_units_limits_and_threshold(aws, folder) -> None:
    cfg = stack_config("prod", folder)
    outputs = provision_stack(aws, stack="prod", **provision_options(cfg, fast_waits=True))

    assert outputs[out.MIN_INFERENCE_UNITS] == 3
    sfn = aws.client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=outputs[out.STATE_MACHINE_ARN])[
        "definition"
    ]
    assert '"maxRunSeconds": 10800' in definition.replace(":10800", ": 10800")
    assert '"ownership": "shared"' in definition.replace('":"', '": "')
    function = aws.client("lambda").get_function_configuration(
        FunctionName=outputs[out.FUNCTION_NAME]
    )
    assert float(function["Environment"]["Variables"]["MIN_CONFIDENCE"]) == 70.0
    mapping = aws.client("lambda").get_event_source_mapping(
        UUID=outputs[out.EVENT_SOURCE_MAPPING_UUID]
    )
    assert mapping["BatchSize"] == 20
    rules = aws.client("s3").get_bucket_notification_configuration(
        Bucket=outputs[out.SOURCE_BUCKET]
    )["QueueConfigurations"]
    suffixes = {r["Filter"]["Key"]["FilterRules"][0]["Value"] for r in rules}
    assert suffixes == {".png", ".PNG"}
    assert json.loads(json.dumps(outputs, default=str))  # the outputs file is writable
