"""The run-end notification on the emulator: a drained run publishes one message
to the stack's topic (read from the subscribed inbox) and one event on the
default bus; a nothing-to-do run, not in notifyOnOutcomes by default, sends none.

The notification phase's states are built by the state machine package
(infra/statemachine/notify.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli.notifications import format_notification, receive
from emulator.workflow import FAST_WORKFLOW, workflow_params
from infra import contract
from infra import outputs as out
from infra.statemachine import build_definition

from .conftest import both_engines


def publishes(outputs: dict[str, Any]) -> bool:
    definition = json.dumps(build_definition(workflow_params(outputs, **FAST_WORKFLOW)))
    return "sns:publish" in definition.lower()


@pytest.fixture
def events_inbox(pipeline) -> str:
    """An SQS queue receiving this project's events from the default bus."""
    aws = pipeline.aws
    sqs, events = aws.client("sqs"), aws.client("events")
    rule = f"rekbatch-{pipeline.stack}-run-finished"  # LocalStack keeps earlier tests' rules
    url = sqs.create_queue(QueueName=f"{rule}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {"source": [contract.EVENT_SOURCE], "detail-type": [contract.EVENT_DETAIL_TYPE]}
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "inbox", "Arn": arn}])
    return url


def test_the_emulated_stack_deploys_the_notification_phase(pipeline) -> None:
    assert publishes(pipeline.outputs)


@both_engines
def test_a_drained_run_notifies_the_topic_and_the_default_bus(pipeline, events_inbox) -> None:
    pipeline.upload(3)
    result = pipeline.run()
    assert result.outcome == contract.OUTCOME_DRAINED
    sqs = pipeline.aws.client("sqs")
    (note,) = receive(sqs, pipeline.outputs[out.NOTIFICATION_QUEUE_URL], wait_seconds=2)
    assert contract.OUTCOME_DRAINED in "\n".join(format_notification(note))
    messages = sqs.receive_message(QueueUrl=events_inbox, WaitTimeSeconds=2).get("Messages", [])
    (event,) = [json.loads(m["Body"]) for m in messages]
    assert event["source"] == contract.EVENT_SOURCE
    assert event["detail-type"] == contract.EVENT_DETAIL_TYPE
    assert contract.OUTCOME_DRAINED in json.dumps(event["detail"])
    pipeline.assert_ended_cleanly(result)


def test_nothing_to_do_is_not_notified_by_default(pipeline, events_inbox) -> None:
    result = pipeline.run()
    assert result.outcome == contract.OUTCOME_NOTHING_TO_DO
    sqs = pipeline.aws.client("sqs")
    assert receive(sqs, pipeline.outputs[out.NOTIFICATION_QUEUE_URL], wait_seconds=1) == []
    assert sqs.receive_message(QueueUrl=events_inbox, WaitTimeSeconds=1).get("Messages") is None
