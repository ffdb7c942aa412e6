"""Stack config: one declaration (KEYS), Pulumi.yaml and the docs table match it,
and every invalid value fails with a message naming its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import config
from infra.config import ConfigError, load
from infra.sizing import derive_concurrency
from tests.infra.conftest import PROJECT_ARN, VERSION_ARN

ROOT = Path(__file__).resolve().parents[2]


def getter(values: dict[str, Any]):
    def get(key: str) -> str | None:
        value = values.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


def load_with(**values: Any) -> config.StackConfig:
    return load(getter({"projectVersionArn": VERSION_ARN, **values}))


def error_for(**values: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_with(**values)
    return info.value


# --------------------------------------------------------------------------- declaration


def test_pulumi_yaml_declares_exactly_the_keys_with_types_defaults_descriptions() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["config"] == config.pulumi_yaml_config()
    for key in config.KEYS:
        declared = project["config"][key.name]
        assert declared["description"]
        if key.type not in ("number", "object"):  # no float or object type in Pulumi: untyped
            assert declared["type"] == key.type
        assert declared.get("default") == key.default
    assert "default" not in project["config"]["projectVersionArn"]  # required


def test_pulumi_yaml_is_the_generated_file() -> None:
    assert (ROOT / "Pulumi.yaml").read_text() == config.render_pulumi_yaml()


@pytest.mark.parametrize("doc", ["docs/infra.md", "README.md"])
def test_docs_config_table_is_generated_from_the_keys(doc: str) -> None:
    assert config.markdown_table() in (ROOT / doc).read_text()


def test_example_stack_file_is_valid() -> None:
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    values = {
        (k.split(":", 1)[1] if k.startswith("rekognition-batch:") else k): v
        for k, v in stack.items()
    }
    cfg = load(getter(values))
    assert cfg.region == stack["aws:region"]
    assert cfg.project_arn is not None
    assert set(values) - {"aws:region", "aws:defaultTags"} <= set(config.KEYS_BY_NAME)


# --------------------------------------------------------------------------- defaults


def test_defaults_and_derived_values() -> None:
    cfg = load_with()
    assert cfg.project_arn is None  # looked up at deploy time (infra/lookup.py)
    assert (cfg.region, cfg.account_id, cfg.partition) == ("eu-west-1", "123456789012", "aws")
    assert cfg.project_name == "shapes"
    assert cfg.version_name == "shapes.2025-06-01"
    assert cfg.min_confidence == 50.0 and cfg.max_results == 0
    assert cfg.schedule == "rate(1 hour)" and cfg.schedule_timezone == "UTC"
    assert cfg.min_inference_units == 1 and cfg.max_inference_units == 0
    assert cfg.model_ownership == "exclusive"
    assert cfg.lambda_architecture == "arm64"
    assert cfg.image_suffixes == (".jpg", ".jpeg", ".png")
    assert cfg.force_destroy is False
    assert cfg.queue_visibility_timeout_seconds == 6 * 120 + 1
    assert cfg.max_concurrency_derived is True
    assert cfg.mapping_max_concurrency == derive_concurrency(
        1, batch_size=10, handler_concurrency=10
    )


def test_concurrency_is_derived_from_the_auto_scaling_ceiling() -> None:
    cfg = load_with(minInferenceUnits=2, maxInferenceUnits=8, batchSize=5)
    assert cfg.mapping_max_concurrency == derive_concurrency(8, batch_size=5, handler_concurrency=5)


def test_explicit_concurrency_wins() -> None:
    cfg = load_with(maxConcurrency=42)
    assert cfg.mapping_max_concurrency == 42 and cfg.max_concurrency_derived is False


def test_suffixes_accept_pulumi_json_arrays_and_comma_lists() -> None:
    assert load_with(imageSuffixes='[".PNG", ".jpg"]').image_suffixes == (".png", ".jpg")
    assert load_with(imageSuffixes=".webp, .png").image_suffixes == (".webp", ".png")


def test_matching_project_arn_is_accepted() -> None:
    assert load_with(projectArn=PROJECT_ARN).project_arn == PROJECT_ARN


def test_model_alarm_window_covers_start_run_and_grace_plus_margin() -> None:
    cfg = load_with(
        modelStartTimeoutMinutes=30,
        maxRunMinutes=120,
        lambdaTimeoutSeconds=300,
        batchWindowSeconds=10,
    )
    # Grace after max-run: 300 + 10 + 15 s, a started 6th minute.
    assert cfg.disable_grace_seconds == 300 + 10 + config.DISABLE_GRACE_MARGIN_SECONDS
    assert cfg.model_alarm_minutes == 30 + 120 + 6 + config.MODEL_ALARM_MARGIN_MINUTES


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("values", "key", "fragment"),
    [
        ({"projectVersionArn": None}, "projectVersionArn", "required"),
        ({"projectVersionArn": "arn:aws:s3:::bucket"}, "projectVersionArn", "not a Rekognition"),
        (
            {"projectVersionArn": VERSION_ARN.replace("/version/", "/versions/")},
            "projectVersionArn",
            "not a Rekognition",
        ),
        ({"aws:region": "us-east-1"}, "projectVersionArn", "us-east-1"),
        (
            {"projectArn": "arn:aws:rekognition:eu-west-1:123456789012:project/x"},
            "projectArn",
            "not",
        ),
        (
            {"projectArn": PROJECT_ARN.replace("project/shapes", "project/other")},
            "projectArn",
            "does not match",
        ),
        (
            {"projectArn": PROJECT_ARN.replace("123456789012", "210987654321")},
            "projectArn",
            "account",
        ),
        ({"minConfidence": "high"}, "minConfidence", "number"),
        ({"minConfidence": 101}, "minConfidence", "between"),
        ({"maxResults": -1}, "maxResults", "between"),
        ({"schedule": "every hour"}, "schedule", "rate("),
        ({"schedule": "rate(1 minutes)"}, "schedule", "singular"),
        ({"schedule": "cron(0 9 * * MON *)"}, "schedule", "exactly one of day-of-month"),
        ({"scheduleTimezone": "Mars/Olympus"}, "scheduleTimezone", "IANA"),
        ({"minInferenceUnits": 0}, "minInferenceUnits", "between"),
        ({"minInferenceUnits": 3, "maxInferenceUnits": 2}, "maxInferenceUnits", "at least"),
        ({"modelOwnership": "mine"}, "modelOwnership", "exclusive, shared"),
        ({"maxConcurrency": 1}, "maxConcurrency", "2 and 1000"),
        ({"maxConcurrency": 1001}, "maxConcurrency", "between"),
        ({"maxConcurrency": "lots"}, "maxConcurrency", "integer"),
        ({"batchSize": 0}, "batchSize", "between"),
        ({"batchSize": 50, "batchWindowSeconds": 0}, "batchWindowSeconds", ">= 1"),
        ({"lambdaTimeoutSeconds": 901}, "lambdaTimeoutSeconds", "between"),
        ({"lambdaArchitecture": "arm"}, "lambdaArchitecture", "arm64, x86_64"),
        ({"lambdaMemoryMb": 64}, "lambdaMemoryMb", "between"),
        ({"logRetentionDays": 10}, "logRetentionDays", "retention"),
        ({"imageSuffixes": "jpg"}, "imageSuffixes", ".jpg"),
        ({"imageSuffixes": "[]"}, "imageSuffixes", "at least one"),
        ({"imageSuffixes": "[.jpg"}, "imageSuffixes", "JSON"),
        ({"imageSuffixes": ".tar.gz"}, "imageSuffixes", ".jpg"),
        ({"imageSuffixes": ".png,.JSON"}, "imageSuffixes", "documents end in .json"),
        ({"forceDestroy": "maybe"}, "forceDestroy", "true or false"),
        ({"workflowLogLevel": "DEBUG"}, "workflowLogLevel", "ALL"),
        ({"alarmEmail": "ops"}, "alarmEmail", "e-mail"),
        ({"maxReceiveCount": 0}, "maxReceiveCount", "between"),
        ({"maxReceiveCount": 2}, "maxReceiveCount", "between 3"),
        ({"pollIntervalSeconds": 0}, "pollIntervalSeconds", "between"),
        ({"pollIntervalSeconds": 600, "maxRunMinutes": 15}, "pollIntervalSeconds", "two polls"),
        ({"drainConfirmSeconds": -1}, "drainConfirmSeconds", "between"),
        ({"pollIntervalSeconds": 20, "drainConfirmSeconds": 21}, "drainConfirmSeconds", "at most"),
        ({"pollIntervalSeconds": 1}, "pollIntervalSeconds", "between"),
        ({"tpsPerUnit": 0}, "tpsPerUnit", "between"),
        ({"tpsPerUnit": "fast"}, "tpsPerUnit", "number"),
        ({"targetRunMinutes": -1}, "targetRunMinutes", "between"),
        ({"targetRunMinutes": 120, "maxRunMinutes": 60}, "targetRunMinutes", "maxRunMinutes"),
        ({"maxPlannedUnits": 0}, "maxPlannedUnits", "between"),
        ({"maxPlannedUnits": 2, "minInferenceUnits": 3}, "maxPlannedUnits", "minInferenceUnits"),
        ({"maxRunMinutes": 1400}, "maxRunMinutes", "one day"),
        ({"pricePerInferenceUnitHour": "free"}, "pricePerInferenceUnitHour", "number"),
    ],
)
def test_invalid_values_fail_naming_the_key(values: dict, key: str, fragment: str) -> None:
    error = error_for(**values)
    assert error.key == key
    assert str(error).startswith(f"{key}: ")
    assert fragment in str(error)


def test_timeout_too_long_for_the_queue_names_the_function_timeout() -> None:
    error = error_for(lambdaTimeoutSeconds=900, batchWindowSeconds=10, maxRunMinutes=60)
    assert error.key == "lambdaTimeoutSeconds"
    assert "5410 s" in str(error) and "too long for the queue" in str(error)
    assert (
        load_with(lambdaTimeoutSeconds=900, maxRunMinutes=120).queue_visibility_timeout_seconds
        == 5401
    )


def test_lookup_of_the_project_arn(monkeypatch) -> None:
    from infra.lookup import find_project_arn

    class FakeRekognition:
        def __init__(self, projects):
            self.projects = projects
            self.calls = []

        def describe_projects(self, ProjectNames):  # noqa: N803 - boto3 spelling
            self.calls.append(ProjectNames)
            return {"ProjectDescriptions": [{"ProjectArn": a} for a in self.projects]}

    cfg = load_with()
    client = FakeRekognition([PROJECT_ARN])
    assert find_project_arn(cfg, client) == PROJECT_ARN
    assert client.calls == [["shapes"]]
    with pytest.raises(ConfigError) as info:
        find_project_arn(cfg, FakeRekognition([]))
    assert info.value.key == "projectArn"
    configured = load_with(projectArn=PROJECT_ARN)
    assert find_project_arn(configured, FakeRekognition([])) == PROJECT_ARN  # no call needed


def test_sizing_keys_reach_the_plan_with_a_concurrency_per_planned_size() -> None:
    cfg = load_with(tpsPerUnit=8, targetRunMinutes=30, maxPlannedUnits=3)
    assert (cfg.tps_per_unit, cfg.target_run_minutes, cfg.planned_units_bound) == (8.0, 30, 3)
    assert cfg.concurrency_by_units == tuple(
        config.derive_max_concurrency(units, cfg.batch_size, 8.0) for units in (1, 2, 3)
    )
    assert cfg.concurrency_by_units[0] < cfg.concurrency_by_units[2]
    # auto-scaling bounds the plan; an explicit maxConcurrency is used for every plan
    scaled = load_with(minInferenceUnits=1, maxInferenceUnits=6, maxConcurrency=7)
    assert scaled.planned_units_bound == 6
    assert scaled.concurrency_by_units == (7,) * 6


def test_sizing_is_off_by_default() -> None:
    cfg = load_with()
    assert (cfg.target_run_minutes, cfg.tps_per_unit, cfg.max_planned_units) == (0, 5.0, 4)


# --------------------------------------------------------------------------- label rules


def test_label_rules_are_read_from_structured_config_json() -> None:
    cfg = load_with(
        minConfidence=60,
        labelThresholds='{"cat": 80, "dog": 60}',
        alertLabels='{"cat": 95}',
        alertEmail="ops@example.com",
    )
    assert cfg.label_thresholds == {"cat": 80.0, "dog": 60.0}
    assert cfg.alert_labels == {"cat": 95.0}
    assert cfg.alert_email == "ops@example.com"
    empty = load_with()
    assert empty.label_thresholds == {} and empty.alert_labels == {}
    assert empty.alert_email is None


@pytest.mark.parametrize(
    ("values", "key", "says"),
    [
        ({"labelThresholds": "[80]"}, "labelThresholds", "JSON object"),
        ({"labelThresholds": '{"cat": 120}'}, "labelThresholds", "between 0 and 100"),
        ({"labelThresholds": '{"": 80}'}, "labelThresholds", "non-empty"),
        ({"labelThresholds": '{"cat": 40}'}, "labelThresholds", "below minConfidence"),
        ({"alertLabels": '{"cat": "yes"}'}, "alertLabels", "must be a number"),
        (
            {"labelThresholds": '{"cat": 80}', "alertLabels": '{"cat": 70}'},
            "alertLabels",
            "threshold 80",
        ),
        ({"alertEmail": "not-an-address"}, "alertEmail", "not an e-mail"),
        ({"alertEmail": "ops@example.com"}, "alertEmail", "alertLabels is empty"),
    ],
)
def test_bad_label_rules_fail_naming_the_key(values: dict, key: str, says: str) -> None:
    error = error_for(**values)
    assert error.key == key
    assert says in str(error)


def test_max_run_minutes_description_states_the_default_poll_budget():
    # The description quotes the drain's poll budget at the defaults: keep it true.
    cfg = load({"projectVersionArn": VERSION_ARN}.get)
    budget = cfg.workflow.max_drain_polls
    assert f"{budget} polls at the defaults" in config.KEYS_BY_NAME["maxRunMinutes"].description
