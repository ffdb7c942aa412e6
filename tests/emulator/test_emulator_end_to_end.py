"""End to end on the emulator: upload -> S3 notification -> SQS -> mapping
enabled -> the real runtime handler -> results in the final bucket."""

from __future__ import annotations

import json
import time

from emulator.labels import compute_labels
from emulator.poller import run_poller
from emulator.stack import provision_data_path
from infra import outputs as out
from tests.emulator.emu_helpers import VERSION_ARN
from tests.factories import shapes_image


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def keys(s3, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def queue_total(sqs, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(
        int(attrs[name])
        for name in (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
    )


def test_uploaded_images_end_up_labelled_in_the_final_bucket(aws):
    aws.model.configure(tps_per_unit=50)
    aws.model.create(VERSION_ARN, status="RUNNING")
    stack = provision_data_path(
        aws, project_version_arn=VERSION_ARN, batching_window=0, maximum_concurrency=2
    )
    s3, sqs = aws.client("s3"), aws.client("sqs")
    source, final = stack[out.SOURCE_BUCKET], stack[out.FINAL_BUCKET]
    images = {
        "2024/a.png": shapes_image("PNG"),
        "2024/b photo.JPG": shapes_image("JPEG"),  # a space and an upper-case suffix
        "c.jpeg": shapes_image("JPEG", size=(120, 120)),
    }
    for key, body in images.items():
        s3.put_object(Bucket=source, Key=key, Body=body)
    s3.put_object(Bucket=source, Key="broken.png", Body=b"this is not a png")
    s3.put_object(Bucket=source, Key="notes.txt", Body=b"not an image suffix")
    wait_until(lambda: queue_total(sqs, stack[out.QUEUE_URL]) >= 4)  # + the s3:TestEvent

    aws.client("lambda").update_event_source_mapping(
        UUID=stack[out.EVENT_SOURCE_MAPPING_UUID], Enabled=True
    )
    with run_poller(aws, stack) as poller:
        wait_until(lambda: keys(s3, source) == {"notes.txt"})
        wait_until(lambda: queue_total(sqs, stack[out.QUEUE_URL]) == 0)
        stats = poller.stats()

    final_keys = keys(s3, final)
    for key, body in images.items():
        assert key in final_keys
        assert s3.get_object(Bucket=final, Key=key)["Body"].read() == body
        document = json.loads(s3.get_object(Bucket=final, Key=f"{key}.json")["Body"].read())
        names = {label["Name"] for label in document["labels"]}
        # What the model emulator sees in this very image, above the default 50%.
        expected = {label["Name"] for label in compute_labels(body) if label["Confidence"] >= 50}
        assert names == expected
        assert {"white background", "blue rectangle"} <= names
        assert document["source"]["key"] == key
        assert document["projectVersionArn"] == VERSION_ARN
    failed = {k for k in final_keys if k.startswith(stack[out.FAILED_PREFIX])}
    assert f"{stack[out.FAILED_PREFIX]}broken.png.json" in failed
    error = json.loads(
        s3.get_object(Bucket=final, Key=f"{stack[out.FAILED_PREFIX]}broken.png.json")["Body"].read()
    )
    assert "InvalidImageFormat" in json.dumps(error)
    assert queue_total(sqs, stack[out.DLQ_URL]) == 0
    assert stats.function_errors == 0 and stats.deleted >= 5

    meter = aws.model.meter()
    assert meter["detect_succeeded"] == 3
    assert meter["by_error"] == {"InvalidImageFormatException": 1}
