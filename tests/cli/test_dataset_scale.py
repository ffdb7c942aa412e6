"""25,000 result lines written by the handler's dataset code, read whole by
`rekbatch query` and `rekbatch report`.

Not 25,000 emulated detections (minutes of model calls that test nothing here):
the lines go through exactly what the handler does after the per-image work
(runtime/handler.py ``_write_dataset``): each image's stored document noted
and finished in a ``DatasetBatch``, then ``write_batch`` with the runtime's own
aiobotocore S3 client (``LoopResources``), one object per invocation of 100
images, into the emulator's final bucket.
"""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta

import pytest

from runtime import dataset, documents
from runtime.clients import LoopResources
from runtime.settings import Settings
from tests.cli.conftest import VERSION_ARN

IMAGES = 25_000
PER_INVOCATION = 100


def document(i: int, at: datetime) -> dict:
    labels = [{"Name": f"label-{i % 7}", "Confidence": 50.0 + i % 50}]
    if i % 3 == 0:
        labels.append(
            {
                "Name": "box",
                "Confidence": 90.0,
                "Geometry": {"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}},
            }
        )
    if i % 500 == 0:
        return documents.build_error_document(
            source=documents.source_section("src-bucket", f"img/{i:05d}.png", f"e{i}", 10),
            final_bucket="final-bucket",
            failed_prefix="failed/",
            code="InvalidImageFormat",
            message="bad",
            project_version_arn=VERSION_ARN,
            failed_at=documents.iso8601(at),
        )
    return documents.build_result_document(
        source=documents.source_section("src-bucket", f"img/{i:05d}.png", f"e{i}", 1000 + i),
        final_bucket="final-bucket",
        project_version_arn=VERSION_ARN,
        min_confidence=50.0,
        labels=labels,
        processed_at=documents.iso8601(at),
    )


async def write_invocations(settings: Settings) -> int:
    resources = await LoopResources.open(settings)
    start = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # the run crosses midnight: two dt
    written = 0
    try:
        for n in range(IMAGES // PER_INVOCATION):
            moment = start + timedelta(seconds=n * 30)
            batch = dataset.DatasetBatch(f"request-{n:04d}")
            for i in range(n * PER_INVOCATION, (n + 1) * PER_INVOCATION):
                doc = document(i, moment)
                batch.note(doc)
                batch.finish("src-bucket", doc["source"]["key"], f"message-{i}", done=True)
            key = await dataset.write_batch(
                resources.s3, settings.final_bucket, settings.results_prefix, batch, moment
            )
            written += key is not None
    finally:
        await resources.aclose()
    return written


@pytest.mark.timeout(300)
def test_query_and_report_read_every_one_of_25000_lines(aws, stack, cli, tmp_path):
    settings = Settings(final_bucket="final-bucket", project_version_arn=VERSION_ARN)
    assert asyncio.run(write_invocations(settings)) == IMAGES // PER_INVOCATION

    counted = cli(
        "query",
        "SELECT count(*) AS lines, count(DISTINCT source_key) AS images, "
        "count(DISTINCT dt) AS days, sum(cardinality(labels)) AS labels FROM results",
        "--format",
        "csv",
    )
    assert counted.code == 0, counted.err
    assert (
        counted.out.splitlines()[1] == f"{IMAGES},{IMAGES},2,{IMAGES - 50 + (IMAGES - 50) // 3 + 1}"
    )

    failures = cli("query", "--named", "failures-per-day", "--format", "csv", "--offline")
    assert failures.code == 0, failures.err
    assert sum(int(row["images"]) for row in csv.DictReader(failures.out.splitlines())) == 50

    report = cli("report", "--out", tmp_path / "report", "--no-html")
    assert report.code == 0, report.err
    assert f"{IMAGES} image(s): {IMAGES - 50} processed" in report.out
    with (tmp_path / "report" / "results.csv").open(newline="") as f:
        keys = {row["key"] for row in csv.DictReader(f)}
    assert len(keys) == IMAGES
