"""Run-end notifications as they arrive in an SQS queue subscribed to the stack's
SNS topic (the local emulator subscribes one; on AWS any subscriber works).

The workflow's final phase publishes them; this module only reads and formats
whatever arrived, so it keeps working when the message grows new fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import reading


@dataclass(frozen=True)
class Notification:
    """One notification: the SNS subject (if any) and the message, parsed when JSON."""

    subject: str | None
    message: Any  # a dict (the run summary essentials) or the raw text
    attributes: dict[str, str] = field(default_factory=dict)


def parse(body: str) -> Notification:
    """An SQS message body: an SNS envelope (default delivery) or the raw message
    (raw message delivery)."""
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError:
        return Notification(subject=None, message=body)
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification":
        attributes = {
            name: str(value.get("Value"))
            for name, value in (envelope.get("MessageAttributes") or {}).items()
            if isinstance(value, dict)
        }
        text = envelope.get("Message", "")
        try:
            message: Any = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            message = text
        return Notification(envelope.get("Subject"), message, attributes)
    return Notification(subject=None, message=envelope)


def receive(sqs: Any, queue_url: str, wait_seconds: int = 1, limit: int = 10) -> list[Notification]:
    """Receive (and delete) up to ``limit`` notifications from ``queue_url``."""
    found: list[Notification] = []
    while len(found) < limit:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(found)),
            WaitTimeSeconds=wait_seconds,
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            with reading("ReceiveMessage"):
                body, handle = str(message["Body"]), str(message["ReceiptHandle"])
            found.append(parse(body))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
    return found


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def format_notification(notification: Notification) -> list[str]:
    """Printable lines: the subject, then one ``key: value`` line per field of a JSON
    message (nested objects one level deep as ``outer.inner``), or the text as is."""
    lines = [notification.subject] if notification.subject else []
    message = notification.message
    if isinstance(message, dict):
        for key, value in message.items():
            if isinstance(value, dict) and value and len(value) <= 8:
                lines.extend(f"  {key}.{k}: {_value(v)}" for k, v in value.items())
            else:
                lines.append(f"  {key}: {_value(value)}")
    else:
        lines.extend(f"  {line}" for line in str(message).splitlines() or [""])
    return lines
