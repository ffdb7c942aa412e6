"""Test data every test folder builds: image bytes, and the S3 notifications and
SQS records the inference handler receives.

Import it as ``from tests.factories import ...`` (tests/ is a package, so this
is the same module from every folder).
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any
from urllib.parse import quote_plus

from PIL import Image, ImageDraw

# -- images ------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The first bytes of every PNG: with anything but a PNG after them, a corrupt image."""

Colour = str | tuple[int, int, int]


def _encoded(img: Image.Image, fmt: str, **options: Any) -> bytes:
    fmt = fmt.upper()
    buffer = io.BytesIO()
    img.save(buffer, "JPEG" if fmt == "JPG" else fmt, **options)
    return buffer.getvalue()


def square_image(fmt: str = "PNG", colour: Colour = "red", size: int = 64) -> bytes:
    """A white image with a centred square of ``colour`` (the handler tests' image)."""
    img = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(img).rectangle([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=colour)
    return _encoded(img, fmt)


def shapes_image(fmt: str = "PNG", size: tuple[int, int] = (200, 100)) -> bytes:
    """White background, a red circle on the left, a blue rectangle on the right:
    the model emulator labels each shape (the emulator tests' image)."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.ellipse((w * 0.1, h * 0.2, w * 0.4, h * 0.8), fill=(220, 30, 30))
    draw.rectangle((w * 0.6, h * 0.1, w * 0.95, h * 0.9), fill=(30, 60, 220))
    return _encoded(img, fmt)


def flat_image(
    fmt: str = "PNG", colour: Colour = (40, 90, 200), size: tuple[int, int] = (64, 48)
) -> bytes:
    """One colour all over (JPEG at quality 95, so the colour survives for the
    report's pixel checks). ``fmt`` is any case: "png", "JPEG", "jpg"."""
    return _encoded(Image.new("RGB", size, colour), fmt, quality=95)


def seeded_colour(seed: int) -> tuple[int, int, int]:
    """A colour per number: distinct images for a numbered batch."""
    return ((seed * 53) % 256, (seed * 97) % 256, (seed * 151) % 256)


# -- S3 notifications and SQS records -------------------------------------------------

SOURCE_BUCKET = "src"
EVENT_TIME = "2026-11-25T10:00:00.000Z"


def s3_record(
    key: str, event: str = "ObjectCreated:Put", bucket: str = SOURCE_BUCKET, **obj: Any
) -> dict[str, Any]:
    """One record of an S3 event notification; ``key`` as the notification carries
    it (S3 form-encodes keys: see :func:`s3_event_body`), ``obj`` more object fields
    (size, eTag, versionId, sequencer)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": EVENT_TIME,
        "eventName": event,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, **obj},
        },
    }


def s3_notification(*records: dict[str, Any]) -> str:
    """An SQS message body holding these S3 records."""
    return json.dumps({"Records": list(records)})


def s3_event_body(
    *keys: str,
    bucket: str = SOURCE_BUCKET,
    event: str = "ObjectCreated:Put",
    objects: dict[str, tuple[str, int]] | None = None,
) -> str:
    """An S3 notification for these keys as S3 puts it on the queue (keys form-encoded).

    ``objects`` gives keys their (eTag, size) as S3 sends them; without it the
    records carry a size of 1 and no eTag, so the handler has to HEAD the source.
    """
    objects = objects or {}

    def described(key: str) -> dict[str, Any]:
        if key in objects:
            etag, size = objects[key]
            return {"size": size, "eTag": etag}
        return {"size": 1}

    return s3_notification(
        *(s3_record(quote_plus(key), event, bucket, **described(key)) for key in keys)
    )


def s3_test_event_body(bucket: str = SOURCE_BUCKET) -> str:
    """The s3:TestEvent message S3 sends once when a bucket notification is configured."""
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": EVENT_TIME,
            "Bucket": bucket,
            "RequestId": "X",
            "HostId": "Y",
        }
    )


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    """One SQS record of a Lambda event (the shape the event source mapping delivers)."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "rh-" + uuid.uuid4().hex,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:source-queue",
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    """The Lambda event of these SQS records."""
    return {"Records": list(records)}
