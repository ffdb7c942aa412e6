"""The stack's schedule on the emulator (emulator/schedule.py): AWS's rate,
cron and at() expressions evaluated in the schedule's time zone, and
executions started the way EventBridge Scheduler starts them."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from emulator.schedule import (
    ScheduleError,
    Scheduler,
    next_time,
    parse,
    stack_schedule,
    to_croniter,
)
from infra.contract import SCHEDULE_INPUT

SATURDAY_NOON = datetime(2026, 11, 28, 12, 7, tzinfo=UTC)  # a Saturday


def fire(expression: str, after: datetime = SATURDAY_NOON, timezone: str = "UTC") -> datetime:
    found = next_time(parse(expression), timezone, after, since=after)
    assert found is not None
    return found.astimezone(UTC)


def fires(expression: str, count: int, timezone: str = "UTC") -> list[datetime]:
    times, after = [], SATURDAY_NOON
    for _ in range(count):
        after = fire(expression, after, timezone)
        times.append(after)
    return times


# ------------------------------------------------------------------- cron(...)


@pytest.mark.parametrize(
    ("day_of_week", "weekday"),
    [("1", "Sunday"), ("2", "Monday"), ("6", "Friday"), ("7", "Saturday"), ("SUN", "Sunday")],
)
def test_cron_day_of_week_counts_from_sunday_as_one(day_of_week, weekday):
    """AWS: 1 = SUN ... 7 = SAT (Unix cron: 0 = SUN, 1 = MON)."""
    assert fire(f"cron(0 9 ? * {day_of_week} *)").strftime("%A") == weekday


def test_cron_day_of_week_ranges_and_lists_are_converted_element_by_element():
    assert [t.strftime("%a %d") for t in fires("cron(0 18 ? * 2-6 *)", 6)] == [
        "Mon 30", "Tue 01", "Wed 02", "Thu 03", "Fri 04", "Mon 07",
    ]  # fmt: skip
    assert fires("cron(0 18 ? * MON-FRI *)", 6) == fires("cron(0 18 ? * 2-6 *)", 6)
    assert [t.strftime("%a") for t in fires("cron(0 8 ? * 1,7 *)", 4)] == ["Sun", "Sat", "Sun"] + [
        "Sat"
    ]


def test_cron_nth_and_last_weekday_of_the_month():
    assert fire("cron(0 9 ? * 3#2 *)") == datetime(2026, 12, 8, 9, tzinfo=UTC)  # 2nd Tuesday
    assert fire("cron(0 9 ? * 6L *)") == datetime(2026, 12, 25, 9, tzinfo=UTC)  # last Friday
    assert fire("cron(0 9 ? * L *)").strftime("%A") == "Saturday"  # the last day of the week


def test_cron_day_of_month_wildcards():
    assert fire("cron(0 9 L * ? *)") == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert fire("cron(0 9 15W * ? *)") == datetime(2026, 12, 15, 9, tzinfo=UTC)  # a Tuesday
    assert fire("cron(0 9 1W 8 ? *)") == datetime(2027, 8, 2, 9, tzinfo=UTC)  # Aug 1 is a Sunday
    assert [t.day for t in fires("cron(0 9 1/10 * ? *)", 4)] == [1, 11, 21, 31]


def test_cron_minutes_with_a_start_and_step_and_a_year():
    assert [t.minute for t in fires("cron(0/15 * * * ? *)", 3)] == [15, 30, 45]
    assert [t.minute for t in fires("cron(5/20 * * * ? *)", 3)] == [25, 45, 5]
    assert fire("cron(0 9 * * ? 2028)") == datetime(2028, 1, 1, 9, tzinfo=UTC)
    assert next_time(parse("cron(0 9 * * ? 2025)"), "UTC", SATURDAY_NOON, SATURDAY_NOON) is None


def test_cron_is_evaluated_on_the_wall_clock_of_the_time_zone():
    # Paris is UTC+1 in winter, UTC+2 in summer.
    assert fire("cron(0 9 * * ? *)", timezone="Europe/Paris") == datetime(
        2026, 11, 29, 8, tzinfo=UTC
    )
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    assert fire("cron(0 9 * * ? *)", summer, "Europe/Paris") == datetime(2026, 7, 1, 7, tzinfo=UTC)
    # New York leaves daylight saving time on 2026-11-01: 09:00 moves from 13:00 to 14:00 UTC.
    saturday = fire("cron(0 9 * * ? *)", datetime(2026, 10, 30, 20, tzinfo=UTC), "America/New_York")
    sunday = fire("cron(0 9 * * ? *)", saturday, "America/New_York")
    assert (saturday.hour, sunday.hour, sunday - saturday) == (13, 14, timedelta(hours=25))


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("cron(0 9 * * *)", "6 fields"),  # Unix cron
        ("cron(0 9 * * * *)", "exactly one"),  # no '?'
        ("cron(0 9 ? * ? *)", "exactly one"),
        ("cron(0 9 1 * MON *)", "exactly one"),
        ("cron(0 9 ? * 0 *)", "1-7"),  # Unix Sunday
        ("cron(0 9 ? * 8 *)", "1-7"),
        ("cron(0 9 ? * 3#1,6#3 *)", "one value"),
        ("cron(0 9 ? * 2/2 *)", "day-of-week"),  # no '/' in day-of-week
        ("cron(61 9 * * ? *)", "cron("),
        ("cron(0 9 LW * ? *)", "cron("),  # not in AWS's table, not in croniter
        ("cron(0 9 * * ? 2150)", "after 2099"),  # AWS: up to 2199; croniter ends at 2099
        ("cron(0 9 * * ? 2098-2101)", "after 2099"),
    ],
)
def test_cron_expressions_aws_refuses_are_refused(expression, complaint):
    with pytest.raises(ScheduleError, match=complaint.replace("(", r"\(")):
        parse(expression)


def test_the_converted_form_is_croniters_seven_fields():
    assert to_croniter("0 18 ? * MON-FRI *") == "0 18 * * MON-FRI 0 *"
    assert to_croniter("15 10 * * ? 2027") == "15 10 * * * 0 2027"
    assert to_croniter("0 8 ? * 2,4 *") == "0 8 * * 1,3 0 *"
    assert to_croniter("0 8 ? * 4#1 *") == "0 8 * * 3#1 0 *"


# ------------------------------------------------------------- rate and at


def test_rate_counts_from_the_schedule_creation():
    since = datetime(2026, 11, 28, 12, 0, 30, tzinfo=UTC)
    expression = parse("rate(5 minutes)")
    first = next_time(expression, "Asia/Tokyo", since, since)
    assert first == since + timedelta(minutes=5)
    assert next_time(expression, "UTC", first, since) == since + timedelta(minutes=10)
    assert next_time(parse("rate(1 day)"), "UTC", since, since) == since + timedelta(days=1)


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(2 hour)", "rate(0 minutes)"])
def test_rate_units_follow_aws_singular_and_plural_rule(expression):
    with pytest.raises(ScheduleError):
        parse(expression)


def test_at_fires_once_at_the_local_time():
    expression = parse("at(2026-11-28T15:00:00)")
    first = next_time(expression, "Europe/Paris", SATURDAY_NOON, SATURDAY_NOON)
    assert first == datetime(2026, 11, 28, 14, tzinfo=UTC)
    assert next_time(expression, "Europe/Paris", first, SATURDAY_NOON) is None


@pytest.mark.parametrize("expression", ["every hour", "rate(5 seconds)", "at(2026-11-28 15:00)"])
def test_other_expressions_are_refused_with_the_three_forms(expression):
    with pytest.raises(ScheduleError, match="rate\\(N minutes"):
        parse(expression)


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ScheduleError, match="time zone"):
        Scheduler(object(), "arn", "rate(1 minute)", "Mars/Olympus")


# -------------------------------------------------------------- the runner


class FakeClock:
    """A clock that the scheduler's waits advance; stops after ``limit`` waits."""

    def __init__(self, start: datetime, limit: int) -> None:
        self.time, self.waits, self.limit = start, [], limit

    def now(self) -> datetime:
        return self.time

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.time += timedelta(seconds=seconds)
        return len(self.waits) > self.limit


