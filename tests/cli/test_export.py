"""``rekbatch export``: Label Studio tasks, COCO and CSV, each exported, parsed back with a
schema check, and checked against the images (boxes in 0-100 / inside the image)."""

from __future__ import annotations

import csv
import io
import json
import urllib.request

import jsonschema
import pytest

from cli import export
from runtime import documents
from tests.cli.conftest import ROBIN_BOX, VERSION_ARN, label, put_line, put_result

LABEL_STUDIO_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["data", "predictions"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "string", "minLength": 1}},
            },
            "predictions": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["model_version", "score", "result"],
                    "properties": {
                        "model_version": {"type": "string", "minLength": 1},
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                        "result": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["from_name", "to_name", "type", "value", "score"],
                                "properties": {
                                    "type": {"enum": ["rectanglelabels", "choices"]},
                                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                                    "value": {
                                        "type": "object",
                                        "properties": {
                                            name: {"type": "number", "minimum": 0, "maximum": 100}
                                            for name in ("x", "y", "width", "height")
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

COCO_SCHEMA = {
    "type": "object",
    "required": ["images", "annotations", "categories"],
    "properties": {
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "file_name", "width", "height"],
                "properties": {
                    "id": {"type": "integer"},
                    "width": {"type": "integer", "minimum": 1},
                    "height": {"type": "integer", "minimum": 1},
                },
            },
        },
        "annotations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "image_id", "category_id", "bbox", "area", "iscrowd"],
                "properties": {
                    "bbox": {
                        "type": "array",
                        "items": {"type": "number", "minimum": 0},
                        "minItems": 4,
                        "maxItems": 4,
                    },
                    "iscrowd": {"enum": [0]},
                },
            },
        },
        "categories": {
            "type": "array",
            "items": {"type": "object", "required": ["id", "name"]},
        },
    },
}

# A box Rekognition may return a little outside the image: cut to it on export.
EDGE_BOX = {"Left": -0.02, "Top": 0.7, "Width": 0.3, "Height": 0.4}


def put_reviewed(s3, key, labels, below, image, thresholds):
    doc = documents.build_result_document(
        source=documents.source_section("src-bucket", key, '"abc"', 123),
        final_bucket="final-bucket",
        project_version_arn=VERSION_ARN,
        min_confidence=40.0,
        labels=labels,
        labels_below_threshold=below,
        label_thresholds=thresholds,
    )
    s3.put_object(Bucket="final-bucket", Key=key, Body=image)
    s3.put_object(Bucket="final-bucket", Key=documents.result_key(key), Body=documents.dumps(doc))
    put_line(s3, doc)


@pytest.fixture
def reviewed(results, make_image):
    """The report's results plus an image with a label under its threshold and a box over
    the edge."""
    put_reviewed(
        results,
        "yard/blurry.jpg",
        [label("Robin", 70.0, EDGE_BOX)],
        [label("Sparrow", 55.0, {"Left": 0.5, "Top": 0.5, "Width": 0.2, "Height": 0.2})],
        make_image("jpeg", (200, 100, 50), (640, 480)),
        {"Sparrow": 60},
    )
    return results


def run_export(cli, tmp_path, *args):
    target = tmp_path / "export.out"
    result = cli("export", "--out", target, *args)
    assert result.code == 0, result.err
    return target.read_text(), result


