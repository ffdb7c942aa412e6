"""The inference handler against moto server + the Custom Labels model emulator."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from runtime import documents
from runtime.handler import logger as runtime_logger
from tests.factories import (
    PNG_SIGNATURE,
    s3_event_body,
    s3_test_event_body,
    sqs_event,
    sqs_record,
    square_image,
)
from tests.runtime.conftest import FINAL, SOURCE, VERSION_ARN, FakeContext, failed_ids, model_delay

# -- the happy path ----------------------------------------------------------------


def test_processed_image_has_result_copy_and_no_source(env, put_and_event, context):
    response = env.handler()(put_and_event("cat.png"), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == {"cat.png", "cat.png.json"}


def test_result_document_describes_source_model_and_labels(env, context):
    body = square_image("PNG", colour="red")
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
        Body=square_image("JPEG"),
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
    env.put("many.png", square_image("PNG", colour="blue"))
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
    env.put("in/c+d.jpg", square_image("JPEG"), "image/jpeg")

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
    env.put("huge.png", PNG_SIGNATURE + b"\x00" * (15 * 1024 * 1024))
    env.handler()(sqs_event(sqs_record(s3_event_body("huge.png"))), context)
    _assert_filed_as_failed(env, "huge.png", "ImageTooLarge")
    assert env.aws.model.meter()["detect_calls"] == 0


def test_empty_object_is_filed_as_failed(env, context):
    env.put("empty.png", b"")
    env.handler()(sqs_event(sqs_record(s3_event_body("empty.png"))), context)
    _assert_filed_as_failed(env, "empty.png", "EmptyObject")


def test_a_source_key_under_the_failed_prefix_never_overwrites_another_filing(env, context):
    """x.jpg filed as failed is failed/x.jpg; a source key failed/x.jpg, processed, would
    write the same keys. It is filed as failed/failed/x.jpg instead, without a model call."""
    env.put("x.jpg", b"not an image at all", "image/jpeg")
    env.put("failed/x.jpg", square_image("JPEG"), "image/jpeg")
    handler = env.handler()
    for key in ("x.jpg", "failed/x.jpg"):
        response = handler(sqs_event(sqs_record(s3_event_body(key))), context)
        assert response == {"batchItemFailures": []}

    assert env.s3.get_object(Bucket=FINAL, Key="failed/x.jpg")["Body"].read() == (
        b"not an image at all"
    )
    assert env.document("failed/x.jpg.json")["source"]["key"] == "x.jpg"
    assert env.keys(FINAL) == {
        "failed/x.jpg",
        "failed/x.jpg.json",
        "failed/failed/x.jpg",
        "failed/failed/x.jpg.json",
    }
    doc = env.document("failed/failed/x.jpg.json")
    assert (doc["code"], doc["source"]["key"]) == ("ReservedKeyPrefix", "failed/x.jpg")
    assert "another prefix" in doc["message"]
    assert env.keys(SOURCE) == set()
    assert env.aws.model.meter()["detect_calls"] == 1  # x.jpg's only


def test_a_key_too_long_for_its_result_document_is_filed_not_retried(env, context):
    """A 1020-byte key is legal, but key + ".json" would exceed S3's 1024 bytes: the
    image is filed (under a hashed failed/ key) instead of retried into the DLQ."""
    key = "dir/" + "k" * 1012 + ".png"
    env.put(key)
    response = env.handler()(sqs_event(sqs_record(s3_event_body(key))), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    (image, document) = sorted(env.keys(FINAL))
    assert image.startswith("failed/_long-keys/") and document == image + ".json"
    doc = env.document(document)
    assert (doc["code"], doc["source"]["key"]) == ("KeyTooLong", key)
    assert "1024" in doc["message"]
    assert env.aws.model.meter()["detect_calls"] == 0


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


# -- redelivery and idempotency ------------------------------------------------------


def test_a_source_uploaded_again_before_its_delete_is_kept_and_processed(env, context, monkeypatch):
    """The delete is conditional on the processed version: a new upload landing
    between the copy and the delete stays in the source for its own notification."""
    from runtime.pipeline import ImagePipeline

    env.put("cam/latest.png", square_image(colour="red"))
    first = sqs_event(
        sqs_record(s3_event_body("cam/latest.png", objects=env.described("cam/latest.png")))
    )
    original = ImagePipeline._copy
    second: dict[str, tuple[str, int]] = {}

    async def copy_then_the_next_frame_lands(self, ref, head, target_key):
        copied = await original(self, ref, head, target_key)
        env.put("cam/latest.png", square_image(colour="blue"))
        second.update(env.described("cam/latest.png"))
        return copied

    monkeypatch.setattr(ImagePipeline, "_copy", copy_then_the_next_frame_lands)
    handler = env.handler()
    assert handler(first, context) == {"batchItemFailures": []}
    monkeypatch.setattr(ImagePipeline, "_copy", original)

    blue = square_image(colour="blue")
    assert env.s3.get_object(Bucket=SOURCE, Key="cam/latest.png")["Body"].read() == blue
    red_result = env.document("cam/latest.png.json")
    assert red_result["source"]["etag"] != second["cam/latest.png"][0]

    event = sqs_event(sqs_record(s3_event_body("cam/latest.png", objects=second), "blue"))
    assert handler(event, context) == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert env.s3.get_object(Bucket=FINAL, Key="cam/latest.png")["Body"].read() == blue
    assert env.document("cam/latest.png.json")["source"]["etag"] == second["cam/latest.png"][0]


def _gates() -> Callable[[str], asyncio.Event]:
    """Named events to force the interleaving of two images of one invocation."""
    gates: dict[str, asyncio.Event] = {}
    return lambda name: gates.setdefault(name, asyncio.Event())


def _blue_lands_while_red_is_detected(env, monkeypatch, *, repair_fails: bool = False):
    """Message A detects the red upload of o.png; meanwhile the blue upload lands and
    message B processes it completely; then A goes on (its red document lands last,
    its copy finds the source gone). Returns the SQS records of A and B.
    ``repair_fails``: detections in the final bucket (the repair's) fail, transiently."""
    from botocore.exceptions import ClientError

    from runtime.pipeline import ImagePipeline

    env.put("o.png", square_image(colour="red"))
    red = env.described("o.png")
    original_detect, original_process = ImagePipeline._detect, ImagePipeline.process
    gate = _gates()

    async def detect(self, ref):
        if repair_fails and ref.bucket == FINAL:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "Detect")
        labels = await original_detect(self, ref)
        if ref.etag == red["o.png"][0]:  # A has its red labels; now the blue upload lands
            env.put("o.png", square_image(colour="blue"))
            gate("replaced").set()
            await gate("b_done").wait()
        return labels

    async def process(self, ref, message_id=None):
        if message_id != "B":
            return await original_process(self, ref, message_id)
        await gate("replaced").wait()  # B: the blue upload's notification (no eTag: a HEAD)
        try:
            return await original_process(self, ref, message_id)
        finally:
            gate("b_done").set()

    monkeypatch.setattr(ImagePipeline, "_detect", detect)
    monkeypatch.setattr(ImagePipeline, "process", process)
    return (
        sqs_record(s3_event_body("o.png", objects=red), "A"),
        sqs_record(s3_event_body("o.png"), "B"),
    )


