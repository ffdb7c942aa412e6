"""The handler writes one JSON Lines object per invocation: a line per image finished.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import dataset
from tests.factories import s3_event_body, sqs_event, sqs_record
from tests.runtime.conftest import FINAL, SOURCE, VERSION_ARN, failed_ids


def test_one_object_per_invocation_with_a_line_per_image(env, put_and_event, context):
    env.handler(min_confidence=10.0)(put_and_event("a.png", "b.png", "c.png"), context)

    (key,) = env.dataset_objects()
    assert key.startswith("results/dt=") and key.endswith(f"-{context.aws_request_id}.jsonl")
    lines = env.dataset_lines()
    assert sorted(line["source_key"] for line in lines) == ["a.png", "b.png", "c.png"]
    for line in lines:
        document = env.document(line["source_key"] + ".json")
        assert line == dataset.line_from_document(document, request_id=context.aws_request_id)
        assert line["status"] == "succeeded"
        assert line["source_bucket"] == SOURCE
        assert line["project_version_arn"] == VERSION_ARN
        assert line["min_confidence"] == 10.0
        assert line["labels"], "the emulator's model labels every square"
    assert key.split("/")[1] == "dt=" + lines[0]["processed_at"][:10]


def test_a_failed_image_gets_a_failed_line(env, context):
    env.put("notes.txt", b"hello", "text/plain")
    env.handler()(sqs_event(sqs_record(s3_event_body("notes.txt"))), context)

    (line,) = env.dataset_lines()
    assert line["status"] == "failed"
    assert line["error_code"] == "UnsupportedImageType"
    assert line["result_key"] == "failed/notes.txt.json"


def test_an_invocation_with_nothing_finished_writes_no_object(env, context):
    env.handler()(sqs_event(sqs_record("not an s3 event")), context)

    assert env.dataset_objects() == []


def test_a_redelivered_image_already_done_gets_its_line_from_the_stored_document(
    env, put_and_event, context
):
    event = put_and_event("again.png")
    env.handler()(event, context)
    env.handler()(event, type(context)())  # the same message again: source gone

    first, second = env.dataset_lines()
    assert (first["source_key"], first["source_etag"]) == (
        second["source_key"],
        second["source_etag"],
    )
    assert first["processed_at"] == second["processed_at"]  # the same document
    assert first["request_id"] != second["request_id"]


def test_a_redelivered_failure_gets_its_line_from_the_error_document(env, context):
    env.put("bad.txt", b"x", "text/plain")
    event = sqs_event(sqs_record(s3_event_body("bad.txt")))
    env.handler()(event, context)
    env.handler()(event, type(context)())

    lines = env.dataset_lines()
    assert [line["error_code"] for line in lines] == ["UnsupportedImageType"] * 2


def test_an_image_to_retry_gets_no_line(env, put_and_event, context):
    env.aws.model.configure(fault_rates={"InternalServerError": 1.0})

    response = env.handler()(put_and_event("later.png"), context)

    assert failed_ids(response) == {"later.png"}
    assert env.dataset_objects() == []


def test_a_dataset_write_that_fails_retries_the_messages_and_the_retry_writes_the_lines(
    env, put_and_event, context, monkeypatch: pytest.MonkeyPatch
):
    real = dataset.write_batch
    calls = 0

    async def failing_once(*args: Any, **kwargs: Any) -> str | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("connection reset")
        return await real(*args, **kwargs)

    monkeypatch.setattr(dataset, "write_batch", failing_once)
    event = put_and_event("x.png", "y.png")
    handler = env.handler()

    first = handler(event, context)
    assert failed_ids(first) == {"x.png", "y.png"}  # the message ids of put_and_event
    assert env.keys(SOURCE) == set(), "the images themselves are done"
    assert env.dataset_objects() == []

    second = handler(event, type(context)())
    assert second == {"batchItemFailures": []}
    assert sorted(line["source_key"] for line in env.dataset_lines()) == ["x.png", "y.png"]


def test_a_source_key_under_the_results_prefix_is_filed_as_failed(env, context):
    env.put("results/dt=2026-01-01/fake.png")
    env.handler()(sqs_event(sqs_record(s3_event_body("results/dt=2026-01-01/fake.png"))), context)

    assert env.document("failed/results/dt=2026-01-01/fake.png.json")["code"] == (
        "ReservedKeyPrefix"
    )
    assert (
        env.s3.list_objects_v2(Bucket=FINAL, Prefix="results/dt=2026-01-01/").get("KeyCount") == 0
    )


@pytest.mark.parametrize("key", ["runs/x.png", "athena-results/q/x.png"])
def test_a_source_key_under_runs_or_query_results_is_filed_as_failed(env, context, key):
    env.put(key)
    env.handler()(sqs_event(sqs_record(s3_event_body(key))), context)

    assert env.document(f"failed/{key}.json")["code"] == "ReservedKeyPrefix"
    area = key.split("/", 1)[0] + "/"
    assert env.s3.list_objects_v2(Bucket=FINAL, Prefix=area).get("KeyCount") == 0
