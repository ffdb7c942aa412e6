"""The stack's EventBridge Scheduler schedule, run by the local emulator.

On AWS a Scheduler schedule starts the state machine (``StartExecution``
without a name, input ``{"source": "schedule"}``: infra/workflow.py) on a
``rate(...)``, ``cron(...)`` or ``at(...)`` expression evaluated in the
stack's time zone. :class:`Scheduler` does the same against the emulator, so
a user can upload with any S3 tool and watch the backlog being processed on
schedule.

AWS cron is not Unix cron: six fields ``minutes hours day-of-month month
day-of-week year``, exactly one of the two day fields ``?``, day-of-week
numbered 1 (SUN) to 7 (SAT), Quartz-style ``L``/``W``/``#``. :func:`parse`
checks those rules and :func:`to_croniter` converts the expression for
croniter (day-of-week 0 = SUN, a seconds field, ``?`` as ``*``), which does
the evaluation: no hand-written cron arithmetic here.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import CroniterError, croniter

from infra import schedule
from infra.contract import SCHEDULE_INPUT

log = logging.getLogger(__name__)

_DAY_NAMES = schedule.DAYS
# croniter's year field ends at 2099 (AWS: 2199).
CRONITER_LAST_YEAR = 2099


# An expression EventBridge Scheduler would refuse (or one this emulator can not run).
ScheduleError = schedule.ScheduleError


@dataclass(frozen=True)
class Expression:
    """A parsed schedule expression."""

    text: str
    kind: str  # "rate" | "cron" | "at"
    period: timedelta | None = None  # rate
    cron: str | None = None  # the croniter form of a cron expression
    at: datetime | None = None  # naive local time of an at() expression


def parse(text: str) -> Expression:
    """Parse ``rate(N unit)``, ``cron(6 fields)`` or ``at(yyyy-mm-ddThh:mm:ss)``:
    AWS's rules are infra/schedule.py's (the stack configuration's too); a cron
    is converted for croniter, which refuses a few AWS accepts (years after 2099)."""
    parsed = schedule.parse(text)
    if parsed.kind == "rate":
        assert parsed.rate_minutes is not None
        return Expression(text, "rate", period=timedelta(minutes=parsed.rate_minutes))
    if parsed.kind == "cron":
        assert parsed.cron is not None
        return Expression(text, "cron", cron=to_croniter(" ".join(parsed.cron)))
    return Expression(text, "at", at=parsed.at)


def _day_of_week(value: str) -> str:
    """One AWS day-of-week token (1=SUN..7=SAT, SUN-SAT) as croniter's (0=SUN..6=SAT)."""

    def day(token: str) -> str:
        if token in _DAY_NAMES:
            return token
        if not token.isdigit() or not 1 <= int(token) <= 7:
            raise ScheduleError(f"day-of-week {value!r}: days are 1-7 (1 = SUN) or SUN-SAT")
        return str(int(token) - 1)

    if value == "L":  # the last day of the week
        return "6"
    if value.endswith("L"):  # the last <day> of the month
        return "L" + day(value[:-1])
    if "#" in value:
        weekday, _, nth = value.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleError(f"day-of-week {value!r}: the # instance must be 1-5")
        return f"{day(weekday)}#{nth}"
    if value == "*":
        return value
    low, dash, high = value.partition("-")
    return f"{day(low)}-{day(high)}" if dash else day(low)


def to_croniter(fields_text: str) -> str:
    """The six fields of an AWS cron expression (checked by AWS's rules first) as
    croniter's seven (``minute hour day month weekday second year``)."""
    fields = schedule.parse(f"cron({fields_text})").cron
    assert fields is not None
    minutes, hours, dom, month, dow, year = fields
    dow = ",".join(_day_of_week(part) for part in dow.split(",")) if dow != "?" else "*"
    dom = "*" if dom == "?" else dom
    if any(int(y) > CRONITER_LAST_YEAR for y in re.findall(r"\d+", year) if len(y) == 4):
        raise ScheduleError(
            f"cron({fields_text}): years after {CRONITER_LAST_YEAR} can not be run by the "
            "emulator's scheduler (AWS accepts up to 2199)"
        )
    converted = f"{minutes} {hours} {dom} {month} {dow} 0 {year}"
    try:
        # Both day fields restricted never happens (one is '?'), so OR vs AND is moot.
        croniter.expand(converted)
    except (CroniterError, ValueError) as err:
        raise ScheduleError(f"cron({fields_text}): {err}") from None
    return converted


def check(expression: str, timezone: str) -> Expression:
    """The parsed expression, once both it and the time zone are known good."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{timezone!r} is not an IANA time zone name") from None
    return parse(expression)


def stack_schedule(stack: str, folder: Path | str = ".") -> tuple[str, str]:
    """(expression, time zone) of a stack: ``schedule`` and ``scheduleTimezone``
    from ``Pulumi.<stack>.yaml`` in ``folder`` when set there, else the defaults
    declared in Pulumi.yaml (infra/config/keys.py), as ``pulumi up`` would use them
    (the whole configuration read and checked: emulator/stackfile.py)."""
    from emulator.stackfile import StackFileError, stack_config

    try:
        cfg = stack_config(stack, folder)
    except StackFileError as err:
        raise ScheduleError(str(err)) from None
    return cfg.schedule, cfg.schedule_timezone


def next_time(
    expression: Expression, timezone: str, after: datetime, since: datetime
) -> datetime | None:
    """The first time strictly after ``after`` at which the schedule fires, or None.

    ``since`` is when the schedule was created (rate schedules count from it).
    Times are aware; cron and at() are evaluated on the wall clock of ``timezone``.
    """
    zone = zoneinfo.ZoneInfo(timezone)
    if expression.kind == "rate":
        assert expression.period is not None
        periods = (after - since) // expression.period + 1
        return since + periods * expression.period
    if expression.kind == "at":
        assert expression.at is not None
        moment = expression.at.replace(tzinfo=zone)
        return moment if moment > after else None
    assert expression.cron is not None
    try:
        found = croniter(expression.cron, after.astimezone(zone)).get_next(datetime)
    except CroniterError:  # no matching time left (e.g. a year in the past)
        return None
    return found if isinstance(found, datetime) else None


class Scheduler:
    """Starts the state machine on a schedule, the way EventBridge Scheduler does.

    A background thread waits for the next time, then calls StartExecution
    without a name and with the stack's schedule input. A failed start is
    logged; the next time comes as usual (Scheduler's own retries are not
    emulated). ``now`` and ``wait`` are the clock and the interruptible wait
    (tests pass their own); ``wait(seconds)`` returns True to stop.
    """

    def __init__(
        self,
        sfn: Any,
        state_machine_arn: str,
        expression: str,
        timezone: str = "UTC",
        *,
        now: Callable[[], datetime] | None = None,
        wait: Callable[[float], bool] | None = None,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        self.expression = check(expression, timezone)
        self.timezone = timezone
        self.sfn = sfn
        self.state_machine_arn = state_machine_arn
        self._now = now or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._on_start = on_start
        self._thread: threading.Thread | None = None
        self._since = self._now()  # rate schedules count from their creation
        self.started: list[str] = []  # execution ARNs, in order

    def next_time(self, after: datetime | None = None) -> datetime | None:
        return next_time(self.expression, self.timezone, after or self._now(), self._since)

    def run(self) -> None:
        """Fire until stopped or until the schedule has no next time (in this thread)."""
        due = self.next_time(self._since)
        while due is not None:
            if self._wait(max((due - self._now()).total_seconds(), 0.0)) or self._stop.is_set():
                return
            if self._now() < due:
                continue  # woken early: wait for the rest
            self._fire()
            due = self.next_time(due)

    def _fire(self) -> None:
        try:
            arn = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, input=json.dumps(SCHEDULE_INPUT)
            )["executionArn"]
        except Exception as err:  # noqa: BLE001 - a failed start must not end the schedule
            log.warning("schedule %s: StartExecution failed: %s", self.expression.text, err)
            return
        self.started.append(arn)
        log.info("schedule %s started %s", self.expression.text, arn)
        if self._on_start is not None:
            self._on_start(arn)

    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self.run, name="schedule", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Scheduler:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