def _assert_the_result_describes_the_image_beside_it(env) -> None:
    image = env.s3.get_object(Bucket=FINAL, Key="o.png")
    assert image["Body"].read() == square_image(colour="blue")
    doc = env.document("o.png.json")
    assert doc["source"]["etag"] == image["ETag"].strip('"'), "it describes the red upload"
    names = {label["Name"] for label in doc["labels"]}
    assert not any("red" in name for name in names), names


def test_a_late_result_for_a_replaced_source_never_describes_the_newer_image(
    env, context, monkeypatch
):
    """A's copy finds the source gone: the document A wrote (red labels) is beside
    the blue image, so the blue image is detected again and its document rewritten."""
    a, b = _blue_lands_while_red_is_detected(env, monkeypatch)

    response = env.handler(min_confidence=10.0)(sqs_event(a, b), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    _assert_the_result_describes_the_image_beside_it(env)


def test_a_late_result_is_repaired_by_the_redelivery_when_the_first_repair_fails(
    env, context, monkeypatch
):
    """The repair's detection fails (transient): the message is retried, and its
    redelivery, finding the source gone, checks the result again and repairs it."""
    a, b = _blue_lands_while_red_is_detected(env, monkeypatch, repair_fails=True)
    handler = env.handler(min_confidence=10.0)

    first = handler(sqs_event(a, b), context)
    assert first == {"batchItemFailures": [{"itemIdentifier": "A"}]}
    monkeypatch.undo()  # the model answers again
    assert handler(sqs_event(a), context) == {"batchItemFailures": []}  # A redelivered

    _assert_the_result_describes_the_image_beside_it(env)


def test_a_stale_notification_leaves_no_error_document_for_the_image_now_there(env, context):
    """The notification of an earlier 20 MB upload (replaced since by a good image):
    filing it as failed meets the copy's 412, and the image now there is processed,
    with no error document left behind for it."""
    env.put("s.png")
    stale = s3_event_body("s.png", objects={"s.png": ("0" * 32, 20 * 1024 * 1024)})
    assert env.handler()(sqs_event(sqs_record(stale)), context) == {"batchItemFailures": []}

    assert env.keys(FINAL) == {"s.png", "s.png.json"}
    assert env.keys(SOURCE) == set()


def test_a_late_result_is_repaired_when_the_copy_meets_a_412_and_the_source_then_vanishes(
    env, context, monkeypatch
):
    """A writes its red document over B's blue one, A's copy meets a 412 (blue still
    there), then B deletes the source: A's HEAD finds nothing, and the result found is
    checked against the image beside it and rewritten."""
    from runtime.pipeline import ImagePipeline

    env.put("o.png", square_image(colour="red"))
    red = env.described("o.png")
    red_etag = red["o.png"][0]
    o_detect, o_copy, o_delete, o_process = (
        ImagePipeline._detect,
        ImagePipeline._copy,
        ImagePipeline._delete_source,
        ImagePipeline.process,
    )
    gate = _gates()

    async def detect(self, ref):
        labels = await o_detect(self, ref)
        if ref.etag == red_etag:  # A has red labels; blue lands, B runs up to its delete
            env.put("o.png", square_image(colour="blue"))
            gate("replaced").set()
            await gate("b_copied").wait()  # A's red document now overwrites B's blue one
        return labels

    async def copy(self, ref, head, target_key):
        try:
            return await o_copy(self, ref, head, target_key)  # A: 412, blue still in the source
        except Exception:
            if head.etag == red_etag:
                gate("a_412").set()
                await gate("b_deleted").wait()
            raise

    async def delete_source(self, ref, head):
        if head.etag != red_etag:  # B
            gate("b_copied").set()
            await gate("a_412").wait()
            try:
                return await o_delete(self, ref, head)
            finally:
                gate("b_deleted").set()
        return await o_delete(self, ref, head)

    async def process(self, ref, message_id=None):
        if message_id == "B":
            await gate("replaced").wait()
        return await o_process(self, ref, message_id)

    for name, fn in [
        ("_detect", detect),
        ("_copy", copy),
        ("_delete_source", delete_source),
        ("process", process),
    ]:
        monkeypatch.setattr(ImagePipeline, name, fn)
    event = sqs_event(
        sqs_record(s3_event_body("o.png", objects=red), "A"),
        sqs_record(s3_event_body("o.png"), "B"),
    )
    assert env.handler(min_confidence=10.0)(event, context) == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    _assert_the_result_describes_the_image_beside_it(env)


def test_a_key_xml_can_not_carry_does_not_hold_back_its_burst(env, context, put_and_event):
    """A control character makes DeleteObjects malformed as a whole: the deletes
    are retried one key at a time and every image of the burst is acknowledged."""
    keys = ["ok/a.png", "ok/b.png", "bad\x01key.png"]
    response = env.handler()(put_and_event(*keys), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == set(keys) | {key + ".json" for key in keys}


def test_redelivery_after_success_is_a_success_without_a_model_call(
    env, put_and_event, context, logs
):
    event = put_and_event("again.png")
    handler = env.handler()
    handler(event, context)
    first_doc = env.document("again.png.json")
    calls = env.aws.model.meter()["detect_calls"]
    logs.records.clear()

    response = handler(event, context)

    assert response == {"batchItemFailures": []}
    assert logs.outcomes() == {"again.png": "already_processed"}
    assert env.aws.model.meter()["detect_calls"] == calls
    assert env.document("again.png.json") == first_doc, "the result is not rewritten"


def test_redelivery_after_a_permanent_failure_is_acknowledged(env, context, logs):
    env.put("bad.txt", b"x", "text/plain")
    event = sqs_event(sqs_record(s3_event_body("bad.txt")))
    handler = env.handler()
    handler(event, context)
    logs.records.clear()

    assert handler(event, context) == {"batchItemFailures": []}
    assert logs.outcomes() == {"bad.txt": "already_failed"}


def test_source_deleted_before_processing_is_acknowledged_and_recorded(env, context, logs):
    response = env.handler()(sqs_event(sqs_record(s3_event_body("vanished.png"))), context)

    assert response == {"batchItemFailures": []}
    assert logs.outcomes() == {"vanished.png": "missing"}
    assert [r.levelno for r in logs.images()] == [logging.WARNING]
    doc = _assert_filed_as_failed(env, "vanished.png", "SourceMissing", image_moved=False)
    assert doc["output"]["imageKey"] is None
    assert env.aws.model.meter()["detect_calls"] == 0


@pytest.mark.parametrize(
    "leftovers",
    [
        pytest.param({"r.png.json": b"{}"}, id="crash-after-result"),
        pytest.param({"r.png.json": b"{}", "r.png": b"old"}, id="crash-after-copy"),
    ],
)
def test_crash_before_delete_is_finished_by_the_redelivery(env, context, leftovers):
    env.put("r.png")
    for key, body in leftovers.items():
        env.s3.put_object(Bucket=FINAL, Key=key, Body=body)

    response = env.handler()(sqs_event(sqs_record(s3_event_body("r.png"))), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert env.document("r.png.json")["kind"] == "result", "the stale result is overwritten"
    assert env.s3.get_object(Bucket=FINAL, Key="r.png")["Body"].read() == square_image()


def test_duplicate_messages_in_one_batch_process_the_image_once(env, context, logs):
    env.put("dup.png")
    body = s3_event_body("dup.png")
    response = env.handler()(sqs_event(sqs_record(body, "m1"), sqs_record(body, "m2")), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == {"dup.png", "dup.png.json"}
    outcomes = [r.outcome for r in logs.images()]
    assert "processed" in outcomes
    assert set(outcomes) <= {"processed", "already_processed"}


# -- what the notification says about the object ------------------------------------


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
    _assert_filed_as_failed(env, "gone.png", "SourceMissing", image_moved=False)


# -- source deletes in bursts ---------------------------------------------------------


def test_a_batch_finishing_together_deletes_its_sources_in_one_request(
    env, context, put_and_event, monkeypatch
):
    from runtime import deletes
    from runtime.deletes import SourceDeleter

    # Only "every image is waiting" may send: the images' S3 writes finish
    # one by one in moto, further apart than the default linger.
    monkeypatch.setattr(deletes, "LINGER_S", 30.0)
    requests: list[list[str]] = []
    original = SourceDeleter._delete_objects

    async def recording(self, bucket, items):
        requests.append(sorted(key for key, _, _ in items))
        await original(self, bucket, items)

    monkeypatch.setattr(SourceDeleter, "_delete_objects", recording)
    keys = [f"burst/{i}.png" for i in range(10)]

    assert env.handler()(put_and_event(*keys), context) == {"batchItemFailures": []}

    assert requests == [sorted(keys)]
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == set(keys) | {k + ".json" for k in keys}


def test_a_source_s3_would_not_delete_is_retried_and_the_others_acknowledged(
    env, context, put_and_event, monkeypatch, logs
):
    """DeleteObjects answers per key: only the refused key's message is retried."""
    from aiobotocore.client import AioBaseClient

    original = AioBaseClient._make_api_call

    async def refusing(self, operation, params):
        if operation != "DeleteObjects":
            return await original(self, operation, params)
        objects = params["Delete"]["Objects"]
        kept = [o for o in objects if o["Key"] != "keep/me.png"]
        response = await original(
            self, operation, {**params, "Delete": {**params["Delete"], "Objects": kept}}
        )
        if len(kept) < len(objects):
            response.setdefault("Errors", []).append(
                {
                    "Key": "keep/me.png",
                    "Code": "InternalError",
                    "Message": "We encountered an internal error.",
                }
            )
        return response

    monkeypatch.setattr(AioBaseClient, "_make_api_call", refusing)
    event = put_and_event("keep/me.png", "keep/other.png")

    response = env.handler()(event, context)

    assert failed_ids(response) == {"keep/me.png"}
    assert env.keys(SOURCE) == {"keep/me.png"}, "not deleted, so the retry finds it"
    assert logs.outcomes() == {"keep/me.png": "retry", "keep/other.png": "processed"}
    monkeypatch.setattr(AioBaseClient, "_make_api_call", original)
    assert env.handler()(sqs_event(event["Records"][0]), context) == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()


# -- event loops and threads ---------------------------------------------------------


def test_warm_opens_the_clients_the_first_invocation_then_uses(env, context, put_and_event):
    handler = env.handler()
    handler.warm()
    state = handler._local.state
    resources = state.resources
    assert resources is not None

    assert handler(put_and_event("warmed.png"), context) == {"batchItemFailures": []}
    assert handler._local.state is state and state.resources is resources
    handler.warm()
    assert state.resources is resources, "warming twice opens nothing new"


def test_warm_invocations_on_one_thread_reuse_loop_and_clients(env, context, put_and_event):
    handler = env.handler()
    assert handler(put_and_event("w1.png"), context) == {"batchItemFailures": []}
    state = handler._local.state
    loop, resources = state.loop, state.resources

    assert handler(put_and_event("w2.png"), context) == {"batchItemFailures": []}

    assert handler._local.state.loop is loop and not loop.is_closed()
    assert handler._local.state.resources is resources
    assert env.keys(SOURCE) == set()


def test_another_asyncio_run_between_invocations_does_not_break_the_handler(
    env, context, put_and_event
):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    handler = env.handler()
    first, second = put_and_event("a1.png"), put_and_event("a2.png")

    def on_one_thread() -> dict[str, Any]:
        handler(first, context)
        asyncio.run(asyncio.sleep(0))  # other code creates, closes and unsets a loop here
        return handler(second, context)

    # A worker thread, so that asyncio.run does not leave the main thread without
    # a current loop for the tests that run after this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(on_one_thread).result() == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()


def test_handler_called_from_several_threads_at_once(env, context):
    from concurrent.futures import ThreadPoolExecutor

    handler = env.handler(max_concurrency=2)
    env.aws.model.configure(latency=model_delay(0.05))
    batches = []
    for t in range(4):
        keys = [f"t{t}/{i}.png" for i in range(4)]
        for key in keys:
            env.put(key)
        batches.append(sqs_event(*(sqs_record(s3_event_body(k), k) for k in keys)))

    loops: dict[int, object] = {}

    def invoke(event):
        import threading

        response = handler(event, FakeContext())
        loops[threading.get_ident()] = handler._local.state.loop
        return response

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(invoke, batches))
        # Second round on the same (warm) threads.
        more = []
        for t in range(4):
            env.put(f"again/{t}.png")
            more.append(sqs_event(sqs_record(s3_event_body(f"again/{t}.png"))))
        responses += list(pool.map(invoke, more))

    assert all(r == {"batchItemFailures": []} for r in responses)
    assert env.keys(SOURCE) == set()
    assert len({id(loop) for loop in loops.values()}) == len(loops), "one loop per thread"
    assert len([k for k in env.keys(FINAL) if k.endswith(".json")]) == 20


def test_close_releases_every_thread_loop(env, context, put_and_event):
    handler = env.handler()
    handler(put_and_event("c.png"), context)
    loop = handler._local.state.loop
    handler.close()
    assert loop.is_closed()
    # A closed handler opens a fresh loop when called again.
    assert handler(put_and_event("d.png"), context) == {"batchItemFailures": []}


# -- concurrency ---------------------------------------------------------------------


def test_model_calls_are_bounded_by_max_concurrency(env, context):
    import threading
    import time

    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def latency() -> float:
        # Runs in the emulator's request thread: count calls in flight.
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        return 0.0

    env.aws.model.configure(latency=latency)
    keys = [f"c/{i}.png" for i in range(9)]
    for key in keys:
        env.put(key)
    event = sqs_event(*(sqs_record(s3_event_body(k), k) for k in keys))

    response = env.handler(max_concurrency=3)(event, context)

    assert response == {"batchItemFailures": []}
    assert state["peak"] == 3


def test_connection_pools_are_sized_to_the_concurrency(env, context, put_and_event):
    handler = env.handler(max_concurrency=5)
    handler(put_and_event("p.png"), context)
    resources = handler._local.state.resources
    assert resources.rekognition.meta.config.max_pool_connections == 5
    assert resources.s3.meta.config.max_pool_connections == 10  # 2 images per model slot
    assert resources.rekognition.meta.config.retries == {
        "mode": "standard",
        "total_max_attempts": 1,
    }


# -- observability -------------------------------------------------------------------


def test_one_structured_log_line_per_image(env, context, logs):
    env.put("ok.png")
    env.put("bad.txt", b"x", "text/plain")
    event = sqs_event(sqs_record(s3_event_body("ok.png", "bad.txt"), "m1"))
    env.handler()(event, FakeContext(aws_request_id="req-1"))

    lines = logs.images()
    assert len(lines) == 2
    formatted = [json.loads(runtime_logger.registered_formatter.format(r)) for r in lines]
    by_key = {line["key"]: line for line in formatted}
    assert by_key["ok.png"]["outcome"] == "processed"
    assert by_key["bad.txt"]["outcome"] == "failed"
    assert by_key["bad.txt"]["code"] == "UnsupportedImageType"
    for line in formatted:
        assert line["message_id"] == "m1"
        assert line["bucket"] == SOURCE
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0


def test_metrics_are_emitted_as_one_emf_document_per_invocation(env, context, capsys):
    import threading
    import time

    env.put("ok.png")
    env.put("bad.txt", b"x", "text/plain")
    env.put("slow.png")
    env.put("again.png")
    handler = env.handler()
    capsys.readouterr()

    handler(sqs_event(sqs_record(s3_event_body("ok.png", "bad.txt"), "ok")), context)

    # Throttled until the model has refused twice, then served: the image is
    # processed within the invocation, however slow the machine (no deadline involved).
    env.aws.model.configure(fault_rates={"ThrottlingException": 1.0})
    done = threading.Event()

    def lift_throttling() -> None:
        while env.aws.model.meter()["faults_injected"] < 2 and not done.is_set():
            time.sleep(0.002)
        env.aws.model.configure(fault_rates={})

    lifter = threading.Thread(target=lift_throttling, daemon=True)
    lifter.start()
    try:
        handler(sqs_event(sqs_record(s3_event_body("slow.png"), "slow")), context)
    finally:
        done.set()
        lifter.join()

    # A transient model error with no SDK attempts left: the image goes back to SQS.
    env.aws.model.configure(fault_rates={"InternalServerError": 1.0})
    handler(sqs_event(sqs_record(s3_event_body("again.png"), "again")), context)
    env.aws.model.configure(fault_rates={})

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 3, "one EMF document per invocation"
    processed, throttled, retried = emf
    assert processed["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CustomLabelsPipeline"
    assert processed["service"] == "custom-labels-inference"
    assert processed["ImagesProcessed"] == [1.0]
    assert processed["ImagesFailed"] == [1.0]
    assert len(processed["DetectCustomLabelsLatency"]) == 1, "the .txt never reaches the model"
    assert "ImagesRetried" not in processed
    assert "DetectCustomLabelsThrottled" not in processed
    # Throttles are retried within the invocation: one latency per attempt, one
    # throttle per refused attempt, and the image ends processed, not retried.
    assert len(throttled["DetectCustomLabelsThrottled"]) >= 2
    assert (
        len(throttled["DetectCustomLabelsLatency"])
        == len(throttled["DetectCustomLabelsThrottled"]) + 1
    )
    assert throttled["ImagesProcessed"] == [1.0]
    assert "ImagesRetried" not in throttled
    assert retried["ImagesRetried"] == [1.0]
    assert "ImagesProcessed" not in retried


# -- nothing is ever lost ------------------------------------------------------------


def test_nothing_is_ever_lost_under_random_faults_and_redelivery(env, context):
    """Like SQS: redeliver what the handler reports until nothing is left. After every
    round each key is finished (result or error document, source gone) or its message
    is still pending with the source in place; at the end everything is finished."""
    good = [f"lot/img{i}.png" for i in range(12)] + [f"lot/photo {i}.jpg" for i in range(4)]
    not_images = ["lot/readme.txt", "lot/data.csv"]
    corrupt = ["lot/corrupt1.jpg", "lot/corrupt2.png"]
    never_uploaded = ["lot/ghost.png"]
    for key in good:
        if key.endswith(".jpg"):
            env.put(key, square_image("JPEG"), "image/jpeg")
        else:
            env.put(key)
    for key in not_images:
        env.put(key, b"a,b", "text/plain")
    for key in corrupt:
        env.put(key, PNG_SIGNATURE + b" garbage")
    all_keys = good + not_images + corrupt + never_uploaded

    # Messages of 1 to 3 records, plus two that are not S3 events.
    records, groups, i = [], {}, 0
    for n, size in enumerate([1, 3, 2, 1, 3, 1, 2, 3, 1, 2, 2]):
        keys = all_keys[i : i + size]
        i += size
        if keys:
            groups[f"msg{n}"] = keys
            records.append(sqs_record(s3_event_body(*keys), f"msg{n}"))
    assert i >= len(all_keys)
    records.append(sqs_record("garbage", "junk1"))
    records.append(sqs_record('{"Records": [{"eventSource": "aws:sqs"}]}', "junk2"))

    env.aws.model.configure(
        fault_rates={"ThrottlingException": 0.3, "InternalServerError": 0.1}, seed=42
    )
    handler = env.handler(max_concurrency=4)
    pending = records
    for round_no in range(12):
        if round_no == 6:
            env.aws.model.configure(fault_rates={})  # the outage ends
        response = handler(sqs_event(*pending), FakeContext())
        retry = failed_ids(response)
        assert retry <= {r["messageId"] for r in pending}
        assert not retry & {"junk1", "junk2"}
        source, final = env.keys(SOURCE), env.keys(FINAL)
        pending_keys = {k for m in retry for k in groups[m]}
        for key in all_keys:
            finished = (
                key + ".json" in final or "failed/" + key + ".json" in final
            ) and key not in source
            assert finished or (key in pending_keys and key in source), (round_no, key)
        pending = [r for r in pending if r["messageId"] in retry]
        if not pending:
            break

    assert not pending, "everything finished once the faults stopped"
    assert env.keys(SOURCE) == set()
    final = env.keys(FINAL)
    for key in good:
        assert {key, key + ".json"} <= final
        assert env.document(key + ".json")["kind"] == "result"
    for key in not_images + corrupt:
        assert {"failed/" + key, "failed/" + key + ".json"} <= final
    assert env.document("failed/lot/readme.txt.json")["code"] == "UnsupportedImageType"
    assert env.document("failed/lot/corrupt1.jpg.json")["code"] == "InvalidImageFormat"
    assert env.document("failed/lot/ghost.png.json")["code"] == "SourceMissing"
    assert env.aws.model.meter()["faults_injected"] > 0, "the faults really happened"


def test_events_about_the_final_bucket_are_ignored_to_avoid_a_loop(env, context, logs):
    env.s3.put_object(Bucket=FINAL, Key="x.png.json", Body=b"{}")
    response = env.handler()(
        sqs_event(sqs_record(s3_event_body("x.png.json", bucket=FINAL), "loop")), context
    )
    assert response == {"batchItemFailures": []}
    assert env.keys(FINAL) == {"x.png.json"}
    assert any(r.levelno == logging.ERROR for r in logs.records)


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


def test_inside_lambda_the_same_loop_serves_warm_invocations(
    env, context, put_and_event, monkeypatch
):
    # Powertools switches to asyncio.get_event_loop() when LAMBDA_TASK_ROOT is set;
    # the handler's own loop must be used either way.
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    handler = env.handler()
    assert handler(put_and_event("l1.png"), context) == {"batchItemFailures": []}
    loop = handler._local.state.loop
    assert handler(put_and_event("l2.png"), context) == {"batchItemFailures": []}
    assert handler._local.state.loop is loop
    assert env.keys(SOURCE) == set()


def test_close_during_an_invocation_lets_it_finish_then_closes_its_loop(
    env, context, put_and_event
):
    import threading

    in_model, release = threading.Event(), threading.Event()

    def latency() -> float:
        in_model.set()
        release.wait(5)
        return 0.0

    env.aws.model.configure(latency=latency)
    handler = env.handler()
    event = put_and_event("busy.png")
    result: dict[str, Any] = {}

    def invoke() -> None:
        result["response"] = handler(event, FakeContext())
        result["loop"] = handler._local.state.loop

    worker = threading.Thread(target=invoke)
    worker.start()
    assert in_model.wait(10)
    handler.close()  # the invocation on the worker thread is still running
    release.set()
    worker.join(10)

    assert result["response"] == {"batchItemFailures": []}
    assert result["loop"].is_closed()
    assert env.keys(SOURCE) == set()