class RecordingSfn:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def start_execution(self, **kwargs):
        self.calls.append(kwargs)
        return {"executionArn": f"arn:execution:{len(self.calls)}"}


def test_the_scheduler_starts_without_a_name_with_the_schedule_input_at_each_time():
    clock, sfn = FakeClock(SATURDAY_NOON, limit=3), RecordingSfn()
    scheduler = Scheduler(sfn, "arn:sm", "rate(2 minutes)", now=clock.now, wait=clock.wait)
    scheduler.run()
    assert clock.waits[:3] == [120.0, 120.0, 120.0]
    assert sfn.calls == [{"stateMachineArn": "arn:sm", "input": json.dumps(SCHEDULE_INPUT)}] * 3
    assert scheduler.started == ["arn:execution:1", "arn:execution:2", "arn:execution:3"]


def test_a_failed_start_does_not_end_the_schedule():
    clock = FakeClock(SATURDAY_NOON, limit=2)

    class Flaky(RecordingSfn):
        def start_execution(self, **kwargs):
            if not self.calls:
                self.calls.append(kwargs)
                raise RuntimeError("throttled")
            return super().start_execution(**kwargs)

    sfn = Flaky()
    scheduler = Scheduler(sfn, "arn:sm", "cron(* * * * ? *)", now=clock.now, wait=clock.wait)
    scheduler.run()
    assert len(sfn.calls) == 2 and scheduler.started == ["arn:execution:2"]


