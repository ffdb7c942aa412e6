"""Fixtures of the CLI tests: a data-path stack on the emulator, images, a CLI runner."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from infra import outputs as out

VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/birds/version/birds.2026-11-01/1700000000000"
PROJECT_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/birds/1690000000000"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def image_bytes(
    kind: str = "png", colour: tuple[int, int, int] = (40, 90, 200), size=(64, 48)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG" if kind == "png" else "JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    """PNG/JPEG bytes of a flat colour."""
    return image_bytes


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
def stack(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Buckets and queues named like the stack's, exposed to the CLI through REKBATCH_*
    variables (the way a user without the Pulumi CLI would)."""
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
    (root / "a.png").write_bytes(image_bytes("png"))
    (root / "nested" / "b.jpg").write_bytes(image_bytes("jpeg"))
    (root / "2026 spring" / "garden+yard" / "rouge-gorge é.jpeg").write_bytes(image_bytes("jpeg"))
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
