"""The local Lambda service for SQS mappings: batching, partial failures,
visibility, redrive to the DLQ, concurrency, and Disabled means untouched."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from emulator.poller import LambdaPoller
from emulator.stack import provision_data_path
from infra import outputs as out
from runtime import settings as env_names
from tests.emulator.emu_helpers import VERSION_ARN


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


class Recorder:
    """A handler factory whose handler records events and fails chosen bodies."""

    def __init__(self, fail: Callable[[str], bool] = lambda body: False, sleep: float = 0.0):
        self.fail = fail
        self.sleep = sleep
        self.events: list[dict[str, Any]] = []
        self.environments: list[dict[str, str]] = []
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def __call__(self, environment):
        self.environments.append(dict(environment))
        return self.handle

    def handle(self, event, context):
        assert context.get_remaining_time_in_millis() > 0
        with self.lock:
            self.events.append(event)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        time.sleep(self.sleep)
        with self.lock:
            self.running -= 1
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if self.fail(r["body"])
            ]
        }

    def bodies(self) -> list[str]:
        with self.lock:
            return [r["body"] for e in self.events for r in e["Records"]]


@pytest.fixture
def stack(aws):
    outputs = provision_data_path(
        aws,
        project_version_arn=VERSION_ARN,
        batch_size=10,
        batching_window=0,  # a window must stay below the (test-short) visibility timeout
        maximum_concurrency=2,
        max_receive_count=2,
        visibility_timeout_seconds=1,
        lambda_timeout_seconds=5,
    )
    aws.client("sqs").purge_queue(QueueUrl=outputs[out.QUEUE_URL])  # the s3:TestEvent
    return outputs


def send(aws, stack, bodies):
    sqs = aws.client("sqs")
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=stack[out.QUEUE_URL],
            Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])
            ],
        )


def counts(aws, url) -> tuple[int, int]:
    attrs = aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def set_enabled(aws, stack, enabled: bool, **changes) -> None:
    aws.client("lambda").update_event_source_mapping(
        UUID=stack[out.EVENT_SOURCE_MAPPING_UUID], Enabled=enabled, **changes
    )


def test_disabled_mapping_consumes_nothing(aws, stack):
    send(aws, stack, ["a", "b", "c"])
    recorder = Recorder()
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=recorder):
        time.sleep(1.0)
    assert recorder.events == []
    assert counts(aws, stack[out.QUEUE_URL]) == (3, 0)
    got = aws.client("sqs").receive_message(
        QueueUrl=stack[out.QUEUE_URL], MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in got} == {"1"}


def test_enabled_mapping_batches_and_deletes_what_succeeded(aws, stack):
    bodies = [f"m{i}" for i in range(25)]
    aws.client("sqs").set_queue_attributes(
        QueueUrl=stack[out.QUEUE_URL], Attributes={"VisibilityTimeout": "10"}
    )
    send(aws, stack, bodies)
    recorder = Recorder()
    set_enabled(aws, stack, True, MaximumBatchingWindowInSeconds=1)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=recorder) as p:
        wait_until(lambda: counts(aws, stack[out.QUEUE_URL]) == (0, 0))
        # The queue empties when the last batch is deleted; the poller counts that
        # delete just after, so wait for the count too (on a loaded machine it lags).
        wait_until(lambda: p.stats().deleted >= 25)
        stats = p.stats()
    assert sorted(recorder.bodies()) == sorted(bodies)
    sizes = [len(e["Records"]) for e in recorder.events]
    assert max(sizes) == 10 and sum(sizes) == 25
    assert stats.deleted == 25 and stats.records == 25 and stats.function_errors == 0


def test_records_are_built_like_lambda_builds_them(aws, stack):
    send(aws, stack, ["hello"])
    recorder = Recorder()
    set_enabled(aws, stack, True)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=recorder):
        wait_until(lambda: recorder.events)
    record = recorder.events[0]["Records"][0]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack[out.QUEUE_ARN]
    assert record["awsRegion"] == aws.region
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageId"] and record["receiptHandle"] and record["md5OfBody"]


def test_handler_gets_the_function_environment(aws, stack):
    send(aws, stack, ["x"])
    recorder = Recorder()
    set_enabled(aws, stack, True)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=recorder):
        wait_until(lambda: recorder.events)
    env = recorder.environments[0]
    assert env[env_names.FINAL_BUCKET] == stack[out.FINAL_BUCKET]
    assert env[env_names.PROJECT_VERSION_ARN] == VERSION_ARN
    assert set(env_names.ENV) <= set(env)


def test_reported_failures_come_back_after_the_visibility_timeout_then_go_to_the_dlq(aws, stack):
    send(aws, stack, ["ok-1", "fail-1", "ok-2"])
    recorder = Recorder(fail=lambda body: body.startswith("fail"))
    set_enabled(aws, stack, True)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=recorder) as p:
        wait_until(lambda: counts(aws, stack[out.DLQ_URL])[0] == 1, timeout=15)
        wait_until(lambda: counts(aws, stack[out.QUEUE_URL]) == (0, 0))
        stats = p.stats()
    # maxReceiveCount=2: the failing message was handed to the function twice.
    attempts = [
        r["attributes"]["ApproximateReceiveCount"]
        for e in recorder.events
        for r in e["Records"]
        if r["body"] == "fail-1"
    ]
    assert attempts == ["1", "2"]
    assert recorder.bodies().count("ok-1") == 1 and recorder.bodies().count("ok-2") == 1
    dead = aws.client("sqs").receive_message(QueueUrl=stack[out.DLQ_URL])["Messages"]
    assert [m["Body"] for m in dead] == ["fail-1"]
    assert stats.reported_failures == 2 and stats.deleted == 2


def test_a_raising_handler_keeps_the_whole_batch(aws, stack):
    send(aws, stack, ["a", "b"])
    calls: list[int] = []

    def factory(environment):
        def handler(event, context):
            calls.append(len(event["Records"]))
            raise RuntimeError("boom")

        return handler

    set_enabled(aws, stack, True)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=factory) as p:
        wait_until(lambda: p.stats().function_errors >= 1)
        set_enabled(aws, stack, False)
        wait_until(lambda: not p.enabled)
        stats = p.stats()
    assert stats.deleted == 0
    visible, invisible = counts(aws, stack[out.QUEUE_URL])
    assert visible + invisible + counts(aws, stack[out.DLQ_URL])[0] == 2


def test_an_invalid_failure_list_keeps_the_whole_batch(aws, stack):
    send(aws, stack, ["a"])

    def factory(environment):
        return lambda event, context: {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}

    set_enabled(aws, stack, True)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=factory) as p:
        wait_until(lambda: p.stats().function_errors >= 1)
    assert p.stats().deleted == 0


def test_disabling_stops_consumption(aws, stack):
    recorder = Recorder()
    set_enabled(aws, stack, True)
    with LambdaPoller(
        aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=recorder
    ) as poller:
        send(aws, stack, ["first"])
        wait_until(lambda: recorder.bodies() == ["first"])
        set_enabled(aws, stack, False)
        wait_until(lambda: not poller.enabled)
        time.sleep(0.3)  # a receive already in flight when the state flipped ends
        send(aws, stack, ["second"])
        time.sleep(1.0)
    assert recorder.bodies() == ["first"]
    assert counts(aws, stack[out.QUEUE_URL]) == (1, 0)


def test_maximum_concurrency_bounds_parallel_batches(aws, stack):
    send(aws, stack, [f"m{i}" for i in range(12)])
    recorder = Recorder(sleep=0.3)
    set_enabled(aws, stack, True, BatchSize=1, MaximumBatchingWindowInSeconds=0)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=recorder) as p:
        wait_until(lambda: counts(aws, stack[out.QUEUE_URL]) == (0, 0))
        stats = p.stats()
    assert recorder.max_running == 2  # ScalingConfig.MaximumConcurrency of the stack
    assert stats.max_parallel == 2
    assert set(stats.batch_sizes) == {1}


def test_refuses_to_run_the_handler_against_another_endpoint(aws, stack, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://example.invalid")
    with pytest.raises(RuntimeError, match="emulator"):
        LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=Recorder()).start()


class Closable:
    """A handler that remembers the threads that called it and whether it was closed."""

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.closed = False

    def __call__(self, event, context):
        self.threads.add(threading.get_ident())
        time.sleep(0.1)  # let the other poller take the next batch
        return {"batchItemFailures": []}

    def close(self) -> None:
        self.closed = True


def test_each_poller_thread_holds_its_own_handler_and_closes_it_at_stop(aws, stack):
    built: list[Closable] = []

    def factory(environment):
        built.append(Closable())
        return built[-1]

    send(aws, stack, [f"m{i}" for i in range(8)])
    set_enabled(aws, stack, True, BatchSize=1, MaximumBatchingWindowInSeconds=0)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=factory) as p:
        wait_until(lambda: counts(aws, stack[out.QUEUE_URL]) == (0, 0))
        assert not any(h.closed for h in built)
    assert p.stats().max_parallel == 2
    assert len(built) == 2, "one handler per poller thread (MaximumConcurrency 2)"
    assert all(len(h.threads) == 1 for h in built)
    assert built[0].threads != built[1].threads
    assert all(h.closed for h in built)


def test_a_handler_that_can_not_be_built_fails_the_batch_like_a_failed_init(aws, stack):
    attempts: list[int] = []

    def factory(environment):
        attempts.append(1)
        raise RuntimeError("bad environment")

    send(aws, stack, ["a"])
    set_enabled(aws, stack, True)
    with LambdaPoller(aws, stack[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=factory) as p:
        wait_until(lambda: p.stats().function_errors >= 1)
    assert p.stats().deleted == 0
    assert len(attempts) >= 3, "built before polling, then again for the batch"
