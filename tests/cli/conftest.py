"""Fixtures of the CLI tests: a data-path stack on the emulator, images, a CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from infra import outputs as out
from runtime import dataset, documents
from tests.factories import flat_image

VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/birds/version/birds.2026-11-01/1700000000000"
PROJECT_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/birds/1690000000000"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    """PNG/JPEG bytes of a flat colour."""
    return flat_image


@pytest.fixture(scope="module")
def make_image_module() -> Callable[..., bytes]:
    return flat_image


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``rekbatch`` in-process (stdout is not a terminal: plain output)."""
    from cli.main import main

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def stack(
    aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Buckets and queues named like the stack's, exposed to the CLI through REKBATCH_*
    variables (the way a user without the Pulumi CLI would); the dataset's local copy
    goes to a fresh XDG_CACHE_HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    s3 = aws.client("s3")
    sqs = aws.client("sqs")
    s3.create_bucket(Bucket="src-bucket")
    s3.create_bucket(Bucket="final-bucket")
    dlq_url = sqs.create_queue(QueueName="inference-dlq")["QueueUrl"]
    queue_url = sqs.create_queue(QueueName="inference")["QueueUrl"]
    outputs = {
        out.SOURCE_BUCKET: "src-bucket",
        out.FINAL_BUCKET: "final-bucket",
        out.QUEUE_URL: queue_url,
        out.DLQ_URL: dlq_url,
    }
    from cli.stack import env_var

    for name, value in outputs.items():
        monkeypatch.setenv(env_var(name), value)
    yield outputs


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder of images with awkward names, a non-image, a disguised non-image and a
    hidden file."""
    root = tmp_path / "photos"
    (root / "2026 spring" / "garden+yard").mkdir(parents=True)
    (root / "nested").mkdir()
    (root / "a.png").write_bytes(flat_image("png"))
    (root / "nested" / "b.jpg").write_bytes(flat_image("jpeg"))
    (root / "2026 spring" / "garden+yard" / "rouge-gorge é.jpeg").write_bytes(flat_image("jpeg"))
    (root / "2026 spring" / "notes.txt").write_text("not an image")
    (root / "fake.jpg").write_text("GIF89a... not really")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return root


def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


@pytest.fixture
def keys(aws: Any) -> Callable[..., list[str]]:
    s3 = aws.client("s3")
    return lambda bucket, prefix="": list_keys(s3, bucket, prefix)


ROBIN_BOX = {"Left": 0.25, "Top": 0.2, "Width": 0.5, "Height": 0.4}


def put_line(s3, document: dict) -> None:
    """The document's dataset line, in an object of its own, as an invocation writes it."""
    request_id = dataset.new_request_id()
    line = dataset.line_from_document(document, request_id=request_id)
    s3.put_object(
        Bucket="final-bucket",
        Key=dataset.object_key("results/", datetime.now(UTC), request_id),
        Body=dataset.dumps_lines([line]),
    )


def put_result(s3, key: str, labels: list[dict], image: bytes | None) -> None:
    doc = documents.build_result_document(
        source=documents.source_section("src-bucket", key, '"abc"', 123),
        final_bucket="final-bucket",
        project_version_arn=VERSION_ARN,
        min_confidence=40.0,
        labels=labels,
    )
    if image is not None:
        s3.put_object(Bucket="final-bucket", Key=documents.output_image_key(key), Body=image)
    s3.put_object(Bucket="final-bucket", Key=documents.result_key(key), Body=documents.dumps(doc))
    put_line(s3, doc)


def put_failure(s3, key: str, code: str, message: str, image: bytes | None) -> None:
    doc = documents.build_error_document(
        source=documents.source_section("src-bucket", key, None, 10),
        final_bucket="final-bucket",
        failed_prefix="failed/",
        code=code,
        message=message,
        project_version_arn=VERSION_ARN,
        image_moved=image is not None,
    )
    if image is not None:
        s3.put_object(
            Bucket="final-bucket", Key=documents.failed_image_key("failed/", key), Body=image
        )
    s3.put_object(
        Bucket="final-bucket",
        Key=documents.failed_document_key("failed/", key),
        Body=documents.dumps(doc),
    )
    put_line(s3, doc)


def label(name: str, confidence: float, box: dict | None = None) -> dict:
    found: dict = {"Name": name, "Confidence": confidence}
    if box:
        found["Geometry"] = {"BoundingBox": box}
    return found


@pytest.fixture
def results(aws, stack, make_image):
    """Three processed images (one with two boxed labels, one classification-only, one without
    labels), one failure, and a run summary that must not be read as a result."""
    s3 = aws.client("s3")
    put_result(
        s3,
        "garden/robin 1.png",
        [
            label("Robin", 97.5, ROBIN_BOX),
            label("Sparrow", 42.0, {"Left": 0.05, "Top": 0.6, "Width": 0.2, "Height": 0.3}),
        ],
        make_image("png", (40, 90, 200), (400, 300)),
    )
    put_result(
        s3,
        "garden/sparrow+2.jpg",
        [label("Sparrow", 88.25)],
        make_image("jpeg", (30, 160, 60), (300, 300)),
    )
    put_result(s3, "street/empty é.jpg", [], make_image("jpeg", (120, 120, 120), (320, 240)))
    put_failure(
        s3,
        "street/broken.jpg",
        "InvalidImageFormat",
        "Request has unsupported image format",
        b"GIF89a",
    )
    s3.put_object(Bucket="final-bucket", Key="runs/rekbatch-x.json", Body=b'{"schemaVersion": 1}')
    return s3


@pytest.fixture
def put() -> SimpleNamespace:
    """Writers of result/error documents the way the runtime stores them."""
    return SimpleNamespace(result=put_result, failure=put_failure, label=label, line=put_line)
