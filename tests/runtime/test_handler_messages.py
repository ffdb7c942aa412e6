"""What a message carries: bodies that are not work, what the notification says
about the object (eTag and size spare a HEAD), events about the final bucket.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

import logging

import pytest

from tests.factories import s3_event_body, s3_test_event_body, sqs_event, sqs_record, square_image
from tests.runtime.conftest import FINAL, SOURCE, assert_filed_as_failed

# -- messages that are not work ------------------------------------------------


def test_messages_without_work_are_acknowledged(env, context, logs):
    env.put("still-here.png")
    event = sqs_event(
        sqs_record("this is not json", "bad-json"),
        sqs_record('{"hello": "world"}', "not-s3"),
        sqs_record('["a", "list"]', "a-list"),
        sqs_record(s3_test_event_body(), "test-event"),
        sqs_record(s3_event_body("still-here.png", event="ObjectRemoved:Delete"), "removed"),
    )
    response = env.handler()(event, context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == {"still-here.png"}, "an ObjectRemoved event touches nothing"
    assert env.keys(FINAL) == set()
    errors = [r for r in logs.records if r.levelno == logging.ERROR]
    assert {r.message_id for r in errors} == {"bad-json", "not-s3", "a-list"}
    assert env.aws.model.meter()["detect_calls"] == 0


def test_events_about_the_final_bucket_are_ignored_to_avoid_a_loop(env, context, logs):
    env.s3.put_object(Bucket=FINAL, Key="x.png.json", Body=b"{}")
    response = env.handler()(
        sqs_event(sqs_record(s3_event_body("x.png.json", bucket=FINAL), "loop")), context
    )
    assert response == {"batchItemFailures": []}
    assert env.keys(FINAL) == {"x.png.json"}
    assert any(r.levelno == logging.ERROR for r in logs.records)


# -- what the notification says about the object -------------------------------


@pytest.fixture
def source_heads(monkeypatch) -> list[str]:
    """The source keys the pipeline HEADs (final-bucket lookups are not counted)."""
    from runtime.pipeline import ImagePipeline

    seen: list[str] = []
    original = ImagePipeline._head

    async def counting(self, bucket: str, key: str):
        if bucket == SOURCE:
            seen.append(key)
        return await original(self, bucket, key)

    monkeypatch.setattr(ImagePipeline, "_head", counting)
    return seen


def test_the_notifications_etag_and_size_spare_a_head_per_image(env, context, source_heads):
    env.put("n/a.png")
    env.put("n/b.jpg", square_image("JPEG"), "image/jpeg")
    described = env.described("n/a.png", "n/b.jpg")
    body = s3_event_body("n/a.png", "n/b.jpg", objects=described)

    assert env.handler()(sqs_event(sqs_record(body)), context) == {"batchItemFailures": []}

    assert source_heads == []
    assert env.keys(SOURCE) == set()
    for key, (etag, size) in described.items():
        source = env.document(key + ".json")["source"]
        assert (source["etag"], source["size"]) == (etag, size), "the version announced"


def test_without_etag_in_the_notification_the_source_is_headed(env, context, source_heads):
    env.put("h.png")
    response = env.handler()(sqs_event(sqs_record(s3_event_body("h.png"))), context)

    assert response == {"batchItemFailures": []}
    assert source_heads == ["h.png"]


def test_an_object_replaced_after_its_notification_is_processed_as_it_is_now(
    env, context, logs, source_heads
):
    env.put("swap.png", square_image(colour="red"))
    stale = env.described("swap.png")
    env.put("swap.png", square_image(colour="blue"))
    current_etag = env.described("swap.png")["swap.png"][0]
    assert current_etag != stale["swap.png"][0]

    body = s3_event_body("swap.png", objects=stale)
    response = env.handler()(sqs_event(sqs_record(body)), context)

    assert response == {"batchItemFailures": []}, "a stale ETag must not retry forever"
    assert logs.outcomes() == {"swap.png": "processed"}
    assert source_heads == ["swap.png"], "one HEAD, after the copy's 412"
    assert env.document("swap.png.json")["source"]["etag"] == current_etag
    copied = env.s3.get_object(Bucket=FINAL, Key="swap.png")["Body"].read()
    assert copied == square_image(colour="blue")
    assert env.keys(SOURCE) == set()


def test_redelivery_of_a_described_notification_after_success_is_a_success(env, context, logs):
    env.put("again2.png")
    event = sqs_event(sqs_record(s3_event_body("again2.png", objects=env.described("again2.png"))))
    handler = env.handler()
    handler(event, context)
    first_doc = env.document("again2.png.json")
    logs.records.clear()

    assert handler(event, context) == {"batchItemFailures": []}
    assert logs.outcomes() == {"again2.png": "already_processed"}
    assert env.document("again2.png.json") == first_doc, "the result is not rewritten"


def test_a_described_notification_of_an_object_deleted_before_processing(env, context, logs):
    env.put("gone.png")
    described = env.described("gone.png")
    env.s3.delete_object(Bucket=SOURCE, Key="gone.png")

    event = sqs_event(sqs_record(s3_event_body("gone.png", objects=described)))
    assert env.handler()(event, context) == {"batchItemFailures": []}
    assert logs.outcomes() == {"gone.png": "missing"}
    assert_filed_as_failed(env, "gone.png", "SourceMissing", image_moved=False)