def test_label_studio_tasks_round_trip(reviewed, cli, tmp_path):
    text, result = run_export(cli, tmp_path, "--format", "labelstudio")
    tasks = json.loads(text)
    jsonschema.validate(tasks, LABEL_STUDIO_SCHEMA)
    by_key = {task["data"]["key"]: task for task in tasks}
    assert set(by_key) == {
        "garden/robin 1.png",
        "garden/sparrow+2.jpg",
        "street/empty é.jpg",
        "yard/blurry.jpg",
    }
    assert "4 of 4 processed image(s) exported as labelstudio" in result.err

    robin = by_key["garden/robin 1.png"]["predictions"][0]
    assert robin["model_version"] == VERSION_ARN
    assert robin["score"] == pytest.approx(0.975)
    first = robin["result"][0]
    assert first["type"] == "rectanglelabels" and first["value"]["rectanglelabels"] == ["Robin"]
    assert first["value"]["x"] == pytest.approx(25) and first["value"]["y"] == pytest.approx(20)
    assert first["value"]["width"] == pytest.approx(50)
    assert first["value"]["height"] == pytest.approx(40)
    assert first["score"] == pytest.approx(0.975)
    sparrow = by_key["garden/sparrow+2.jpg"]["predictions"][0]["result"]
    assert sparrow[0]["type"] == "choices" and sparrow[0]["value"] == {"choices": ["Sparrow"]}

    for task in tasks:
        for region in task["predictions"][0]["result"]:
            value = region["value"]
            if region["type"] == "rectanglelabels":
                assert value["x"] + value["width"] <= 100 + 1e-6
                assert value["y"] + value["height"] <= 100 + 1e-6

    blurry = by_key["yard/blurry.jpg"]
    edge = blurry["predictions"][0]["result"][0]["value"]
    assert edge["x"] == 0 and edge["width"] == pytest.approx(28)  # cut at the left edge
    below = blurry["predictions"][0]["result"][1]
    assert below["value"]["rectanglelabels"] == ["Sparrow"]
    assert below["meta"] == {"text": ["below threshold"]}
    assert blurry["data"]["below_threshold"] == ["Sparrow"]

    # The presigned URL fetches the very image.
    with urllib.request.urlopen(by_key["garden/robin 1.png"]["data"]["image"]) as response:
        assert (
            response.read()
            == reviewed.get_object(Bucket="final-bucket", Key="garden/robin 1.png")["Body"].read()
        )

    config = (tmp_path / "export.labelconfig.xml").read_text()
    assert '<RectangleLabels name="label" toName="image">' in config
    assert '<Label value="Robin"/>' in config and '<Choice value="Sparrow"/>' in config


def test_s3_uris_for_a_label_studio_s3_storage(reviewed, cli, tmp_path):
    text, _ = run_export(cli, tmp_path, "--format", "labelstudio", "--s3-uri")
    images = {task["data"]["image"] for task in json.loads(text)}
    assert "s3://final-bucket/garden/robin 1.png" in images


def test_below_selects_images_whose_best_confidence_is_under_it_least_confident_first(
    reviewed, cli, tmp_path
):
    text, result = run_export(cli, tmp_path, "--format", "labelstudio", "--below", "90")
    keys = [task["data"]["key"] for task in json.loads(text)]
    # no labels (best 0), then best 70, then best 88.25; the robin at 97.5 is not under 90
    assert keys == ["street/empty é.jpg", "yard/blurry.jpg", "garden/sparrow+2.jpg"]
    assert "3 of 4" in result.err


def test_below_threshold_selects_images_keeping_labels_under_their_threshold(
    reviewed, cli, tmp_path
):
    text, _ = run_export(cli, tmp_path, "--format", "csv", "--below-threshold")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["key"] for row in rows} == {"yard/blurry.jpg"}
    assert [(row["label"], row["counted"]) for row in rows] == [
        ("Robin", "true"),
        ("Sparrow", "false"),
    ]


def test_label_keeps_images_with_that_label_and_only_that_label(reviewed, cli, tmp_path):
    text, _ = run_export(cli, tmp_path, "--format", "csv", "--label", "Sparrow")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["key"] for row in rows} == {
        "garden/robin 1.png",
        "garden/sparrow+2.jpg",
        "yard/blurry.jpg",
    }
    assert {row["label"] for row in rows} == {"Sparrow"}


