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


def test_downloads_the_documents_beside_the_report(results, cli, tmp_path):
    out = tmp_path / "rep"
    cli("report", "--out", out)

    saved = json.loads((out / "json" / "garden" / "robin 1.png.json").read_text(encoding="utf-8"))
    assert saved["labels"][0]["Name"] == "Robin"
    assert (out / "json" / "failed" / "street" / "broken.jpg.json").exists()
    assert not (out / "json" / "runs").exists()


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


def test_unreadable_document_is_listed_as_a_failure(aws, stack, cli, tmp_path):
    aws.client("s3").put_object(Bucket="final-bucket", Key="bad.jpg.json", Body=b"{not json")

    result = cli("report", "--out", tmp_path, "--no-html")

    assert result.code == 0
    (row,) = read_csv(tmp_path / "results.csv")
    assert row["key"] == "bad.jpg" and row["status"] == "failed"
    assert row["error"].startswith("UnreadableDocument:")
