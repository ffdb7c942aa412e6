"""The settings the runtime added (retry mode and attempts) and the cold-start contract."""

from __future__ import annotations

import importlib
import sys

import pytest

from runtime import settings as s
from runtime.settings import Settings, SettingsError
from tests.factories import s3_test_event_body, sqs_event, sqs_record

ARN = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v1/1"
BASE = {s.FINAL_BUCKET: "final", s.PROJECT_VERSION_ARN: ARN}


def test_retry_defaults():
    settings = Settings.from_env(BASE)
    assert (settings.retry_mode, settings.max_attempts) == ("standard", 5)


@pytest.mark.parametrize("mode", ["standard", "ADAPTIVE"])
def test_retry_mode_is_accepted_case_insensitively(mode):
    assert Settings.from_env({**BASE, s.RETRY_MODE: mode}).retry_mode == mode.lower()


@pytest.mark.parametrize(
    "name, value",
    [
        (s.RETRY_MODE, "legacy"),
        (s.MAX_ATTEMPTS, "0"),
        (s.MAX_ATTEMPTS, "x"),
        (s.MAX_ATTEMPTS, "21"),
    ],
)
def test_invalid_retry_settings_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**BASE, name: value})


def test_json_is_refused_as_an_image_suffix_naming_the_variable():
    with pytest.raises(SettingsError, match=f"{s.IMAGE_SUFFIXES} must not include .json"):
        Settings.from_env({**BASE, s.IMAGE_SUFFIXES: ".png,.JSON"})


@pytest.mark.parametrize("level", ["debug", "WARNING", " error "])
def test_log_level_is_read_case_insensitively(level):
    assert s.log_level_from_env({s.LOG_LEVEL: level}) == level.strip().upper()
    assert s.log_level_from_env({}) == "INFO"
    assert s.log_level_from_env({s.LOG_LEVEL: "warn"}) == "WARNING"  # logging's alias


def test_a_bad_log_level_fails_the_cold_start_naming_the_variable(monkeypatch):
    """The logger is built at import (Lambda's init): the error names the variable."""
    monkeypatch.setenv(s.LOG_LEVEL, "VERBOSE")
    sys.modules.pop("runtime.handler", None)
    try:
        with pytest.raises(SettingsError, match=f"{s.LOG_LEVEL} must be one of"):
            importlib.import_module("runtime.handler")
    finally:
        monkeypatch.delenv(s.LOG_LEVEL)
        sys.modules.pop("runtime.handler", None)
        importlib.import_module("runtime.handler")


def test_to_env_round_trips_the_new_fields():
    settings = Settings.from_env({**BASE, s.RETRY_MODE: "standard", s.MAX_ATTEMPTS: "7"})
    assert Settings.from_env(settings.to_env()) == settings
    assert set(settings.to_env()) == set(s.ENV)


# The s3:TestEvent message: acknowledged without any AWS call.
TEST_EVENT = sqs_event(sqs_record(s3_test_event_body(), message_id="test-event"))


def test_importing_the_handler_module_needs_no_environment(monkeypatch):
    for name in s.ENV:
        monkeypatch.delenv(name, raising=False)
    sys.modules.pop("runtime.handler", None)
    module = importlib.import_module("runtime.handler")
    assert callable(module.lambda_handler) and callable(module.BatchHandler)


def test_the_first_invocation_fails_naming_the_missing_variable(monkeypatch):
    import runtime.handler as handler

    monkeypatch.delenv(s.FINAL_BUCKET, raising=False)
    monkeypatch.setenv(s.PROJECT_VERSION_ARN, ARN)
    monkeypatch.setattr(handler, "_handler", None)
    with pytest.raises(SettingsError, match=s.FINAL_BUCKET):
        handler.lambda_handler(TEST_EVENT, None)
    assert handler._handler is None, "the next invocation tries again"


def test_lambda_handler_is_built_once_from_the_environment(monkeypatch):
    import runtime.handler as handler

    monkeypatch.setenv(s.FINAL_BUCKET, "final-from-env")
    monkeypatch.setenv(s.PROJECT_VERSION_ARN, ARN)
    monkeypatch.setenv(s.MAX_CONCURRENCY, "3")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):  # Lambda always sets both
        monkeypatch.setenv(name, "eu-west-1")
    monkeypatch.setattr(handler, "_handler", None)
    assert handler.lambda_handler(TEST_EVENT, None) == {"batchItemFailures": []}
    first = handler._handler
    assert first is not None
    try:
        assert handler.lambda_handler(TEST_EVENT, None) == {"batchItemFailures": []}
        assert handler._handler is first
        assert first.settings.final_bucket == "final-from-env"
        assert first.settings.max_concurrency == 3
        assert first.resources().s3.meta.region_name == "eu-west-1"
    finally:
        first.close()
