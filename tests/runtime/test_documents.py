"""Result and error documents and the deterministic key layout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from runtime import documents as d

ARN = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v1/1"


def test_key_layout_is_deterministic_and_beside_the_image():
    assert d.output_image_key("a/b c.jpg") == "a/b c.jpg"
    assert d.result_key("a/b c.jpg") == "a/b c.jpg.json"
    assert d.failed_image_key("failed/", "a/b c.jpg") == "failed/a/b c.jpg"
    assert d.failed_document_key("failed/", "a/b c.jpg") == "failed/a/b c.jpg.json"


def test_source_key_is_recovered_from_document_keys():
    assert d.source_key_of("x/y.jpg.json") == "x/y.jpg"
    assert d.source_key_of("failed/x/y.jpg.json", "failed/") == "x/y.jpg"
    assert d.is_document_key("a.jpg.json") and not d.is_document_key("a.jpg")
    with pytest.raises(ValueError):
        d.source_key_of("x.jpg")


def test_result_document_has_the_design_fields():
    labels = [
        {"Name": "cat", "Confidence": 91.5, "Geometry": {"BoundingBox": {"Width": 0.1}}},
        {"Name": "dog", "Confidence": 60.0, "Unexpected": 1},
    ]
    doc = d.build_result_document(
        source=d.source_section("src", "a.jpg", '"etag1"', 42),
        final_bucket="dst",
        project_version_arn=ARN,
        min_confidence=55.0,
        labels=labels,
        processed_at="2026-11-25T10:00:00.000Z",
    )
    assert doc == {
        "schemaVersion": 1,
        "kind": "result",
        "source": {"bucket": "src", "key": "a.jpg", "etag": "etag1", "size": 42},
        "output": {"bucket": "dst", "imageKey": "a.jpg", "resultKey": "a.jpg.json"},
        "projectVersionArn": ARN,
        "minConfidence": 55.0,
        "labels": [
            {"Name": "cat", "Confidence": 91.5, "Geometry": {"BoundingBox": {"Width": 0.1}}},
            {"Name": "dog", "Confidence": 60.0},
        ],
        "labelsBelowThreshold": [],
        "labelThresholds": {},
        "processedAt": "2026-11-25T10:00:00.000Z",
    }


def test_max_results_is_recorded_only_when_set():
    kwargs = dict(
        source=d.source_section("s", "k.jpg", None, None),
        final_bucket="f",
        project_version_arn=ARN,
        min_confidence=50.0,
        labels=[],
    )
    assert "maxResults" not in d.build_result_document(**kwargs)
    assert d.build_result_document(**kwargs, max_results=3)["maxResults"] == 3


def test_error_document_has_code_message_and_locations():
    doc = d.build_error_document(
        source=d.source_section("src", "bad.gif", "e", 3, "v9"),
        final_bucket="dst",
        failed_prefix="failed/",
        code="UnsupportedImageType",
        message="nope",
        project_version_arn=ARN,
        failed_at="2026-11-25T10:00:00.000Z",
    )
    assert doc["kind"] == "error"
    assert (doc["code"], doc["message"]) == ("UnsupportedImageType", "nope")
    assert doc["source"]["versionId"] == "v9"
    assert doc["output"] == {
        "bucket": "dst",
        "imageKey": "failed/bad.gif",
        "errorKey": "failed/bad.gif.json",
    }


def test_error_document_without_image_says_so():
    doc = d.build_error_document(
        source=d.source_section("src", "gone.jpg", None, None),
        final_bucket="dst",
        failed_prefix="failed/",
        code="SourceMissing",
        message="gone",
        project_version_arn=ARN,
        image_moved=False,
    )
    assert doc["output"]["imageKey"] is None


def test_timestamps_are_utc_iso8601_with_z():
    moment = datetime(2026, 1, 2, 5, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2)))
    assert d.iso8601(moment) == "2026-01-02T03:04:05.678Z"
    assert d.utc_now().endswith("Z")
    parsed = datetime.fromisoformat(d.utc_now().replace("Z", "+00:00"))
    assert abs(parsed - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ValueError):
        d.iso8601(datetime(2026, 1, 1))


def test_documents_round_trip_as_utf8_json():
    doc = d.build_result_document(
        source=d.source_section("s", "é.jpg", None, None),
        final_bucket="f",
        project_version_arn=ARN,
        min_confidence=50,
        labels=[],
    )
    raw = d.dumps(doc)
    assert "é".encode() in raw
    assert d.loads(raw) == json.loads(raw) == doc


@pytest.mark.parametrize(
    "raw",
    [
        '{"schemaVersion": 2, "kind": "result"}',
        '{"kind": "result"}',
        '{"schemaVersion": 1, "kind": "x"}',
        "[]",
    ],
)
def test_loads_rejects_documents_it_does_not_understand(raw):
    with pytest.raises(ValueError):
        d.loads(raw)


def test_failed_keys_of_a_key_too_long_for_its_documents_are_hashed_and_fit():
    long_key = "dir/" + "k" * 1012 + ".png"  # 1020 bytes: legal; + ".json" is not
    assert d.fits(long_key) and not d.can_have_result(long_key)
    image, document = (
        d.failed_image_key("failed/", long_key),
        d.failed_document_key("failed/", long_key),
    )
    assert image.startswith("failed/_long-keys/") and image.endswith(".png")
    assert document == image + ".json"
    assert d.fits(document)
    assert d.failed_document_key("failed/", long_key) == document  # deterministic
    assert d.failed_document_key("failed/", long_key[:-5] + "x.png") != document
    # Ordinary keys keep their readable names.
    assert d.failed_document_key("failed/", "a/b.png") == "failed/a/b.png.json"
    # Multi-byte characters count as bytes, as S3 counts them.
    assert not d.can_have_result("é" * 510)  # 1020 bytes + ".json"
