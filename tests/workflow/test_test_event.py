"""The s3:TestEvent S3 sends when the bucket notification is configured.

A fresh stack's queue holds exactly that message. The workflow peeks at a small
idle backlog once and deletes test events, so the first run after a deploy no
longer starts (and bills) the model for it. Run in moto on a fresh stack: no
fixture deletes the test event first here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from emulator.localstack import LocalStackAws
from emulator.server import LocalAws
from emulator.workflow import lambda_service, provision_stack
from infra import outputs as out

from .conftest import VERSION_ARN, Pipeline, both_engines, stack_name

pytestmark = pytest.mark.timeout(300)  # LocalStack runs are slower than moto's


@pytest.fixture
def fresh(engine_aws: LocalAws | LocalStackAws) -> Iterator[Pipeline]:
    """A stack as `pulumi up` leaves it: the s3:TestEvent is in the queue."""
    aws = engine_aws
    aws.model.configure(start_delay=1.0, stop_delay=0.3, tps_per_unit=50.0)
    aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
    stack = stack_name(aws)
    outputs = provision_stack(aws, project_version_arn=VERSION_ARN, stack=stack)
    with lambda_service(aws, outputs):
        pipeline = Pipeline(aws, outputs, stack=stack)
        pipeline.wait_for_queue(1)
        yield pipeline


def bodies(pipeline: Pipeline) -> list[str]:
    """Every message body in the queue (received with visibility 0: left in place)."""
    sqs = pipeline.aws.client("sqs")
    received = sqs.receive_message(
        QueueUrl=pipeline.outputs[out.QUEUE_URL], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in received.get("Messages", [])]


def send(pipeline: Pipeline, body: str) -> None:
    pipeline.aws.client("sqs").send_message(
        QueueUrl=pipeline.outputs[out.QUEUE_URL], MessageBody=body
    )


@both_engines
def test_a_fresh_stack_does_not_start_the_model_for_the_test_event(fresh: Pipeline) -> None:
    # S3 sends a test event when the notification is configured: moto one, LocalStack
    # one per queue configuration (six suffixes here); AWS does not say (docs/emulator.md).
    count = fresh.queue()["total"]
    assert count >= 1
    assert all(json.loads(body)["Event"] == "s3:TestEvent" for body in bodies(fresh))

    result = fresh.run()

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "nothing-to-do"
    summary = result.summary
    assert summary["testEventsDropped"] == count
    assert summary["testEventPeek"]["peeked"] == count
    assert summary["backlogAtStart"]["total"] == count
    assert summary["startedByThisRun"] is False
    meter = fresh.meter()
    assert meter["starts"] == 0 and meter["detect_calls"] == 0
    assert fresh.queue()["total"] == 0 and fresh.dlq()["total"] == 0
    fresh.assert_ended_cleanly(result)
    # The next run finds an empty queue and does not peek.
    again = fresh.run()
    assert again.outcome == "nothing-to-do"
    assert again.summary["testEventPeek"]["peeked"] == 0
    fresh.assert_ended_cleanly(again)


def test_test_event_and_images_are_processed_normally(fresh: Pipeline) -> None:
    keys = fresh.upload(3)  # 3 images + the test event: a small backlog, peeked

    result = fresh.run()

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "drained"
    summary = result.summary
    assert summary["testEventsDropped"] == 1
    assert summary["testEventPeek"]["peeked"] == 4
    assert summary["startedByThisRun"] is True
    assert fresh.meter()["detect_succeeded"] == 3
    assert fresh.assert_nothing_lost()["processed"] == set(keys)
    assert fresh.queue()["total"] == 0 and fresh.dlq()["total"] == 0


def test_bodies_that_are_not_test_events_are_never_deleted_by_the_peek(fresh: Pipeline) -> None:
    # Not JSON at all; JSON that mentions the test event only in a nested object.
    send(fresh, "this is not JSON {")
    nested = json.dumps({"Records": [{"Event": "s3:TestEvent"}]})
    send(fresh, nested)
    # Matches the look-alike pattern, but its Event is not the string s3:TestEvent.
    not_a_string = json.dumps({"Event": 5, "Note": "s3:TestEvent"})
    send(fresh, not_a_string)
    kept = sorted(["this is not JSON {", nested, not_a_string])
    fresh.wait_for_queue(4)
    # A model whose start fails: the run peeks, then fails at the model without
    # enabling the Lambda, so the queue shows what the peek left.
    fresh.model("STOPPED", start_fails=True)

    result = fresh.run()

    assert result.status == "FAILED"
    assert result.summary["modelStatusFound"] == "STOPPED"
    assert result.summary["testEventsDropped"] == 1
    assert result.summary["testEventPeek"]["peeked"] == 4
    assert fresh.meter()["starts"] == 2  # a start ending FAILED is tried once more
    # Kept messages are visible again after the peek's (here 1 s) visibility timeout.
    deadline = time.monotonic() + 10
    while fresh.queue()["visible"] < len(kept):
        assert time.monotonic() < deadline, fresh.queue()
        time.sleep(0.1)
    assert sorted(bodies(fresh)) == kept


def test_no_peek_when_the_model_found_is_unusable(fresh: Pipeline) -> None:
    """A model that failed training ends the run anyway: a peek would only age the
    images (each receive counts toward the DLQ's maxReceiveCount) run after run."""
    fresh.upload(2)
    fresh.model("TRAINING_FAILED")

    result = fresh.run()

    assert result.status == "FAILED"
    assert result.summary["modelStatusFound"] == "TRAINING_FAILED"
    assert result.summary["testEventPeek"]["peeked"] == 0
    received = fresh.aws.client("sqs").receive_message(
        QueueUrl=fresh.outputs[out.QUEUE_URL],
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        AttributeNames=["ApproximateReceiveCount"],
    )["Messages"]
    assert len(received) == 3  # the test event and the two images
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in received} == {"1"}, (
        "only this receive: the run received nothing"
    )


def test_a_run_with_the_peek_turned_off_starts_the_model_for_the_test_event(
    fresh: Pipeline,
) -> None:
    """The behaviour the peek fixes (and the switch that turns it off)."""
    fresh.deploy(test_event_peek_max=0)

    result = fresh.run()

    assert result.status == "SUCCEEDED", result.cause
    assert result.outcome == "drained"
    assert result.summary["testEventsDropped"] == 0
    assert fresh.meter()["starts"] == 1
