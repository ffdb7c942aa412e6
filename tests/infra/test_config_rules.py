"""The configuration's structure: every key lands in its StackConfig field, every
rule across keys has a config that breaks it (and a message naming its key),
and the workflow's options are built once from the keys."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infra.config import KEYS, ConfigError, StackConfig, rules
from infra.statemachine import DEFAULT_CONFIRM_SECONDS, WorkflowOptions
from runtime.settings import SQS_MAX_VISIBILITY_SECONDS
from tests.infra.conftest import ACCOUNT, PROJECT_ARN, REGION
from tests.infra.test_config import error_for, load_with

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-000011112222"

# rule -> a config that breaks it (alone) and a fragment of its message
BREAKING: dict[str, tuple[dict[str, Any], str]] = {
    "project_matches_version": (
        {"projectArn": PROJECT_ARN.replace("project/shapes", "project/other")},
        "does not match",
    ),
    "model_in_deploy_region": ({"aws:region": "us-east-1"}, "us-east-1"),
    "max_units_at_least_min": ({"minInferenceUnits": 3, "maxInferenceUnits": 2}, "at least"),
    "confirm_within_longest_poll": (
        {"pollIntervalSeconds": 20, "drainConfirmSeconds": 21},
        "at most the poll interval (20 s)",
    ),
    "planned_units_at_least_min": ({"maxPlannedUnits": 2, "minInferenceUnits": 3}, ">="),
    "model_alarm_within_a_day": ({"maxRunMinutes": 1400}, "one day"),
    "target_within_max_run": ({"targetRunMinutes": 120, "maxRunMinutes": 60}, "maxRunMinutes"),
    "two_polls_in_a_run": ({"pollIntervalSeconds": 600, "maxRunMinutes": 15}, "two polls"),
    "window_for_large_batches": ({"batchSize": 50, "batchWindowSeconds": 0}, ">= 1"),
    "retry_within_a_run": ({"lambdaTimeoutSeconds": 900, "maxRunMinutes": 60}, "next run"),
    "thresholds_at_least_min_confidence": ({"labelThresholds": '{"cat": 40}'}, "minConfidence"),
    "alerts_at_least_thresholds": (
        {"labelThresholds": '{"cat": 80}', "alertLabels": '{"cat": 70}'},
        "threshold 80",
    ),
    "alert_email_has_labels": ({"alertEmail": "ops@example.com"}, "alertLabels is empty"),
    "key_in_stack_account_and_region": (
        {"kmsKey": KEY_ARN.replace(ACCOUNT, "999999999999")},
        "account",
    ),
}


def test_every_rule_has_a_config_that_breaks_it() -> None:
    assert {rule.check.__name__ for rule in rules.RULES} == set(BREAKING)


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda rule: rule.check.__name__)
def test_a_broken_rule_fails_naming_its_key(rule: rules.Rule) -> None:
    values, fragment = BREAKING[rule.check.__name__]
    error = error_for(**values)
    assert (error.key, fragment in str(error)) == (rule.key, True), str(error)


def test_every_key_lands_in_the_stack_config_field_of_its_name() -> None:
    fields = {f.name for f in dataclasses.fields(StackConfig)}
    assert fields - {key.field for key in KEYS} == {"deploy_region"}  # aws:region, not a key
    cfg = load_with(maxResults=7, scheduleTimezone="Europe/Paris")
    assert (cfg.max_results, cfg.schedule_timezone) == (7, "Europe/Paris")


def test_zero_keeps_its_meaning_in_the_config() -> None:
    cfg = load_with(pollIntervalSeconds=3)
    assert (cfg.drain_confirm_seconds, cfg.max_inference_units, cfg.max_concurrency) == (0, 0, 0)
    assert cfg.workflow.drain_confirm_seconds == 0
    assert cfg.workflow.confirm_seconds == 3  # the poll interval, shorter than the default
    assert load_with().workflow.confirm_seconds == DEFAULT_CONFIRM_SECONDS


def test_the_workflow_options_are_built_once_from_the_keys() -> None:
    cfg = load_with(maxRunMinutes=90, modelOwnership="shared", maxInferenceUnits=3)
    assert isinstance(cfg.workflow, WorkflowOptions)
    assert cfg.workflow is cfg.workflow
    assert cfg.workflow.max_run_seconds == 90 * 60
    assert (cfg.workflow.ownership, cfg.workflow.max_inference_units) == ("shared", 3)
    assert load_with().workflow.max_inference_units is None  # MaxInferenceUnits omitted


def test_an_option_the_workflow_refuses_fails_naming_the_key() -> None:
    # A run could cost more than the cost estimate's integer counts.
    error = error_for(minInferenceUnits=1000, maxPlannedUnits=1000, pricePerInferenceUnitHour=1000)
    assert isinstance(error, ConfigError) and error.key == "pricePerInferenceUnitHour"
    assert "more than the cost estimate can count" in str(error)


def test_no_function_timeout_makes_a_visibility_timeout_sqs_refuses() -> None:
    # Why no rule checks the queue's visibility timeout against SQS's limit.
    longest = load_with(lambdaTimeoutSeconds=900, batchWindowSeconds=300, maxRunMinutes=1200)
    assert longest.queue_visibility_timeout_seconds < SQS_MAX_VISIBILITY_SECONDS
