"""The dataset line of an image, built from its result or error document (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from runtime import dataset, documents

ARN = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v/1"


def result_document(**changes: object) -> dict[str, object]:
    document = documents.build_result_document(
        source=documents.source_section("src", "a/cat.png", '"abc"', 123),
        final_bucket="final",
        project_version_arn=ARN,
        min_confidence=55.0,
        labels=[
            {
                "Name": "cat",
                "Confidence": 97.5,
                "Geometry": {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}},
            },
            {"Name": "indoor", "Confidence": 60},
        ],
        processed_at="2026-12-03T06:00:00.000Z",
    )
    document.update(changes)
    return document


def test_a_result_line_has_every_key_in_snake_case():
    line = dataset.line_from_document(result_document(), request_id="req-1")

    assert tuple(line) == dataset.LINE_KEYS
    assert line["status"] == "succeeded"
    assert (line["source_bucket"], line["source_key"], line["source_etag"]) == (
        "src",
        "a/cat.png",
        "abc",
    )
    assert line["source_size"] == 123
    assert line["result_key"] == "a/cat.png.json"
    assert line["image_key"] == "a/cat.png"
    assert line["labels"] == [
        {
            "name": "cat",
            "confidence": 97.5,
            "box": {"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4},
        },
        {"name": "indoor", "confidence": 60.0, "box": None},
    ]
    assert line["labels_below_threshold"] == []
    assert line["error_code"] is None and line["error_message"] is None
    assert line["processed_at"] == "2026-12-03T06:00:00.000Z"
    assert line["project_version_arn"] == ARN
    assert line["min_confidence"] == 55.0
    assert line["request_id"] == "req-1"


def test_labels_below_threshold_are_carried_in_the_same_shape():
    below = [{"Name": "dog", "Confidence": 51.0}]
    line = dataset.line_from_document(result_document(labelsBelowThreshold=below), request_id=None)

    assert line["labels_below_threshold"] == [{"name": "dog", "confidence": 51.0, "box": None}]


def test_an_error_document_makes_a_failed_line_with_its_code():
    document = documents.build_error_document(
        source=documents.source_section("src", "bad.png", "e1", 0),
        final_bucket="final",
        failed_prefix="failed/",
        code="EmptyObject",
        message="the object is empty (0 bytes)",
        project_version_arn=ARN,
        failed_at="2026-12-03T07:00:00.000Z",
    )
    line = dataset.line_from_document(document, request_id="r")

    assert line["status"] == "failed"
    assert line["error_code"] == "EmptyObject"
    assert line["error_message"] == "the object is empty (0 bytes)"
    assert line["result_key"] == "failed/bad.png.json"
    assert line["image_key"] == "failed/bad.png"
    assert line["labels"] == []
    assert line["processed_at"] == "2026-12-03T07:00:00.000Z"
    assert line["min_confidence"] is None


def test_a_document_that_is_neither_result_nor_error_is_refused():
    with pytest.raises(ValueError, match="not a result or error document"):
        dataset.line_from_document({"kind": "summary"}, request_id=None)


def test_the_object_key_is_partitioned_by_utc_day_and_named_by_hour_and_request():
    moment = datetime(2026, 12, 3, 1, 30, tzinfo=timezone(timedelta(hours=3)))

    key = dataset.object_key("results/", moment, "0f/../x y")

    assert key == "results/dt=2026-12-02/22-0f_.._x_y.jsonl"


def test_lines_round_trip_as_json_lines():
    lines = [{"a": 1, "b": "é"}, {"a": 2, "b": None}]
    body = dataset.dumps_lines(lines)

    assert body.count(b"\n") == 2
    assert dataset.loads_lines(body) == lines


def test_a_batch_gives_a_line_only_to_images_whose_outcome_is_final():
    batch = dataset.DatasetBatch("req")
    batch.note(result_document())
    other = result_document(source=documents.source_section("src", "b.png", "e", 1))
    batch.note(other)

    batch.finish("src", "a/cat.png", "m1", done=True)
    batch.finish("src", "b.png", "m2", done=False)  # retried: its redelivery writes the line
    batch.finish("src", "a/cat.png", "m3", done=True)  # a duplicate in the batch: one line

    assert [line["source_key"] for line in batch.lines] == ["a/cat.png"]
    assert batch.message_ids == ["m1"]
    assert batch.unreadable == 0
    batch.finish("src", "gone.png", "m4", done=True)  # finished without a document
    assert batch.unreadable == 1


def test_a_retried_duplicate_leaves_the_line_to_the_copy_that_finished():
    batch = dataset.DatasetBatch("req")
    batch.note(result_document())

    batch.finish("src", "a/cat.png", "m1", done=False)  # one copy of the message: retried
    batch.finish("src", "a/cat.png", "m2", done=True)  # the other copy finished the image

    assert [line["source_key"] for line in batch.lines] == ["a/cat.png"]
    assert batch.message_ids == ["m2"]
    assert batch.unreadable == 0


def test_with_retries_adds_message_ids_once():
    response = {"batchItemFailures": [{"itemIdentifier": "m1"}]}

    assert dataset.with_retries(response, ["m1", "m2"]) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    }


def test_partition_refuses_naive_times():
    with pytest.raises(ValueError, match="naive"):
        dataset.partition(datetime(2026, 12, 3))
    assert dataset.partition(datetime(2026, 12, 3, tzinfo=UTC)) == "dt=2026-12-03"
