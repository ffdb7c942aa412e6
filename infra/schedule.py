"""EventBridge Scheduler's schedule expressions, parsed by AWS's rules.

One parser for every reader: the stack configuration refuses what AWS would
refuse (before `pulumi up` creates anything), and the local emulator's
scheduler (emulator/schedule.py) runs what it accepts. Pure: no AWS calls.

AWS's rules (EventBridge Scheduler User Guide, "Schedule types"):

- ``rate(value unit)``: a positive whole number and minute(s), hour(s) or
  day(s), singular exactly when the value is 1 (``rate(1 hour)``,
  ``rate(5 minutes)``; ``rate(1 hours)`` and ``rate(5 minute)`` are refused).
- ``cron(minutes hours day-of-month month day-of-week year)``: six fields;
  minutes 0-59, hours 0-23, day-of-month 1-31 (``, - * ? / L W``), month 1-12
  or JAN-DEC, day-of-week 1-7 or SUN-SAT (``, - * ? L #``), year 1970-2199;
  day-of-month and day-of-week can not both be given: one of them is ``?``.
- ``at(yyyy-mm-ddThh:mm:ss)``: one date and time (in the schedule's zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

RATE_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 24 * 60}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
# (lowest, highest, names) of each cron field.
_RANGES: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "minutes": (0, 59, ()),
    "hours": (0, 23, ()),
    "day-of-month": (1, 31, ()),
    "month": (1, 12, MONTHS),
    "day-of-week": (1, 7, DAYS),
    "year": (1970, 2199, ()),
}

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


class ScheduleError(ValueError):
    """An expression EventBridge Scheduler would refuse."""


@dataclass(frozen=True)
class Schedule:
    """A schedule expression AWS accepts."""

    text: str
    kind: str  # "rate" | "cron" | "at"
    rate_minutes: int | None = None  # rate: the period
    cron: tuple[str, ...] | None = None  # cron: the six fields, upper case
    at: datetime | None = None  # at: the moment, naive (the schedule's time zone)


def parse(text: str) -> Schedule:
    """The expression, or ScheduleError saying what AWS would refuse."""
    if not isinstance(text, str):
        raise ScheduleError(f"must be a string, got {text!r}")
    rate = _RATE.match(text)
    if rate:
        return _rate(text, int(rate[1]), rate[2])
    cron = _CRON.match(text)
    if cron:
        return Schedule(text, "cron", cron=_cron(text, cron[1]))
    at = _AT.match(text)
    if at:
        try:
            moment = datetime.fromisoformat(at[1])
        except ValueError:
            raise ScheduleError(f"{text}: not a valid date and time") from None
        return Schedule(text, "at", at=moment)
    raise ScheduleError(
        f"{text!r}: expected rate(N minutes|hours|days) (rate(1 minute|hour|day) for one), "
        "cron(minutes hours day-of-month month day-of-week year) or at(yyyy-mm-ddThh:mm:ss)"
    )


def _rate(text: str, value: int, unit: str) -> Schedule:
    singular = unit.removesuffix("s")
    if value < 1:
        raise ScheduleError(f"{text}: the value must be a positive whole number")
    if (value == 1) != (unit == singular):
        raise ScheduleError(
            f"{text}: AWS wants the singular unit for 1 and the plural otherwise: "
            f"rate(1 {singular}) or rate({max(value, 2)} {singular}s)"
        )
    return Schedule(text, "rate", rate_minutes=value * RATE_UNIT_MINUTES[singular])


def _cron(text: str, body: str) -> tuple[str, ...]:
    fields = tuple(body.upper().split())
    if len(fields) != 6:
        raise ScheduleError(
            f"{text}: AWS cron has 6 fields (minutes hours day-of-month month day-of-week "
            f"year), got {len(fields)}"
        )
    for name, value in zip(FIELDS, fields, strict=True):
        problem = _field_problem(name, value)
        if problem:
            raise ScheduleError(f"{text}: {name} {value!r}: {problem}")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            f"{text}: exactly one of day-of-month and day-of-week must be '?' "
            "(AWS does not take both)"
        )
    return fields


def _number(name: str, token: str) -> int | None:
    low, high, names = _RANGES[name]
    if token in names:
        return names.index(token) + 1
    if token.isdigit() and low <= int(token) <= high:
        return int(token)
    return None


def _field_problem(name: str, value: str) -> str | None:
    """Why AWS refuses this field, or None."""
    low, high, names = _RANGES[name]
    allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
    if value == "?":
        return None if name in ("day-of-month", "day-of-week") else "'?' only for a day field"
    if name == "day-of-month" and re.fullmatch(r"L|\d{1,2}W", value):
        day = value.removesuffix("W")
        return None if day in ("L", "") or 1 <= int(day) <= 31 else f"days are {allowed}"
    if name == "day-of-week":
        if value == "L":
            return None
        last_of_month = re.fullmatch(r"(\w+)L", value)
        if last_of_month:
            return None if _number(name, last_of_month[1]) else f"days are {allowed}"
        if "#" in value and "," in value:
            return "a day-of-week with '#' takes one value"
        if "/" in value:
            return "no '/' in day-of-week (AWS: , - * ? L #)"
        nth = re.fullmatch(r"(\w+)#(\d)", value)
        if nth:
            if _number(name, nth[1]) is None:
                return f"days are {allowed}"
            return None if 1 <= int(nth[2]) <= 5 else "the # instance is 1-5"
    for part in value.split(","):
        base, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return "a step after / is a whole number >= 1"
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        for token in (first, last) if dash else (first,):
            if _number(name, token) is None:
                return f"values are {allowed}, with , - * /" + (
                    " ? L W"
                    if name == "day-of-month"
                    else " ? L #"
                    if name == "day-of-week"
                    else ""
                )
    return None
