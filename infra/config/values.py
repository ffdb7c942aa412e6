"""The formats of the keys' values: each parser takes the raw value, returns the
parsed one or raises ValueError with a message that follows the key's name."""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from infra.config.limits import KMS_CREATE, LOG_RETENTION_DAYS
from infra.contract import OUTCOMES
from infra.schedule import ScheduleError
from infra.schedule import parse as parse_schedule
from runtime.arns import PROJECT_ARN, VERSION_ARN

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"key/[A-Za-z0-9-]+$"
)


def version_arn(text: str) -> str:
    if not VERSION_ARN.match(text):
        raise ValueError(
            "is not a Rekognition Custom Labels model version ARN "
            f"(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP): {text!r}"
        )
    return text


def project_arn(text: str) -> str:
    if not PROJECT_ARN.match(text):
        raise ValueError(
            "is not a Rekognition project ARN "
            f"(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/TIMESTAMP): {text!r}"
        )
    return text


def schedule(text: str) -> str:
    """An EventBridge Scheduler expression AWS accepts (infra/schedule.py's rules)."""
    try:
        parse_schedule(text)
    except ScheduleError as err:
        raise ValueError(f"is not a schedule AWS accepts: {err}") from None
    return text


def timezone(name: str) -> str:
    valid = bool(name) and not name.startswith("/") and ".." not in name
    try:
        if valid:
            zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"is not an IANA time zone name: {name!r}")
    return name


def email(text: str) -> str:
    if not _EMAIL.match(text):
        raise ValueError(f"is not an e-mail address: {text!r}")
    return text


def kms_key(text: str) -> str:
    if text != KMS_CREATE and not KMS_KEY_ARN.match(text):
        raise ValueError(
            f"must be empty, {KMS_CREATE!r} or a KMS key ARN "
            f"(arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias), got {text!r}"
        )
    return text


def retention_days(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"must be a CloudWatch Logs retention value ({', '.join(map(str, LOG_RETENTION_DAYS))}),"
            f" got {days}"
        )
    return days


def zero_or_between(lo: int, hi: int, zero: str, why: str = "") -> Callable[[int], int]:
    """An integer key where 0 means ``zero`` (derive it) and any other value is in lo..hi."""

    def check(value: int) -> int:
        if value != 0 and not lo <= value <= hi:
            raise ValueError(f"must be 0 ({zero}) or between {lo} and {hi}{why}, got {value}")
        return value

    return check


def _string_list(value: Any, what: str) -> list[str]:
    """A Pulumi array: a list, its JSON text, or a comma-separated string."""
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        try:
            items = json.loads(text) if text.startswith("[") else text.split(",")
        except json.JSONDecodeError:
            raise ValueError(f"is not a JSON list: {text!r}") from None
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
        raise ValueError(f"must be a list of {what}, got {value!r}")
    return [s.strip() for s in items if s.strip()]


def suffixes(value: Any) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(s.lower() for s in _string_list(value, "suffixes like .jpg")))
    if not cleaned:
        raise ValueError("must name at least one suffix")
    for suffix in cleaned:
        if not re.fullmatch(r"\.[a-z0-9]{1,10}", suffix):
            # One dot, so no two suffixes can overlap (S3 rejects overlapping filters).
            raise ValueError(f"each suffix must look like .jpg (dot + letters), got {suffix!r}")
    if ".json" in cleaned:
        raise ValueError("must not include .json: result and error documents end in .json")
    return cleaned


def outcomes(value: Any) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(_string_list(value, "run outcomes")))
    if not cleaned:
        raise ValueError("must name at least one outcome")
    unknown = [o for o in cleaned if o not in OUTCOMES]
    if unknown:
        raise ValueError(
            f"unknown outcome(s) {', '.join(map(repr, unknown))}: use {', '.join(OUTCOMES)}"
        )
    return cleaned
