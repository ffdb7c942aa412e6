"""Formatting of run-end notifications as an SQS subscriber receives them."""

from __future__ import annotations

import json

from cli.notifications import Notification, format_notification, parse

ESSENTIALS = {
    "outcome": "drained",
    "images": {"processed": 12, "failed": 2},
    "modelMinutes": 3.5,
    "estimatedCostUsd": 0.233333,
    "console": "https://eu-west-1.console.aws.amazon.com/states/home#/executions/details/x",
}


def envelope(message: str, subject: str | None = "rekognition-batch run drained") -> str:
    body = {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": message}
    if subject is not None:
        body["Subject"] = subject
    return json.dumps(body)


def test_an_sns_envelope_with_a_json_message_is_unwrapped() -> None:
    note = parse(envelope(json.dumps(ESSENTIALS)))
    assert note.subject == "rekognition-batch run drained"
    assert note.message == ESSENTIALS


def test_a_raw_delivery_and_plain_text_are_kept() -> None:
    assert parse(json.dumps(ESSENTIALS)) == Notification(None, ESSENTIALS)
    assert parse("run finished") == Notification(None, "run finished")
    assert parse(envelope("run finished", subject=None)).message == "run finished"


def test_format_prints_the_subject_then_every_field() -> None:
    lines = format_notification(parse(envelope(json.dumps(ESSENTIALS))))
    assert lines == [
        "rekognition-batch run drained",
        "  outcome: drained",
        "  images.processed: 12",
        "  images.failed: 2",
        "  modelMinutes: 3.5",
        "  estimatedCostUsd: 0.2333",
        "  console: https://eu-west-1.console.aws.amazon.com/states/home#/executions/details/x",
    ]


def test_format_keeps_unknown_shapes_readable() -> None:
    assert format_notification(Notification(None, "line one\nline two")) == [
        "  line one",
        "  line two",
    ]
    assert format_notification(Notification("s", {"cleanupErrors": [{"Error": "X"}]})) == [
        "s",
        '  cleanupErrors: [{"Error": "X"}]',
    ]
