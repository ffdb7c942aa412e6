"""Redelivery and idempotency: a crash at any step loses nothing, a replaced
source is never described by a late result, a repeat is a success.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from tests.factories import s3_event_body, sqs_event, sqs_record, square_image
from tests.runtime.conftest import FINAL, SOURCE, assert_filed_as_failed


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
    doc = assert_filed_as_failed(env, "vanished.png", "SourceMissing", image_moved=False)
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
