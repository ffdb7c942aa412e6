"""rekbatch report against the emulator: selection, CSV, saved JSON, HTML content."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

ROBIN_BOX = {"Left": 0.25, "Top": 0.2, "Width": 0.5, "Height": 0.4}


def read_csv(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_csv_has_one_row_per_label_and_rows_for_unlabelled_and_failed_images(
    results, cli, tmp_path
):
    out = tmp_path / "rep"
    result = cli("report", "--out", out)

    assert result.code == 0, result.err
    assert "4 image(s): 3 processed (3 labels), 1 failed" in result.out
    rows = read_csv(out / "results.csv")
    assert [(r["key"], r["label"], r["status"]) for r in rows] == [
        ("garden/robin 1.png", "Robin", "ok"),
        ("garden/robin 1.png", "Sparrow", "ok"),
        ("garden/sparrow+2.jpg", "Sparrow", "ok"),
        ("street/empty é.jpg", "", "ok"),
        ("street/broken.jpg", "", "failed"),
    ]
    assert json.loads(rows[0]["box"]) == ROBIN_BOX
    assert float(rows[0]["confidence"]) == pytest.approx(97.5)
    assert rows[2]["box"] == ""  # classification model: no geometry
    assert rows[4]["error"] == "InvalidImageFormat: Request has unsupported image format"


def test_writes_the_selected_dataset_lines_beside_the_report(results, cli, tmp_path):
    out = tmp_path / "rep"
    cli("report", "--out", out)

    lines = [
        json.loads(line)
        for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert [line["source_key"] for line in lines] == [
        "garden/robin 1.png",
        "garden/sparrow+2.jpg",
        "street/empty é.jpg",
        "street/broken.jpg",
    ]
    assert lines[0]["labels"][0]["name"] == "Robin"
    assert lines[3]["error_code"] == "InvalidImageFormat"


def test_an_image_written_twice_is_one_row_with_its_latest_line(
    aws, stack, cli, tmp_path, make_image, put
):
    s3 = aws.client("s3")
    put.result(s3, "twice.png", [put.label("Old", 90.0)], make_image("png"))
    put.result(s3, "twice.png", [put.label("New", 80.0)], make_image("png"))

    result = cli("report", "--out", tmp_path, "--no-html")

    assert result.code == 0, result.err
    rows = read_csv(tmp_path / "results.csv")
    assert [(r["key"], r["label"]) for r in rows] == [("twice.png", "New")]


def test_a_second_report_downloads_only_new_dataset_objects(results, aws, cli, tmp_path, put):
    cli("report", "--out", tmp_path / "a", "--no-html")
    put.result(aws.client("s3"), "late.png", [], None)

    again = cli("report", "--out", tmp_path / "b", "--no-html")

    assert "1 downloaded" in again.err
    assert len(read_csv(tmp_path / "b" / "results.csv")) == 6


def test_prefix_selects_results_and_failures_under_it(results, cli, tmp_path):
    out = tmp_path / "rep"
    result = cli("report", "--prefix", "street/", "--out", out)

    assert result.code == 0, result.err
    assert sorted({r["key"] for r in read_csv(out / "results.csv")}) == [
        "street/broken.jpg",
        "street/empty é.jpg",
    ]


def test_run_selects_documents_written_during_that_run(results, aws, cli, tmp_path):
    s3 = aws.client("s3")
    now = datetime.now(UTC)
    window = {
        "executionStarted": (now - timedelta(minutes=5)).isoformat(),
        "summaryWritten": (now + timedelta(minutes=5)).isoformat(),
    }
    old = {
        "executionStarted": (now - timedelta(days=2)).isoformat(),
        "summaryWritten": (now - timedelta(days=2, minutes=-5)).isoformat(),
    }
    s3.put_object(
        Bucket="final-bucket", Key="runs/current.json", Body=json.dumps({"timestamps": window})
    )
    s3.put_object(Bucket="final-bucket", Key="runs/old.json", Body=json.dumps({"timestamps": old}))

    current = cli("report", "--run", "current", "--out", tmp_path / "a", "--no-html")
    past = cli("report", "--run", "old", "--out", tmp_path / "b", "--no-html")
    missing = cli("report", "--run", "nope", "--out", tmp_path / "c")

    assert current.code == 0, current.err
    assert len({r["key"] for r in read_csv(tmp_path / "a" / "results.csv")}) == 4
    assert past.code == 0 and read_csv(tmp_path / "b" / "results.csv") == []
    assert missing.code == 2 and "run 'nope' not found" in missing.err


def test_html_is_self_contained_with_escaped_keys(results, cli, tmp_path):
    out = tmp_path / "rep"
    cli("report", "--out", out)
    page = (out / "report.html").read_text(encoding="utf-8")

    assert page.count('<article class="card ok"') == 3
    assert page.count('<article class="card failed"') == 1
    assert page.count("data:image/") == 3  # the GIF of the failure is not inlined
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page
    assert 'data-key="street/empty é.jpg"' in page
    assert "InvalidImageFormat" in page


def test_hostile_label_names_are_escaped(aws, stack, cli, tmp_path, make_image, put):
    s3 = aws.client("s3")
    put.result(
        s3, "x.png", [put.label('<script>alert(1)</script>"', 90.0, ROBIN_BOX)], make_image("png")
    )

    cli("report", "--out", tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")

    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in page


def test_max_images_limits_the_gallery_not_the_csv(results, cli, tmp_path):
    result = cli("report", "--out", tmp_path, "--max-images", "2")

    assert result.code == 0
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("<article") == 2
    assert "2 more in the CSV only" in page
    assert len({r["key"] for r in read_csv(tmp_path / "results.csv")}) == 4


def test_empty_bucket_writes_an_empty_report(aws, stack, cli, tmp_path):
    result = cli("report", "--out", tmp_path)

    assert result.code == 0
    assert "no results under s3://final-bucket/" in result.out
    assert read_csv(tmp_path / "results.csv") == []


def test_an_unreadable_dataset_object_is_left_out_with_a_warning(
    aws, stack, cli, tmp_path, put, make_image
):
    s3 = aws.client("s3")
    put.result(s3, "good.png", [], make_image("png"))
    s3.put_object(Bucket="final-bucket", Key="results/dt=2026-12-01/00-bad.jsonl", Body=b"{no")

    result = cli("report", "--out", tmp_path, "--no-html")

    assert result.code == 0
    assert "results/dt=2026-12-01/00-bad.jsonl is not JSON Lines of objects" in result.err
    (row,) = read_csv(tmp_path / "results.csv")
    assert row["key"] == "good.png"
