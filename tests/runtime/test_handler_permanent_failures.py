"""Images that can never succeed are filed under the failed prefix with an error
document, never retried.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

from tests.factories import PNG_SIGNATURE, s3_event_body, sqs_event, sqs_record, square_image
from tests.runtime.conftest import FINAL, SOURCE, assert_filed_as_failed


def test_non_image_suffix_is_filed_as_failed_without_a_model_call(env, context):
    env.put("notes.txt", b"hello", "text/plain")
    response = env.handler()(sqs_event(sqs_record(s3_event_body("notes.txt"))), context)
    assert response == {"batchItemFailures": []}
    assert_filed_as_failed(env, "notes.txt", "UnsupportedImageType")
    assert env.s3.head_object(Bucket=FINAL, Key="failed/notes.txt")["ContentType"] == "text/plain"
    assert env.aws.model.meter()["detect_calls"] == 0


def test_corrupt_image_is_filed_as_failed(env, context):
    env.put("broken.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg", "image/jpeg")
    response = env.handler()(sqs_event(sqs_record(s3_event_body("broken.jpg"))), context)
    assert response == {"batchItemFailures": []}
    assert_filed_as_failed(env, "broken.jpg", "InvalidImageFormat")


def test_image_that_is_not_png_or_jpeg_is_filed_as_failed(env, context):
    env.put("really-a-gif.png", b"GIF89a" + b"\x00" * 64, "image/png")
    env.handler()(sqs_event(sqs_record(s3_event_body("really-a-gif.png"))), context)
    assert_filed_as_failed(env, "really-a-gif.png", "InvalidImageFormat")


def test_image_over_15_mb_is_filed_as_failed_without_a_model_call(env, context):
    env.put("huge.png", PNG_SIGNATURE + b"\x00" * (15 * 1024 * 1024))
    env.handler()(sqs_event(sqs_record(s3_event_body("huge.png"))), context)
    assert_filed_as_failed(env, "huge.png", "ImageTooLarge")
    assert env.aws.model.meter()["detect_calls"] == 0


def test_empty_object_is_filed_as_failed(env, context):
    env.put("empty.png", b"")
    env.handler()(sqs_event(sqs_record(s3_event_body("empty.png"))), context)
    assert_filed_as_failed(env, "empty.png", "EmptyObject")


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
