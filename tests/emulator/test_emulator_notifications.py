"""The emulator's run notification plumbing: provision_stack creates the stack's
topic and a subscribed inbox queue, and hands both to the workflow builder."""

from __future__ import annotations

import json

import pytest

from cli.notifications import format_notification, receive
from emulator.workflow import provision_stack, workflow_params
from infra import outputs as out
from tests.emulator.emu_helpers import VERSION_ARN


@pytest.fixture
def stack(aws):
    return provision_stack(aws, project_version_arn=VERSION_ARN, stack="notify")


def test_the_stack_has_a_tls_only_topic_with_a_subscribed_inbox(aws, stack):
    topic_arn = stack[out.NOTIFICATION_TOPIC_ARN]
    sns = aws.client("sns")
    policy = json.loads(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    inbox_arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack[out.NOTIFICATION_QUEUE_URL], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("sqs", inbox_arn)]


def test_the_workflow_is_built_with_the_topic_and_the_default_bus(aws, stack):
    params = workflow_params(stack)
    assert params.notification_topic_arn == stack[out.NOTIFICATION_TOPIC_ARN]
    assert params.event_bus_arn == (
        f"arn:aws:events:{aws.region}:{aws.account_id}:event-bus/default"
    )
    assert params.notify_outcomes == ("drained", "max-run-reached", "failed")


def test_what_is_published_to_the_topic_reaches_the_reader(aws, stack):
    essentials = {"outcome": "drained", "images": {"processed": 3, "failed": 1}}
    aws.client("sns").publish(
        TopicArn=stack[out.NOTIFICATION_TOPIC_ARN],
        Subject="rekognition-batch run drained",
        Message=json.dumps(essentials),
    )
    (note,) = receive(aws.client("sqs"), stack[out.NOTIFICATION_QUEUE_URL], wait_seconds=2)
    assert note.message == essentials
    assert format_notification(note)[:2] == ["rekognition-batch run drained", "  outcome: drained"]
    # Received messages are deleted: a second read finds nothing.
    assert receive(aws.client("sqs"), stack[out.NOTIFICATION_QUEUE_URL], wait_seconds=0) == []
