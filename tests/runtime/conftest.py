"""Fixtures for the handler tests: the local AWS (moto server + model emulator),
the two buckets, a RUNNING model, images, SQS events and a Lambda context."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote_plus

import pytest
from PIL import Image, ImageDraw

from runtime.handler import BatchHandler, make_handler
from runtime.handler import logger as runtime_logger
from runtime.settings import Settings

SOURCE = "rt-source"
FINAL = "rt-final"
VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/rt/version/rt.v1/1700000000000"


def model_delay(seconds: float) -> Callable[[], float]:
    """A ``configure(latency=...)`` callable that blocks the model's request thread itself.

    Equivalent to ``latency=seconds``, but it does not depend on the emulator's
    sleep hook, which other test modules replace to observe delays.
    """

    def delay() -> float:
        time.sleep(seconds)
        return 0.0

    return delay


def image_bytes(fmt: str = "PNG", color: str = "red", size: int = 64) -> bytes:
    """A white image with a coloured square: the emulator labels it predictably."""
    img = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(img).rectangle([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=color)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def s3_event_body(
    *keys: str,
    bucket: str = SOURCE,
    event: str = "ObjectCreated:Put",
    objects: dict[str, tuple[str, int]] | None = None,
) -> str:
    """An S3 notification as S3 puts it on the queue (keys form-encoded).

    ``objects`` gives keys their (eTag, size) as S3 sends them; without it the
    records carry a size of 1 and no eTag, so the handler has to HEAD the source.
    """
    objects = objects or {}

    def described(key: str) -> dict[str, Any]:
        if key in objects:
            etag, size = objects[key]
            return {"key": quote_plus(key), "size": size, "eTag": etag}
        return {"key": quote_plus(key), "size": 1}

    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": "2026-11-25T10:00:00.000Z",
                    "eventName": event,
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                        "object": described(key),
                    },
                }
                for key in keys
            ]
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
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rt-queue",
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def failed_ids(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


@dataclass
class FakeContext:
    """The LambdaContext attributes the handler reads."""

    remaining_ms: int = 300_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "inference"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:inference"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Env:
    """Everything a handler test needs, built on the ``aws`` fixture."""

    aws: Any
    s3: Any
    settings: Settings
    handlers: list[BatchHandler] = field(default_factory=list)

    def handler(self, **changes: Any) -> BatchHandler:
        handler = make_handler(replace(self.settings, **changes))
        self.handlers.append(handler)
        return handler

    def put(self, key: str, body: bytes | None = None, content_type: str = "image/png") -> None:
        self.s3.put_object(
            Bucket=SOURCE,
            Key=key,
            Body=image_bytes() if body is None else body,
            ContentType=content_type,
        )

    def described(self, *keys: str) -> dict[str, tuple[str, int]]:
        """Each source key's (eTag, size) as S3 notifications carry them."""
        heads = {key: self.s3.head_object(Bucket=SOURCE, Key=key) for key in keys}
        return {k: (h["ETag"].strip('"'), h["ContentLength"]) for k, h in heads.items()}

    def keys(self, bucket: str) -> set[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            o["Key"] for page in paginator.paginate(Bucket=bucket) for o in page.get("Contents", [])
        }

    def document(self, key: str) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=FINAL, Key=key)["Body"].read())


@pytest.fixture
def env(aws: Any) -> Iterator[Env]:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=FINAL)
    aws.model.create(VERSION_ARN, status="RUNNING")
    # Throughput is not under test here: lift the per-unit TPS cap.
    aws.model.configure(tps_per_unit=10_000)
    settings = Settings(
        final_bucket=FINAL,
        project_version_arn=VERSION_ARN,
        max_concurrency=8,
        # One attempt: a fault stays visible to the handler (SDK retries are
        # botocore's, tested there) and tests never sit in back-off sleeps.
        retry_mode="standard",
        max_attempts=1,
    )
    environment = Env(aws=aws, s3=s3, settings=settings)
    yield environment
    for handler in environment.handlers:
        handler.close()


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def put_and_event(env: Env) -> Callable[..., dict[str, Any]]:
    """Upload images and return an SQS event with one message per key (messageId = key)."""

    def build(*keys: str) -> dict[str, Any]:
        for key in keys:
            env.put(key)
        return sqs_event(*(sqs_record(s3_event_body(key), message_id=key) for key in keys))

    return build


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