def test_a_one_time_schedule_ends_after_it_fired():
    clock, sfn = FakeClock(SATURDAY_NOON, limit=10), RecordingSfn()
    Scheduler(sfn, "arn:sm", "at(2026-11-28T12:30:00)", now=clock.now, wait=clock.wait).run()
    assert len(sfn.calls) == 1 and len(clock.waits) == 1


def test_scheduled_executions_on_the_emulator_get_unique_names_and_the_schedule_input(aws):
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="scheduled",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
    )["stateMachineArn"]
    clock = FakeClock(SATURDAY_NOON, limit=2)
    Scheduler(sfn, arn, "rate(1 minute)", now=clock.now, wait=clock.wait).run()
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert len(executions) == 2
    for execution in executions:
        uuid.UUID(execution["name"])
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        assert json.loads(described["input"]) == SCHEDULE_INPUT


# ------------------------------------------------------ the stack's schedule


def test_the_stack_schedule_comes_from_its_pulumi_stack_file(tmp_path):
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "config:\n"
        "  aws:region: eu-west-1\n"
        "  rekognition-batch:schedule: cron(0 6 ? * MON-FRI *)\n"
        "  rekognition-batch:scheduleTimezone: Europe/Paris\n"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    assert stack_schedule("prod", tmp_path) == ("cron(0 6 ? * MON-FRI *)", "Europe/Paris")
    assert stack_schedule("dev", tmp_path) == ("rate(1 hour)", "UTC")  # Pulumi.yaml defaults
    assert stack_schedule("absent", tmp_path) == ("rate(1 hour)", "UTC")


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--schedule", "cron(0 9 * * *)"], "6 fields"),
        (["--schedule", "rate(1 hour)", "--schedule-timezone", "Paris"], "time zone"),
    ],
)
def test_the_emulator_refuses_a_bad_schedule_before_starting(options, complaint, capsys, tmp_path):
    from emulator.__main__ import main

    argv = ["--port", "0", "--stack", "dev", "--workflow", "--pulumi-dir", str(tmp_path)]
    assert main([*argv, *options]) == 2
    assert complaint in capsys.readouterr().err


class GatedClock:
    """The scheduler's clock: each wait blocks until the test opens the gate,
    then the awaited time has passed."""

    def __init__(self, start: datetime) -> None:
        self.time = start
        self.gate = threading.Event()
        self.stopped = threading.Event()

    def now(self) -> datetime:
        return self.time

    def wait(self, seconds: float) -> bool:
        while not self.gate.wait(0.05):
            if self.stopped.is_set():
                return True
        self.gate.clear()
        self.time += timedelta(seconds=seconds)
        return self.stopped.is_set()


def test_the_schedule_processes_uploads_without_a_manual_start(aws):
    from cli.operations import document_keys, finish_run
    from emulator.workflow import lambda_service, provision_stack
    from infra import outputs as out
    from tests.factories import square_image

    version = (
        "arn:aws:rekognition:us-east-1:123456789012:project/sched/version/sched.v1/1700000000000"
    )
    aws.model.configure(start_delay=0.5, stop_delay=0.2)
    outputs = provision_stack(aws, project_version_arn=version)
    sfn, s3 = aws.client("stepfunctions"), aws.client("s3")
    clock, started = GatedClock(SATURDAY_NOON), threading.Event()
    scheduler = Scheduler(
        sfn,
        outputs[out.STATE_MACHINE_ARN],
        "cron(0 * * * ? *)",
        "Europe/Paris",
        now=clock.now,
        wait=clock.wait,
        on_start=lambda arn: started.set(),
    )
    with lambda_service(aws, outputs), scheduler:
        keys = [f"in/{n}.png" for n in range(3)]
        for key in keys:
            s3.put_object(Bucket=outputs[out.SOURCE_BUCKET], Key=key, Body=square_image("PNG"))
        assert (
            sfn.list_executions(stateMachineArn=outputs[out.STATE_MACHINE_ARN])["executions"] == []
        )
        clock.gate.set()  # the top of the hour comes
        assert started.wait(30)
        result = finish_run(sfn, s3, outputs, scheduler.started[0], timeout=120)
        clock.stopped.set()
    assert clock.time == datetime(2026, 11, 28, 13, tzinfo=UTC)  # 14:00 in Paris
    assert result.succeeded and result.outcome == "drained", result
    uuid.UUID(result.name)
    done = document_keys(s3, outputs)
    assert sorted(done.results) == [f"{key}.json" for key in keys]
    assert done.run_summaries == [f"runs/{result.name}.json"]


def test_schedule_options_without_the_workflow_are_refused(capsys):
    from emulator.__main__ import main

    assert main(["--port", "0", "--stack", "dev", "--schedule", "rate(1 minute)"]) == 2
    assert "need --workflow" in capsys.readouterr().err
