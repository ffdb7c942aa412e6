"""Records reported for retry come back in seconds (runtime/visibility.py).

Pure rules first (queue URL, growth, batching, settings), then the handler on
the emulator: a record that fails is visible again after the short visibility
instead of the queue's, and no failure of the visibility call changes the
response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from runtime import handler as handler_module
from runtime import settings as names
from runtime.settings import Settings, SettingsError
from runtime.visibility import (
    SQS_MAX_BATCH_ENTRIES,
    Outcome,
    RetryEntry,
    batches,
    change_visibility,
    plan,
    queue_url_from_arn,
    retry_visibility_seconds,
)
from tests.runtime.conftest import (
    Capture,
    Env,
    FakeContext,
    failed_ids,
    s3_event_body,
    sqs_event,
    sqs_record,
)

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:rt-queue"
MODEL_ERROR = {"InternalServerError": 1.0}

# -- pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "url"),
    [
        (QUEUE_ARN, "https://sqs.us-east-1.amazonaws.com/123456789012/rt-queue"),
        (
            "arn:aws-cn:sqs:cn-north-1:123456789012:q",
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
        ),
        (
            "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q.fifo",
            "https://sqs.us-gov-west-1.amazonaws.com/123456789012/q.fifo",
        ),
    ],
)
def test_queue_url_is_derived_from_the_event_source_arn(arn: str, url: str) -> None:
    assert queue_url_from_arn(arn) == url


@pytest.mark.parametrize(
    "arn", ["", "arn:aws:s3:::bucket", "arn:aws:sqs:us-east-1:12345:q", "arn:aws:sqs:r:1:q/x"]
)
def test_anything_but_a_queue_arn_is_refused(arn: str) -> None:
    with pytest.raises(ValueError, match="not an SQS queue ARN"):
        queue_url_from_arn(arn)


def test_visibility_doubles_with_each_receive_up_to_the_cap() -> None:
    assert [retry_visibility_seconds(n, 4, 240) for n in range(1, 9)] == [
        4, 8, 16, 32, 64, 128, 240, 240,
    ]  # fmt: skip
    assert retry_visibility_seconds(0, 4, 240) == 4  # a missing count counts as the first
    assert retry_visibility_seconds(10_000, 4, 240) == 240
    assert retry_visibility_seconds(3, 0, 240) == 0  # base 0: retry at once


def test_the_plan_covers_exactly_the_failed_records_with_their_receive_counts() -> None:
    records = [
        {**sqs_record("{}", message_id=f"m{i}"), "eventSourceARN": QUEUE_ARN} for i in range(4)
    ]
    records[1]["attributes"]["ApproximateReceiveCount"] = "3"
    entries = plan(records, ["m1", "m3"], base=2, cap=100)
    assert [(e.message_id, e.visibility_seconds) for e in entries] == [("m1", 8), ("m3", 2)]
    assert {e.receipt_handle for e in entries} == {
        records[1]["receiptHandle"],
        records[3]["receiptHandle"],
    }


def test_a_record_without_queue_arn_or_receipt_handle_is_skipped_and_logged() -> None:
    warnings: list[str] = []

    class Log:
        def info(self, msg: object, *args: object, **kwargs: Any) -> None:
            pass

        def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
            warnings.append(str(msg))

    records = [
        {**sqs_record("{}", message_id="a"), "eventSourceARN": "not-an-arn"},
        {**sqs_record("{}", message_id="b"), "receiptHandle": ""},
        {**sqs_record("{}", message_id="c")},
    ]
    entries = plan(records, ["a", "b", "c"], base=2, cap=10, logger=Log())
    assert [e.message_id for e in entries] == ["c"]
    assert len(warnings) == 2


def entry(i: int, queue: str = "https://sqs.us-east-1.amazonaws.com/1/q") -> RetryEntry:
    return RetryEntry(f"m{i}", queue, f"rh{i}", 4)


def test_batches_hold_at_most_ten_entries_of_one_queue() -> None:
    entries = [entry(i) for i in range(23)] + [entry(99, "https://sqs/other")]
    groups = batches(entries)
    assert [(url.rsplit("/", 1)[1], len(g)) for url, g in groups] == [
        ("q", 10), ("q", 10), ("q", 3), ("other", 1),
    ]  # fmt: skip
    assert sorted(e.message_id for _, g in groups for e in g) == sorted(
        e.message_id for e in entries
    )


def test_settings_validate_the_back_off_naming_the_variable() -> None:
    base = {names.FINAL_BUCKET: "b", names.PROJECT_VERSION_ARN: VERSION}
    settings = Settings.from_env(base)
    assert (settings.retry_visibility_base_seconds, settings.retry_visibility_max_seconds) == (
        4,
        240,
    )
    assert Settings.from_env(settings.to_env()) == settings
    for env, name in [
        ({names.RETRY_VISIBILITY_BASE_SECONDS: "-1"}, names.RETRY_VISIBILITY_BASE_SECONDS),
        ({names.RETRY_VISIBILITY_BASE_SECONDS: "soon"}, names.RETRY_VISIBILITY_BASE_SECONDS),
        ({names.RETRY_VISIBILITY_MAX_SECONDS: "43201"}, names.RETRY_VISIBILITY_MAX_SECONDS),
        (
            {names.RETRY_VISIBILITY_BASE_SECONDS: "10", names.RETRY_VISIBILITY_MAX_SECONDS: "5"},
            names.RETRY_VISIBILITY_MAX_SECONDS,
        ),
    ]:
        with pytest.raises(SettingsError, match=f"^{name}"):
            Settings.from_env({**base, **env})


VERSION = "arn:aws:rekognition:us-east-1:123456789012:project/rt/version/rt.v1/1700000000000"


# -- the visibility call ----------------------------------------------------------------


class FakeSqs:
    """change_message_visibility_batch that records its requests and answers as told."""

    def __init__(self, answer: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self._answer = answer

    async def change_message_visibility_batch(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self._answer is not None:
            result = self._answer(request["Entries"])
            if asyncio.iscoroutine(result):
                result = await result
            return result
        return {"Successful": [{"Id": e["Id"]} for e in request["Entries"]], "Failed": []}


class ListLog:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        pass

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.warnings.append((str(msg), kwargs.get("extra", {})))


def run(coro: Any) -> Any:
    return asyncio.new_event_loop().run_until_complete(coro)


def test_25_records_take_three_requests_each_entry_exactly_once() -> None:
    sqs = FakeSqs()
    outcome = run(
        change_visibility(sqs, [entry(i) for i in range(25)], budget_s=5, logger=ListLog())
    )
    assert [len(r["Entries"]) for r in sqs.requests] == [10, 10, 5]
    handles = [e["ReceiptHandle"] for r in sqs.requests for e in r["Entries"]]
    assert sorted(handles) == sorted(f"rh{i}" for i in range(25))
    assert all(len(r["Entries"]) <= SQS_MAX_BATCH_ENTRIES for r in sqs.requests)
    assert (outcome.changed, outcome.failed, outcome.requests) == (25, 0, 3)


def test_partly_failed_entries_are_logged_and_counted() -> None:
    def answer(entries: list[dict[str, Any]]) -> dict[str, Any]:
        first, *rest = entries
        return {
            "Successful": [{"Id": e["Id"]} for e in rest],
            "Failed": [
                {
                    "Id": first["Id"],
                    "SenderFault": True,
                    "Code": "ReceiptHandleIsInvalid",
                    "Message": "expired",
                }
            ],
        }

    log = ListLog()
    outcome = run(
        change_visibility(FakeSqs(answer), [entry(i) for i in range(3)], budget_s=5, logger=log)
    )
    assert (outcome.changed, outcome.failed) == (2, 1)
    assert [extra["message_id"] for _, extra in log.warnings] == ["m0"]


def test_an_exception_is_logged_not_raised() -> None:
    def answer(entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise ConnectionError("reset by peer")

    log = ListLog()
    outcome = run(
        change_visibility(FakeSqs(answer), [entry(i) for i in range(12)], budget_s=5, logger=log)
    )
    assert (outcome.changed, outcome.failed, outcome.requests) == (0, 12, 2)
    assert len(log.warnings) == 2


def test_a_hanging_call_ends_at_the_timeout() -> None:
    async def hang(entries: list[dict[str, Any]]) -> dict[str, Any]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    log = ListLog()
    started = time.monotonic()
    outcome = run(change_visibility(FakeSqs(hang), [entry(1)], budget_s=0.2, logger=log))
    assert time.monotonic() - started < 2
    assert isinstance(outcome, Outcome) and outcome.failed == 1
    assert "timed out" in log.warnings[-1][0]


# -- the handler on the emulator ----------------------------------------------------------


def queued_event(env: Env, *keys: str, visibility: int = 600) -> tuple[dict[str, Any], str]:
    """Upload ``keys``, queue one message per key and receive them as Lambda would."""
    sqs = env.aws.client("sqs")
    url = sqs.create_queue(QueueName="rt-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for key in keys:
        env.put(key)
        sqs.send_message(QueueUrl=url, MessageBody=s3_event_body(key))
    messages: list[dict[str, Any]] = []
    while len(messages) < len(keys):
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            AttributeNames=["All"],
        ).get("Messages", [])
        assert got, "the queued messages were not received"
        messages.extend(got)
    records = [
        {
            **sqs_record(m["Body"], message_id=m["MessageId"]),
            "receiptHandle": m["ReceiptHandle"],
            "attributes": m["Attributes"],
            "eventSourceARN": arn,
        }
        for m in messages
    ]
    return sqs_event(*records), url


def receive_within(sqs: Any, url: str, seconds: float) -> list[dict[str, Any]]:
    """Messages that become visible within ``seconds`` (long polls, no fixed sleeps)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        if got:
            return got
    return []


