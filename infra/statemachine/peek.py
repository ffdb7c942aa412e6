"""The s3:TestEvent peek (part of the backlog phase).

S3 sends one s3:TestEvent message when the bucket notification is set up
(each `pulumi up` that changes it): without the peek, the first run after a
deploy would start the model for it. A small, idle backlog (1..peek max
visible, none in flight or delayed) with a model this run could use is
received once; test events are deleted and the rest kept. At most one
ReceiveMessage per run: kept messages come back after the short visibility
timeout, their receive count one higher (the DLQ's maxReceiveCount counts it).

A flat loop rather than a Map state: moto runs an inline Map faithfully, but
the loop keeps the graph flat, so the structural tests (every Task caught,
every path guarded) walk one level of states, and a Map would bill about the
same transitions per message (at most ten here).
"""

from __future__ import annotations

from typing import Any

from infra.statemachine import asl, cleanup
from infra.statemachine import names as n
from infra.statemachine.errors import MODEL_STATUSES_SEEN, SQS_TRANSIENT
from infra.statemachine.params import WorkflowParams
from infra.statemachine.tasks import model_is_any, queue_counts, retry

S3_TEST_EVENT = "s3:TestEvent"
# Only bodies that look like a JSON object with this Event are parsed (States.StringToJson
# of a body that is not JSON is a States.Runtime error on AWS, which no Catch catches).
TEST_EVENT_BODY_PATTERN = '{*"Event":*"' + S3_TEST_EVENT + '"*}'


def peek_record(peeked: Any, dropped: Any, recount: Any) -> dict[str, Any]:
    """$.peek as the summary shows it (values, or '$...' paths as `key.$`)."""
    record: dict[str, Any] = {}
    for key, value in (("peeked", peeked), ("dropped", dropped), ("recount", recount)):
        if isinstance(value, str) and value.startswith(("$", "States.")):
            record[f"{key}.$"] = value
        else:
            record[key] = value
    return record


def _loop(index: str, dropped: str) -> dict[str, Any]:
    return {
        "count.$": "$.peekWork.loop.count",
        "index.$": index,
        "dropped.$": dropped,
    }


