"""Transient failures are reported in batchItemFailures (retried), never filed.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

import pytest

from tests.factories import s3_event_body, sqs_event, sqs_record, square_image
from tests.runtime.conftest import FINAL, SOURCE, VERSION_ARN, FakeContext, failed_ids, model_delay


@pytest.mark.parametrize(
    "fault",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"],
)
def test_transient_model_errors_are_retried_and_never_filed(env, put_and_event, fault, logs):
    env.aws.model.configure(fault_rates={fault: 1.0})
    # 1.5 s left, 1 s safety margin: throttles are retried for ~0.5 s, then reported.
    response = env.handler()(put_and_event("t1.png", "t2.png"), FakeContext(remaining_ms=1500))

    assert failed_ids(response) == {"t1.png", "t2.png"}
    assert env.keys(SOURCE) == {"t1.png", "t2.png"}
    assert env.keys(FINAL) == set()
    assert set(logs.outcomes().values()) == {"retry"}


def test_model_not_running_is_retried(env, context, put_and_event):
    stopped = VERSION_ARN.replace("rt.v1", "rt.v2")
    env.aws.model.create(stopped, status="STOPPED")
    response = env.handler(project_version_arn=stopped)(put_and_event("wait.png"), context)
    assert failed_ids(response) == {"wait.png"}
    assert env.keys(SOURCE) == {"wait.png"}
    assert env.keys(FINAL) == set()


def test_unknown_model_is_retried_not_filed(env, context, put_and_event):
    unknown = VERSION_ARN.replace("rt.v1", "nope")
    response = env.handler(project_version_arn=unknown)(put_and_event("x.png"), context)
    assert failed_ids(response) == {"x.png"}
    assert env.keys(FINAL) == set()


def test_missing_final_bucket_is_retried(env, context, put_and_event):
    response = env.handler(final_bucket="no-such-bucket")(put_and_event("x.png"), context)
    assert failed_ids(response) == {"x.png"}
    assert env.keys(SOURCE) == {"x.png"}


def test_sdk_retries_absorb_a_transient_fault(env, context, put_and_event):
    # Half of the calls fail; with 10 attempts each image gets through inside one invocation.
    env.aws.model.configure(fault_rates={"ThrottlingException": 0.5}, seed=7)
    handler = env.handler(max_attempts=10)
    # Keep back-off short: botocore's standard back-off is random up to 2**n seconds.
    response = handler(put_and_event("r1.png", "r2.png"), context)
    assert response == {"batchItemFailures": []}
    assert env.aws.model.meter()["throttles"] >= 1


def test_out_of_time_images_are_cancelled_and_retried(env, put_and_event, logs):
    env.aws.model.configure(latency=model_delay(1.0))
    # 1.2 s left and a 1 s safety margin: images must finish within 0.2 s.
    response = env.handler()(
        put_and_event("slow1.png", "slow2.png"), FakeContext(remaining_ms=1200)
    )

    assert failed_ids(response) == {"slow1.png", "slow2.png"}
    assert env.keys(SOURCE) == {"slow1.png", "slow2.png"}
    codes = {r.code for r in logs.images()}
    assert codes == {"DeadlineExceeded"}


def test_a_message_is_retried_when_any_of_its_images_must_be(env, context, logs):
    """One message, three records: permanent + success + transient model error. The
    message is retried; its redelivery finishes the retried image without paying the
    model again for the one that already succeeded."""
    import random

    env.put("mix/a.png")
    env.put("mix/b.png", square_image("PNG", colour="green"))
    env.put("mix/notes.txt", b"x", "text/plain")
    body = s3_event_body("mix/a.png", "mix/b.png", "mix/notes.txt")

    # Of the two detect calls, exactly one fails, whichever comes first: a seed whose
    # first two fault draws at rate 0.5 differ (no deadline, no timing involved).
    def exactly_one_of_two(seed: int) -> bool:
        draws = random.Random(seed)
        return (draws.random() < 0.5) != (draws.random() < 0.5)

    seed = next(s for s in range(100) if exactly_one_of_two(s))
    env.aws.model.configure(fault_rates={"InternalServerError": 0.5}, seed=seed)
    handler = env.handler()  # max_attempts=1: the SDK does not retry the error

    first = handler(sqs_event(sqs_record(body, "m1")), context)

    assert failed_ids(first) == {"m1"}
    outcomes = logs.outcomes()
    assert sorted(outcomes.values()) == ["failed", "processed", "retry"]
    retried = next(k for k, o in outcomes.items() if o == "retry")
    done = next(k for k, o in outcomes.items() if o == "processed")
    assert env.keys(SOURCE) == {retried}

    env.aws.model.configure(fault_rates={})
    calls_before = env.aws.model.meter()["detect_calls"]
    logs.records.clear()
    second = handler(sqs_event(sqs_record(body, "m1")), context)

    assert second == {"batchItemFailures": []}
    assert logs.outcomes() == {
        retried: "processed",
        done: "already_processed",
        "mix/notes.txt": "already_failed",
    }
    assert env.aws.model.meter()["detect_calls"] == calls_before + 1
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == {
        "mix/a.png",
        "mix/a.png.json",
        "mix/b.png",
        "mix/b.png.json",
        "failed/mix/notes.txt",
        "failed/mix/notes.txt.json",
    }


def test_a_network_timeout_is_not_mistaken_for_the_deadline(env, put_and_event, logs, monkeypatch):
    # The model answers after 2 s but the client gives up after 0.5 s: a read
    # timeout inside the image, long before the invocation's deadline.
    from runtime import clients

    env.aws.model.configure(latency=model_delay(2.0))
    monkeypatch.setattr(clients, "READ_TIMEOUT_S", 0.5)
    response = env.handler()(put_and_event("net.png"), FakeContext(remaining_ms=60_000))

    assert failed_ids(response) == {"net.png"}
    codes = {r.code for r in logs.images()}
    assert codes and "DeadlineExceeded" not in codes