def test_a_record_reported_for_retry_is_visible_again_after_the_short_visibility(
    env: Env, context: FakeContext
) -> None:
    env.aws.model.configure(fault_rates=MODEL_ERROR)
    event, url = queued_event(env, "retry/a.png")
    handler = env.handler(retry_visibility_base_seconds=1, retry_visibility_max_seconds=60)
    response = handler(event, context)
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    back = receive_within(env.aws.client("sqs"), url, 15)  # the queue's own: 600 s
    assert [m["MessageId"] for m in back] == [event["Records"][0]["messageId"]]
    assert back[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_successful_records_are_left_alone(env: Env, context: FakeContext) -> None:
    event, url = queued_event(env, "ok/a.png", visibility=600)
    handler = env.handler(retry_visibility_base_seconds=0, retry_visibility_max_seconds=0)
    response = handler(event, context)
    assert failed_ids(response) == set()
    # Not made visible at once (base 0 would do that for a retry): still invisible
    # (600 s: no timing on a loaded machine can make it visible meanwhile).
    sqs = env.aws.client("sqs")
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


@pytest.mark.parametrize("fault", ["raise", "partial"])
def test_a_failing_visibility_call_returns_the_same_failures(
    env: Env,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    logs: Capture,
) -> None:
    env.aws.model.configure(fault_rates=MODEL_ERROR)
    event, _ = queued_event(env, "f/a.png", "f/b.png", "f/c.png")
    expected = {r["messageId"] for r in event["Records"]}

    def answer(entries: list[dict[str, Any]]) -> dict[str, Any]:
        if fault == "raise":
            raise RuntimeError("SQS is down")
        return {
            "Successful": [],
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "x"}
                for e in entries
            ],
        }

    fake = FakeSqs(answer)

    async def fake_sqs(self: Any) -> FakeSqs:
        return fake

    monkeypatch.setattr(handler_module.LoopResources, "sqs", fake_sqs)
    response = env.handler()(event, context)
    items = response["batchItemFailures"]
    assert sorted(i["itemIdentifier"] for i in items) == sorted(expected)  # none lost
    assert len(items) == len(expected)  # none duplicated
    assert len(fake.requests) == 1 and len(fake.requests[0]["Entries"]) == 3
    assert any(
        r.levelno == logging.WARNING and "visibility" in r.getMessage() for r in logs.records
    )


