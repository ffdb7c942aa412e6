"""A stalled backlog is never silent: stallAlarmMinutes, its default, its bound, the alarm;
and the retry visibility the stack gives the function."""

from __future__ import annotations

from typing import Any

import pytest

from infra import config
from infra.config import (
    QUEUE_RETENTION_SECONDS,
    STALL_ALARM_MAX_MINUTES,
    ConfigError,
    load,
)
from runtime import settings as runtime_settings
from tests.infra.conftest import VERSION_ARN, ProgramRun, run_program


def load_with(**values: Any) -> config.StackConfig:
    return load(lambda key: None if values.get(key) is None else str(values[key]))


def cfg(**values: Any) -> config.StackConfig:
    return load_with(projectVersionArn=VERSION_ARN, **values)


@pytest.mark.parametrize(
    ("schedule", "max_run", "expected"),
    [
        ("rate(1 hour)", 360, 2 * 60 + 360),
        ("rate(15 minutes)", 30, 2 * 15 + 30),
        ("rate(1 day)", 60, 2 * 1440 + 60),
        ("cron(0 9 * * ? *)", 60, 2 * 1440 + 60),  # every day matches: at most a day apart
        ("cron(0 9 ? * MON-FRI *)", 60, STALL_ALARM_MAX_MINUTES),  # a week apart, capped
        ("cron(0 9 1 * ? *)", 60, STALL_ALARM_MAX_MINUTES),  # monthly: no period, the cap
        ("at(2027-01-01T00:00:00)", 60, STALL_ALARM_MAX_MINUTES),
    ],
)
def test_the_default_is_two_periods_plus_the_longest_run(
    schedule: str, max_run: int, expected: int
) -> None:
    loaded = cfg(schedule=schedule, maxRunMinutes=max_run)
    assert loaded.stall_alarm_after_minutes == expected
    assert loaded.stall_alarm_minutes_derived


def test_the_bound_leaves_a_day_to_act_before_the_queue_deletes_messages() -> None:
    assert STALL_ALARM_MAX_MINUTES == QUEUE_RETENTION_SECONDS // 60 - 24 * 60
    assert cfg(stallAlarmMinutes=90).stall_alarm_after_minutes == 90
    assert cfg(stallAlarmMinutes=STALL_ALARM_MAX_MINUTES).stall_alarm_minutes_derived is False
    for bad in (STALL_ALARM_MAX_MINUTES + 1, 4, "soon"):
        with pytest.raises(ConfigError) as info:
            cfg(stallAlarmMinutes=bad)
        assert str(info.value).startswith("stallAlarmMinutes")


def test_the_retry_visibility_is_capped_at_half_the_queue_visibility() -> None:
    defaults = runtime_settings.DEFAULTS
    base = int(defaults[runtime_settings.RETRY_VISIBILITY_BASE_SECONDS])
    cap = int(defaults[runtime_settings.RETRY_VISIBILITY_MAX_SECONDS])
    assert cfg().retry_visibility == (base, cap)  # 721 s queue visibility: the defaults fit
    short = cfg(lambdaTimeoutSeconds=10, batchWindowSeconds=1)  # 61 s
    assert short.retry_visibility == (base, 30)
    assert cfg(lambdaTimeoutSeconds=1, batchWindowSeconds=0).retry_visibility == (3, 3)


def test_the_stall_alarm_watches_the_queues_oldest_message(program: ProgramRun) -> None:
    alarm = program.by_name("alarms-backlog-stalled").inputs
    assert alarm["namespace"] == "AWS/SQS"
    assert alarm["metricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["dimensions"] == {"QueueName": program.state_of("ingest", "name")}
    assert alarm["statistic"] == "Maximum"
    assert alarm["threshold"] == (2 * 60 + 360) * 60  # seconds: rate(1 hour), maxRunMinutes 360
    assert alarm["comparisonOperator"] == "GreaterThanThreshold"
    assert alarm["alarmActions"] == alarm["okActions"] == [program.state_of("alarms-topic", "arn")]


def test_the_stall_alarm_follows_the_key(base_config: dict, monkeypatch) -> None:
    run = run_program({**base_config, "stallAlarmMinutes": 45}, monkeypatch)
    assert run.by_name("alarms-backlog-stalled").inputs["threshold"] == 45 * 60


def test_the_function_gets_the_retry_visibility(program: ProgramRun) -> None:
    env = program.by_name("inference").inputs["environment"]["variables"]
    assert env[runtime_settings.RETRY_VISIBILITY_BASE_SECONDS] == "4"
    assert env[runtime_settings.RETRY_VISIBILITY_MAX_SECONDS] == "240"
