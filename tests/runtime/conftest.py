"""Fixtures for the handler tests: the local AWS (moto server + model emulator),
the two buckets, a RUNNING model, a Lambda context and captured log lines
(images and events come from tests/factories.py)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from runtime import dataset, documents
from runtime.handler import BatchHandler
from runtime.handler import logger as runtime_logger
from runtime.settings import Settings
from tests.factories import SOURCE_BUCKET, s3_event_body, sqs_event, sqs_record, square_image

SOURCE = SOURCE_BUCKET
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
        handler = BatchHandler(replace(self.settings, **changes))
        self.handlers.append(handler)
        return handler

    def put(self, key: str, body: bytes | None = None, content_type: str = "image/png") -> None:
        self.s3.put_object(
            Bucket=SOURCE,
            Key=key,
            Body=square_image() if body is None else body,
            ContentType=content_type,
        )

    def described(self, *keys: str) -> dict[str, tuple[str, int]]:
        """Each source key's (eTag, size) as S3 notifications carry them."""
        heads = {key: self.s3.head_object(Bucket=SOURCE, Key=key) for key in keys}
        return {k: (h["ETag"].strip('"'), h["ContentLength"]) for k, h in heads.items()}

    def keys(self, bucket: str) -> set[str]:
        """The bucket's keys outside the results dataset (images and their documents)."""
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            o["Key"]
            for page in paginator.paginate(Bucket=bucket)
            for o in page.get("Contents", [])
            if not o["Key"].startswith(self.settings.results_prefix)
        }

    def dataset_objects(self) -> list[str]:
        """The JSON Lines objects of the results dataset in the final bucket."""
        paginator = self.s3.get_paginator("list_objects_v2")
        prefix = self.settings.results_prefix
        return sorted(
            o["Key"]
            for page in paginator.paginate(Bucket=FINAL, Prefix=prefix)
            for o in page.get("Contents", [])
        )

    def dataset_lines(self) -> list[dict[str, Any]]:
        """Every line of the results dataset, object by object."""
        return [
            line
            for key in self.dataset_objects()
            for line in dataset.loads_lines(
                self.s3.get_object(Bucket=FINAL, Key=key)["Body"].read()
            )
        ]

    def document(self, key: str) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=FINAL, Key=key)["Body"].read())


def assert_filed_as_failed(
    env: Env, key: str, code: str, image_moved: bool = True
) -> dict[str, Any]:
    """The source is gone, no result exists, and an error document with ``code`` is filed."""
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
        return {r.key: r.outcome for r in self.images()}


@pytest.fixture
def logs() -> Iterator[Capture]:
    capture = Capture()
    std = logging.getLogger(runtime_logger.service)
    std.addHandler(capture)
    try:
        yield capture
    finally:
        std.removeHandler(capture)
