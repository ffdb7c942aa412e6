"""The inference handler against moto server + the Custom Labels model emulator."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import documents
from runtime.handler import logger as runtime_logger
from tests.runtime.conftest import (
    FINAL,
    SOURCE,
    VERSION_ARN,
    FakeContext,
    failed_ids,
    image_bytes,
    s3_event_body,
    sqs_event,
    sqs_record,
)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def images(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.getMessage() == "image"]

    def outcomes(self) -> dict[str, str]:
        return {r.key: r.outcome for r in self.images()}  # type: ignore[attr-defined]


@pytest.fixture
def logs() -> Iterator[Capture]:
    capture = Capture()
    std = logging.getLogger(runtime_logger.service)
    std.addHandler(capture)
    try:
        yield capture
    finally:
        std.removeHandler(capture)


# -- the happy path ----------------------------------------------------------------


def test_processed_image_has_result_copy_and_no_source(env, put_and_event, context):
    response = env.handler()(put_and_event("cat.png"), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == {"cat.png", "cat.png.json"}


def test_result_document_describes_source_model_and_labels(env, context):
    body = image_bytes("PNG", color="red")
    env.put("shapes/red.png", body)
    head = env.s3.head_object(Bucket=SOURCE, Key="shapes/red.png")

    env.handler(min_confidence=10.0)(
        sqs_event(sqs_record(s3_event_body("shapes/red.png"))), context
    )

    doc = env.document("shapes/red.png.json")
    assert doc["schemaVersion"] == documents.SCHEMA_VERSION
    assert doc["kind"] == "result"
    assert doc["source"] == {
        "bucket": SOURCE,
        "key": "shapes/red.png",
        "etag": head["ETag"].strip('"'),
        "size": len(body),
    }
    assert doc["output"] == {
        "bucket": FINAL,
        "imageKey": "shapes/red.png",
        "resultKey": "shapes/red.png.json",
    }
    assert doc["projectVersionArn"] == VERSION_ARN
    assert doc["minConfidence"] == 10.0
    names = {label["Name"]: label for label in doc["labels"]}
    assert "white background" in names
    assert "Geometry" not in names["white background"]
    assert "BoundingBox" in names["red square"]["Geometry"]
    assert doc["processedAt"].endswith("Z")


def test_result_is_json_and_the_copy_keeps_content_type_and_metadata(env, context):
    env.s3.put_object(
        Bucket=SOURCE,
        Key="photo.jpg",
        Body=image_bytes("JPEG"),
        ContentType="image/jpeg",
        Metadata={"camera": "x100"},
    )
    env.handler()(sqs_event(sqs_record(s3_event_body("photo.jpg"))), context)

    result = env.s3.head_object(Bucket=FINAL, Key="photo.jpg.json")
    copy = env.s3.head_object(Bucket=FINAL, Key="photo.jpg")
    assert result["ContentType"] == "application/json"
    assert copy["ContentType"] == "image/jpeg"
    assert copy["Metadata"] == {"camera": "x100"}


def test_max_results_limits_the_labels(env, context):
    env.put("many.png", image_bytes("PNG", color="blue"))
    env.handler(max_results=1, min_confidence=0.0)(
        sqs_event(sqs_record(s3_event_body("many.png"))), context
    )
    doc = env.document("many.png.json")
    assert len(doc["labels"]) == 1
    assert doc["maxResults"] == 1


@pytest.mark.parametrize(
    "key",
    ["with space.png", "plus+sign.png", "100% done.png", "dir/sub/ünï 漢字.png", "a&b=c.png"],
)
def test_url_encoded_keys_are_processed_under_their_real_name(env, context, key):
    env.put(key)
    response = env.handler()(sqs_event(sqs_record(s3_event_body(key))), context)
    assert response == {"batchItemFailures": []}
    assert env.keys(FINAL) == {key, key + ".json"}
    assert env.keys(SOURCE) == set()


def test_several_records_in_one_message_are_all_processed(env, context):
    for key in ("m/1.png", "m/2.png", "m/3.png"):
        env.put(key)
    response = env.handler()(
        sqs_event(sqs_record(s3_event_body("m/1.png", "m/2.png", "m/3.png"))), context
    )
    assert response == {"batchItemFailures": []}
    assert {k for k in env.keys(FINAL) if k.endswith(".json")} == {
        "m/1.png.json",
        "m/2.png.json",
        "m/3.png.json",
    }


def test_real_s3_notifications_through_sqs_are_understood(env, context):
    """S3 -> SQS as configured by the infra, including the s3:TestEvent and moto's key encoding."""
    sqs = env.aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="rt-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    env.s3.put_bucket_notification_configuration(
        Bucket=SOURCE,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    keys = {"in/a b.png", "in/c+d.jpg"}
    env.put("in/a b.png")
    env.put("in/c+d.jpg", image_bytes("JPEG"), "image/jpeg")

    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if not batch.get("Messages"):
            break
        messages += batch["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    assert any(b.get("Event") == "s3:TestEvent" for b in bodies), "moto sends the test event"

    event = sqs_event(*(sqs_record(m["Body"], m["MessageId"]) for m in messages))
    response = env.handler()(event, context)

    assert response == {"batchItemFailures": []}
    assert env.keys(FINAL) == keys | {k + ".json" for k in keys}
    assert env.keys(SOURCE) == set()


# -- messages that are not work ----------------------------------------------------


def test_messages_without_work_are_acknowledged(env, context, logs):
    env.put("still-here.png")
    event = sqs_event(
        sqs_record("this is not json", "bad-json"),
        sqs_record('{"hello": "world"}', "not-s3"),
        sqs_record('["a", "list"]', "a-list"),
        sqs_record(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), "test-event"),
        sqs_record(s3_event_body("still-here.png", event="ObjectRemoved:Delete"), "removed"),
    )
    response = env.handler()(event, context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == {"still-here.png"}, "an ObjectRemoved event touches nothing"
    assert env.keys(FINAL) == set()
    errors = [r for r in logs.records if r.levelno == logging.ERROR]
    assert {r.message_id for r in errors} == {"bad-json", "not-s3", "a-list"}  # type: ignore[attr-defined]
    assert env.aws.model.meter()["detect_calls"] == 0


# -- permanent failures --------------------------------------------------------------


def _assert_filed_as_failed(env, key: str, code: str, image_moved: bool = True) -> dict[str, Any]:
    assert key not in env.keys(SOURCE)
    final = env.keys(FINAL)
    assert key not in final and key + ".json" not in final
    assert ("failed/" + key in final) is image_moved
    doc = env.document("failed/" + key + ".json")
    assert doc["kind"] == "error"
    assert doc["schemaVersion"] == documents.SCHEMA_VERSION
    assert doc["code"] == code
    assert doc["message"]
    assert doc["source"]["key"] == key
    return doc


def test_non_image_suffix_is_filed_as_failed_without_a_model_call(env, context):
    env.put("notes.txt", b"hello", "text/plain")
    response = env.handler()(sqs_event(sqs_record(s3_event_body("notes.txt"))), context)
    assert response == {"batchItemFailures": []}
    _assert_filed_as_failed(env, "notes.txt", "UnsupportedImageType")
    assert env.s3.head_object(Bucket=FINAL, Key="failed/notes.txt")["ContentType"] == "text/plain"
    assert env.aws.model.meter()["detect_calls"] == 0


def test_corrupt_image_is_filed_as_failed(env, context):
    env.put("broken.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg", "image/jpeg")
    response = env.handler()(sqs_event(sqs_record(s3_event_body("broken.jpg"))), context)
    assert response == {"batchItemFailures": []}
    _assert_filed_as_failed(env, "broken.jpg", "InvalidImageFormat")


def test_image_that_is_not_png_or_jpeg_is_filed_as_failed(env, context):
    env.put("really-a-gif.png", b"GIF89a" + b"\x00" * 64, "image/png")
    env.handler()(sqs_event(sqs_record(s3_event_body("really-a-gif.png"))), context)
    _assert_filed_as_failed(env, "really-a-gif.png", "InvalidImageFormat")


def test_image_over_15_mb_is_filed_as_failed_without_a_model_call(env, context):
    env.put("huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (15 * 1024 * 1024))
    env.handler()(sqs_event(sqs_record(s3_event_body("huge.png"))), context)
    _assert_filed_as_failed(env, "huge.png", "ImageTooLarge")
    assert env.aws.model.meter()["detect_calls"] == 0


def test_empty_object_is_filed_as_failed(env, context):
    env.put("empty.png", b"")
    env.handler()(sqs_event(sqs_record(s3_event_body("empty.png"))), context)
    _assert_filed_as_failed(env, "empty.png", "EmptyObject")


def test_custom_failed_prefix_is_used(env, context):
    env.put("notes.txt", b"x", "text/plain")
    env.handler(failed_prefix="rejects/")(
        sqs_event(sqs_record(s3_event_body("notes.txt"))), context
    )
    assert env.keys(FINAL) == {"rejects/notes.txt", "rejects/notes.txt.json"}


# -- retryable failures --------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"],
)
def test_transient_model_errors_are_retried_and_never_filed(
    env, put_and_event, context, fault, logs
):
    env.aws.model.configure(fault_rates={fault: 1.0})
    response = env.handler()(put_and_event("t1.png", "t2.png"), context)

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
    env.aws.model.configure(latency=1.0)
    # 1.2 s left and a 1 s safety margin: images must finish within 0.2 s.
    response = env.handler()(
        put_and_event("slow1.png", "slow2.png"), FakeContext(remaining_ms=1200)
    )

    assert failed_ids(response) == {"slow1.png", "slow2.png"}
    assert env.keys(SOURCE) == {"slow1.png", "slow2.png"}
    codes = {r.code for r in logs.images()}  # type: ignore[attr-defined]
    assert codes == {"DeadlineExceeded"}


def test_a_message_is_retried_when_any_of_its_images_must_be(env, context, logs):
    """One message, three records: permanent + success + throttled. The message is
    retried; its redelivery finishes the throttled image without paying the model
    again for the one that already succeeded."""
    env.put("mix/a.png")
    env.put("mix/b.png", image_bytes("PNG", color="green"))
    env.put("mix/notes.txt", b"x", "text/plain")
    body = s3_event_body("mix/a.png", "mix/b.png", "mix/notes.txt")
    # Capacity 1 call per second: of the two detect calls, exactly one is throttled.
    env.aws.model.configure(tps_per_unit=1)
    handler = env.handler()

    first = handler(sqs_event(sqs_record(body, "m1")), context)

    assert failed_ids(first) == {"m1"}
    outcomes = logs.outcomes()
    assert sorted(outcomes.values()) == ["failed", "processed", "retry"]
    retried = next(k for k, o in outcomes.items() if o == "retry")
    done = next(k for k, o in outcomes.items() if o == "processed")
    assert env.keys(SOURCE) == {retried}

    env.aws.model.configure(tps_per_unit=10_000)
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