def test_a_broken_visibility_step_never_breaks_the_response(
    env: Env, context: FakeContext, monkeypatch: pytest.MonkeyPatch, logs: Capture
) -> None:
    env.aws.model.configure(fault_rates=MODEL_ERROR)
    event, _ = queued_event(env, "g/a.png")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("a bug in the planner")

    monkeypatch.setattr(handler_module, "plan", broken)
    response = env.handler()(event, context)
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    assert any(r.levelno == logging.ERROR and "visibility" in r.getMessage() for r in logs.records)


def test_one_request_per_ten_failed_records_of_an_invocation(
    env: Env, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.aws.model.configure(fault_rates=MODEL_ERROR)
    keys = [f"m/{i:02d}.png" for i in range(12)]
    event, _ = queued_event(env, *keys)
    fake = FakeSqs()

    async def fake_sqs(self: Any) -> FakeSqs:
        return fake

    monkeypatch.setattr(handler_module.LoopResources, "sqs", fake_sqs)
    handler = env.handler(retry_visibility_base_seconds=3, retry_visibility_max_seconds=30)
    response = handler(event, context)
    assert len(failed_ids(response)) == 12
    assert sorted(len(r["Entries"]) for r in fake.requests) == [2, 10]
    assert {e["VisibilityTimeout"] for r in fake.requests for e in r["Entries"]} == {3}
    assert all(r["QueueUrl"].endswith("/123456789012/rt-queue") for r in fake.requests)
