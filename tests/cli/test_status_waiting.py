"""`rekbatch status` shows how long the oldest image has been waiting (cli/backlog.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli.backlog import age_text, describe, oldest_waiting
from emulator.workflow import provision_stack
from infra import outputs as out

VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/clitest/version/clitest.v1/1700000000000"
)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class FakeS3:
    """list_objects_v2 pages of (key, LastModified)."""

    def __init__(self, pages: list[list[tuple[str, datetime]]]) -> None:
        self.pages = pages

    def get_paginator(self, name: str) -> Any:
        assert name == "list_objects_v2"
        pages = self.pages

        class Paginator:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                for page in pages:
                    yield {"Contents": [{"Key": k, "LastModified": m} for k, m in page]}

        return Paginator()


def test_the_oldest_upload_anywhere_in_the_listing_is_found() -> None:
    s3 = FakeS3(
        [
            [("a.png", NOW - timedelta(minutes=5)), ("b/", NOW - timedelta(days=9))],
            [("z.png", NOW - timedelta(hours=2, minutes=5))],
        ]
    )
    waiting = oldest_waiting(s3, "src", now=NOW)
    assert waiting == {
        "images": 2,
        "oldestUploaded": (NOW - timedelta(hours=2, minutes=5)).isoformat(timespec="seconds"),
        "oldestAgeSeconds": 7500,
        "complete": True,
    }
    assert describe(waiting) == (
        "waiting  2 image(s) in the source bucket, the oldest uploaded 2 h 05 min ago"
    )


def test_a_long_listing_stops_and_says_so() -> None:
    s3 = FakeS3([[(f"{i}.png", NOW - timedelta(seconds=i)) for i in range(5)]])
    waiting = oldest_waiting(s3, "src", now=NOW, max_listed=3)
    assert (waiting["images"], waiting["oldestAgeSeconds"], waiting["complete"]) == (3, 2, False)
    assert "3+ image(s)" in describe(waiting) and "first 3 listed" in describe(waiting)


def test_an_empty_bucket_has_no_age() -> None:
    waiting = oldest_waiting(FakeS3([[]]), "src", now=NOW)
    assert waiting["oldestAgeSeconds"] is None
    assert describe(waiting) == "waiting  no images in the source bucket"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (720, "12 min"), (7500, "2 h 05 min"), (3 * 86400 + 4 * 3600, "3 d 04 h")],
)
def test_ages_read_like_durations(seconds: int, text: str) -> None:
    assert age_text(seconds) == text


@pytest.fixture
def deployed(aws, tmp_path, monkeypatch) -> dict[str, Any]:
    aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
    outputs = provision_stack(aws, project_version_arn=VERSION_ARN)
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps(outputs))
    monkeypatch.setenv("REKBATCH_OUTPUTS", str(saved))
    return outputs


def test_status_shows_the_images_waiting_in_the_source_bucket(deployed, cli, aws) -> None:
    before = json.loads(cli("status", "--json").out)["waiting"]
    assert before["images"] == 0 and before["oldestAgeSeconds"] is None
    s3 = aws.client("s3")
    for key in ("a.png", "b/c.jpg"):
        s3.put_object(Bucket=deployed[out.SOURCE_BUCKET], Key=key, Body=b"x")
    data = json.loads(cli("status", "--json").out)
    assert data["waiting"]["images"] == 2 and data["waiting"]["complete"]
    assert 0 <= data["waiting"]["oldestAgeSeconds"] < 600
    assert "waiting  2 image(s) in the source bucket, the oldest uploaded" in cli("status").out