def states(p: WorkflowParams) -> asl.States:
    """The peek's states; they return to HasBacklog. Empty when the peek is off."""
    if not p.test_event_peek_max:
        return {}
    event = "$.peekWork.parsed.message.Event"
    next_index = "States.MathAdd($.peekWork.loop.index, 1)"
    return {
        n.PEEK_WORTH_IT: asl.choice(
            [
                asl.rule(
                    asl.all_of(
                        asl.cond("$.backlog.visible", "NumericGreaterThan", 0),
                        asl.cond(
                            "$.backlog.visible", "NumericLessThanEquals", p.test_event_peek_max
                        ),
                        asl.cond("$.backlog.inFlight", "NumericEquals", 0),
                        asl.cond("$.backlog.delayed", "NumericEquals", 0),
                        # A model this run can not use (FAILED, ...) ends the
                        # run anyway: no receive that would only age the images.
                        model_is_any(*MODEL_STATUSES_SEEN),
                    ),
                    n.PEEK_QUEUE,
                )
            ],
            default=n.HAS_BACKLOG,
            comment=(
                "Only a small, idle backlog can be test events only; peeked only "
                "when the model found is one this run could use."
            ),
        ),
        n.PEEK_QUEUE: {
            "Type": "Task",
            "Comment": "Receive (not consume) the small backlog once, to find S3 test events.",
            "Resource": asl.SDK + "sqs:receiveMessage",
            "Parameters": {
                "QueueUrl": p.queue_url,
                "MaxNumberOfMessages": p.test_event_peek_max,
                "VisibilityTimeout": p.peek_visibility_timeout_seconds,
                "WaitTimeSeconds": 0,
            },
            # No ResultSelector: "Messages" is absent when nothing was received.
            "ResultPath": "$.peekWork.received",
            "Retry": [retry(p, *SQS_TRANSIENT)],
            # The peek is an optimisation: if it fails, the run goes on as before.
            "Catch": asl.catch(n.HAS_BACKLOG, "$.peek.error"),
            "Next": n.PEEK_RECEIVED_ANY,
        },
        n.PEEK_RECEIVED_ANY: asl.choice(
            [asl.when("$.peekWork.received.Messages", "IsPresent", True, n.PEEK_INIT)],
            default=n.HAS_BACKLOG,
        ),
        n.PEEK_INIT: asl.pass_state(
            n.PEEK_NEXT,
            parameters={
                "count.$": "States.ArrayLength($.peekWork.received.Messages)",
                "index": 0,
                "dropped": 0,
            },
            result_path="$.peekWork.loop",
        ),
        n.PEEK_NEXT: asl.choice(
            [
                asl.when(
                    "$.peekWork.loop.index",
                    "NumericLessThanPath",
                    "$.peekWork.loop.count",
                    n.PEEK_ITEM,
                )
            ],
            default=n.PEEK_DONE,
            comment="A bounded loop over the received messages (at most 10).",
        ),
        n.PEEK_ITEM: asl.pass_state(
            n.PEEK_LOOKS_LIKE_TEST_EVENT,
            parameters={
                # The message whole (Body and ReceiptHandle are always there): no
                # wildcard projection, whose one-element result interpreters disagree on.
                "message.$": (
                    "States.ArrayGetItem($.peekWork.received.Messages, $.peekWork.loop.index)"
                ),
            },
            result_path="$.peekWork.item",
        ),
        n.PEEK_LOOKS_LIKE_TEST_EVENT: asl.choice(
            [
                asl.when(
                    "$.peekWork.item.message.Body",
                    "StringMatches",
                    TEST_EVENT_BODY_PATTERN,
                    n.PEEK_PARSE,
                )
            ],
            default=n.PEEK_KEEP,
            comment="Parse only what looks like a test event: other bodies may not be JSON.",
        ),
        n.PEEK_PARSE: asl.pass_state(
            n.PEEK_HAS_EVENT,
            parameters={"message.$": "States.StringToJson($.peekWork.item.message.Body)"},
            result_path="$.peekWork.parsed",
        ),
        # One test per Choice (present, a string, equal): no comparison ever sees a
        # missing path or a value of another type.
        n.PEEK_HAS_EVENT: asl.choice(
            [asl.when(event, "IsPresent", True, n.PEEK_EVENT_IS_STRING)], default=n.PEEK_KEEP
        ),
        n.PEEK_EVENT_IS_STRING: asl.choice(
            [asl.when(event, "IsString", True, n.PEEK_IS_TEST_EVENT)], default=n.PEEK_KEEP
        ),
        n.PEEK_IS_TEST_EVENT: asl.choice(
            [asl.when(event, "StringEquals", S3_TEST_EVENT, n.DELETE_TEST_EVENT)],
            default=n.PEEK_KEEP,
            comment="A top-level Event == s3:TestEvent, exactly: only then delete.",
        ),
        n.DELETE_TEST_EVENT: {
            "Type": "Task",
            "Comment": "A test event is not work: delete it so it never starts the model.",
            "Resource": asl.SDK + "sqs:deleteMessage",
            "Parameters": {
                "QueueUrl": p.queue_url,
                "ReceiptHandle.$": "$.peekWork.item.message.ReceiptHandle",
            },
            "ResultPath": None,
            "Retry": [retry(p, *SQS_TRANSIENT)],
            # Not deleted: it stays counted, and the run goes on as before.
            "Catch": asl.catch(n.PEEK_KEEP, "$.peekWork.deleteError"),
            "Next": n.PEEK_DROPPED,
        },
        n.PEEK_DROPPED: asl.pass_state(
            n.PEEK_NEXT,
            parameters=_loop(next_index, "States.MathAdd($.peekWork.loop.dropped, 1)"),
            result_path="$.peekWork.loop",
        ),
        n.PEEK_KEEP: asl.pass_state(
            n.PEEK_NEXT,
            parameters=_loop(next_index, "$.peekWork.loop.dropped"),
            result_path="$.peekWork.loop",
        ),
        n.PEEK_DONE: asl.pass_state(
            n.PEEK_DROPPED_ANY,
            parameters=peek_record(
                "$.peekWork.loop.count", "$.peekWork.loop.dropped", "$.peek.recount"
            ),
            result_path="$.peek",
            comment="Keep the counts, drop the bodies and receipt handles.",
        ),
        n.PEEK_DROPPED_ANY: asl.choice(
            [asl.when("$.peek.dropped", "NumericGreaterThan", 0, n.RECOUNT_BACKLOG)],
            default=n.PEEK_CLEARED,
        ),
        n.RECOUNT_BACKLOG: queue_counts(
            p,
            next_state=n.PEEK_CLEARED,
            result_path="$.peek.recount",
            catch=asl.catch(cleanup.ON_ERROR),
            comment="The backlog without the test events (approximate: SQS counts lag).",
        ),
        n.PEEK_CLEARED: asl.pass_state(
            n.HAS_BACKLOG,
            result={},
            result_path="$.peekWork",
            comment="The received messages are not carried through the rest of the run.",
        ),
    }
