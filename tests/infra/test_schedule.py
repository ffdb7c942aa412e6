"""infra/schedule.py: EventBridge Scheduler's expressions by AWS's rules, with the
examples AWS documents (EventBridge Scheduler User Guide, "Schedule types";
EventBridge User Guide, "cron expressions") and what AWS refuses. The stack
configuration and the emulator's scheduler read schedules with this parser."""

from __future__ import annotations

from datetime import datetime

import pytest

from infra.schedule import ScheduleError, parse

# Documented examples, and what each means.
AWS_EXAMPLES = [
    "rate(5 minutes)",
    "rate(1 hour)",
    "rate(1 minute)",
    "rate(7 days)",
    "rate(12 hours)",
    "cron(0 10 * * ? *)",  # 10:00 every day
    "cron(15 12 * * ? *)",  # 12:15 every day
    "cron(0 18 ? * MON-FRI *)",  # 18:00 Monday to Friday
    "cron(0 8 1 * ? *)",  # 08:00 on the first day of the month
    "cron(0/15 * * * ? *)",  # every 15 minutes
    "cron(0/10 * ? * MON-FRI *)",  # every 10 minutes Monday to Friday
    "cron(0/5 8-17 ? * MON-FRI *)",  # every 5 minutes, 08:00-17:55, Monday to Friday
    "cron(0 9 ? * 2#1 *)",  # 09:00 on the first Monday of the month
    "cron(15 10 ? * 6L 2022-2023)",  # 10:15 on the last Friday of the month, 2022-2023
    "cron(0 12 L * ? *)",  # noon on the last day of the month
    "cron(0 12 15W * ? *)",  # noon on the weekday nearest the 15th
    "cron(0 0 1 JAN,JUL ? 2026)",
    "at(2022-11-20T13:00:00)",
]


@pytest.mark.parametrize("expression", AWS_EXAMPLES)
def test_the_documented_examples_are_accepted(expression: str) -> None:
    assert parse(expression).text == expression


def test_what_a_parsed_expression_holds() -> None:
    assert parse("rate(5 minutes)").rate_minutes == 5
    assert parse("rate(1 day)").rate_minutes == 24 * 60
    assert parse("rate(2 hours)").kind == "rate"
    assert parse("cron(0 18 ? * mon-fri *)").cron == ("0", "18", "?", "*", "MON-FRI", "*")
    assert parse("at(2022-11-20T13:00:00)").at == datetime(2022, 11, 20, 13)


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        # rate: singular exactly for 1, a positive whole number, AWS's units only
        ("rate(1 minutes)", "singular unit for 1"),
        ("rate(1 hours)", "singular unit for 1"),
        ("rate(5 minute)", "plural otherwise"),
        ("rate(0 minutes)", "positive"),
        ("rate(-5 minutes)", "expected rate"),
        ("rate(1.5 hours)", "expected rate"),
        ("rate(2 weeks)", "expected rate"),
        ("rate(5minutes)", "expected rate"),
        # cron: six fields, one of the two day fields '?', each field in range
        ("cron(0 9 * * *)", "6 fields"),  # Unix cron's five
        ("cron(0 0 9 * * ? *)", "6 fields"),  # Quartz's seconds field
        ("cron(0 9 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 1 * MON *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(60 9 * * ? *)", "minutes '60'"),
        ("cron(0 24 * * ? *)", "hours '24'"),
        ("cron(0 9 32 * ? *)", "day-of-month '32'"),
        ("cron(0 9 0 * ? *)", "day-of-month '0'"),
        ("cron(0 9 * 13 ? *)", "month '13'"),
        ("cron(0 9 * JANUARY ? *)", "month 'JANUARY'"),
        ("cron(0 9 ? * 0 *)", "day-of-week '0'"),  # Unix Sunday; AWS: 1 = SUN
        ("cron(0 9 ? * 8 *)", "day-of-week '8'"),
        ("cron(0 9 ? * 2/2 *)", "no '/' in day-of-week"),
        ("cron(0 9 ? * 3#6 *)", "1-5"),
        ("cron(0 9 ? * 3#1,6#3 *)", "one value"),
        ("cron(0 9 * * ? 1969)", "year '1969'"),
        ("cron(0 9 * * ? 2200)", "year '2200'"),
        ("cron(0/0 9 * * ? *)", "step"),
        ("cron(0 9 * ? * *)", "'?' only for a day field"),
        # at: exactly yyyy-mm-ddThh:mm:ss, a real date
        ("at(2022-11-20 13:00:00)", "expected rate"),
        ("at(2022-11-20T13:00)", "expected rate"),
        ("at(2022-02-30T13:00:00)", "not a valid date"),
        ("every hour", "expected rate"),
        ("", "expected rate"),
    ],
)
def test_what_aws_refuses_is_refused_saying_why(expression: str, complaint: str) -> None:
    with pytest.raises(ScheduleError, match=complaint.replace("(", r"\(").replace("?", r"\?")):
        parse(expression)
