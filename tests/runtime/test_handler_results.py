"""An image in: its result document and its copy in the final bucket, its source gone.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

import json

import pytest

from runtime import documents
from tests.factories import s3_event_body, sqs_event, sqs_record, square_image
from tests.runtime.conftest import FINAL, SOURCE, VERSION_ARN


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