def test_coco_round_trip_boxes_in_pixels_inside_each_image(reviewed, cli, tmp_path):
    text, _ = run_export(cli, tmp_path, "--format", "coco")
    coco = json.loads(text)
    jsonschema.validate(coco, COCO_SCHEMA)
    images = {image["file_name"]: image for image in coco["images"]}
    assert (images["garden/robin 1.png"]["width"], images["garden/robin 1.png"]["height"]) == (
        400,
        300,
    )
    assert (images["yard/blurry.jpg"]["width"], images["yard/blurry.jpg"]["height"]) == (640, 480)
    by_id = {image["id"]: image for image in coco["images"]}
    names = {category["id"]: category["name"] for category in coco["categories"]}
    assert set(names.values()) == {"Robin", "Sparrow"}
    for annotation in coco["annotations"]:
        image = by_id[annotation["image_id"]]
        x, y, w, h = annotation["bbox"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0
        assert x + w <= image["width"] + 1e-6 and y + h <= image["height"] + 1e-6
        assert annotation["area"] == pytest.approx(w * h, rel=1e-3)
    robin = next(
        a
        for a in coco["annotations"]
        if by_id[a["image_id"]]["file_name"] == "garden/robin 1.png"
        and names[a["category_id"]] == "Robin"
    )
    assert robin["bbox"] == [
        ROBIN_BOX["Left"] * 400,
        ROBIN_BOX["Top"] * 300,
        ROBIN_BOX["Width"] * 400,
        ROBIN_BOX["Height"] * 300,
    ]
    # Labels under their threshold are not training data; image-level labels have no box.
    blurry = images["yard/blurry.jpg"]["id"]
    assert [names[a["category_id"]] for a in coco["annotations"] if a["image_id"] == blurry] == [
        "Robin"
    ]
    sparrow2 = images["garden/sparrow+2.jpg"]["id"]
    assert not [a for a in coco["annotations"] if a["image_id"] == sparrow2]


def test_csv_has_a_row_per_label_and_one_for_an_image_without_labels(reviewed, cli, tmp_path):
    text, _ = run_export(cli, tmp_path, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(export.CSV_COLUMNS)
    empty = [row for row in rows if row["key"] == "street/empty é.jpg"]
    assert len(empty) == 1 and empty[0]["label"] == ""
    robin = next(
        row for row in rows if row["key"] == "garden/robin 1.png" and row["label"] == "Robin"
    )
    assert float(robin["left"]) == 0.25 and robin["counted"] == "true"


def test_without_out_the_export_goes_to_stdout_and_the_summary_to_stderr(reviewed, cli):
    result = cli("export", "--format", "csv")
    assert result.code == 0
    assert result.out.startswith(",".join(export.CSV_COLUMNS))
    assert "exported as csv" in result.err and "exported" not in result.out


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"GIF89a",
        b"\x89PNG\r\n\x1a\n",  # cut before IHDR
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # no frame header yet
    ],
)
def test_image_size_says_none_when_the_header_does_not_tell(header):
    assert export.image_size(header) is None


def test_image_size_reads_png_and_jpeg_headers(make_image):
    assert export.image_size(make_image("png", (1, 2, 3), (123, 45))) == (123, 45)
    assert export.image_size(make_image("jpeg", (1, 2, 3), (67, 89))) == (67, 89)


def test_coco_refuses_an_image_without_a_readable_size(aws, stack, cli, tmp_path):
    put_result(aws.client("s3"), "odd.png", [label("Robin", 90, ROBIN_BOX)], b"GIF89a" + b"0" * 10)
    result = cli("export", "--format", "coco", "--out", tmp_path / "x.json")
    assert result.code == 2 and "no PNG/JPEG size" in result.err


@pytest.mark.parametrize("value", ["-1", "101", "high"])
def test_below_must_be_a_confidence(cli, value):
    with pytest.raises(SystemExit):
        cli("export", "--format", "csv", "--below", value)


def test_the_report_shows_labels_below_their_threshold(reviewed, cli, tmp_path):
    result = cli("report", "--out", tmp_path / "report")
    assert result.code == 0, result.err
    with (tmp_path / "report" / "results.csv").open(newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["key"] == "yard/blurry.jpg"]
    assert [(row["label"], row["status"]) for row in rows] == [
        ("Robin", "ok"),
        ("Sparrow", "below_threshold"),
    ]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "below threshold: Sparrow 55.0%" in html
