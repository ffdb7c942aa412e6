"""The results dataset: report and query speed, and what the object layout costs.

Three measurements, side by side in one run, against the emulator in its own
process (moto's S3 answers there, the CLI code runs here, as against AWS):

1. ``rekbatch report`` on 5,000 images: the dataset path (one listing of
   ``results/`` and a GET per JSON Lines object into the local copy, then
   DuckDB) against the per-image path it replaced (list the final bucket:
   images and documents, then a GET and a parse per result document), both at
   16 threads. The dataset is written as the function writes it at the
   default batch size (10 images per invocation: 500 objects), and again with
   the local copy warm (a second report: nothing new to download).
   Goal: >= 10x faster.
2. ``rekbatch query`` (the label-counts-per-day named query) over 100,000
   lines in the local copy, laid out as 10,000 objects of 10 lines (batch size
   10), 1,000 of 100, 100 of 1,000 (larger batches / windows) and one
   compacted object per day. Goal: < 5 s for the default layout.
3. What a million images a day cost in S3 requests per layout (computed with
   us-east-1 list prices), and the objects a query then opens.

Usage: ``.venv/bin/python bench/bench_dataset.py`` (about two minutes here).
Prints PASS/FAIL per goal and exits 1 on a FAIL.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness import announce  # noqa: E402

from runtime import dataset, documents  # noqa: E402

BUCKET = "bench-final"
ARN = "arn:aws:rekognition:us-east-1:123456789012:project/b/version/b.1/1700000000000"
REPORT_IMAGES = 5_000
QUERY_LINES = 100_000
DEFAULT_BATCH = 10
REPORT_GOAL = 10.0
QUERY_GOAL_S = 5.0

# us-east-1 S3 Standard request prices (USD per 1,000 requests) and Athena's.
PUT_PER_1000 = 0.005
GET_PER_1000 = 0.0004
LIST_PER_1000 = 0.005
ATHENA_PER_TB = 5.0
S3_GET_PER_PREFIX_PER_S = 5500  # S3's per-prefix GET rate that Athena shares


def result_document(i: int, at: datetime) -> dict[str, Any]:
    labels = [
        {"Name": f"label-{i % 12}", "Confidence": 50.0 + (i % 50)},
        {
            "Name": "defect",
            "Confidence": 60.0 + (i % 40),
            "Geometry": {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}},
        },
    ]
    return documents.build_result_document(
        source=documents.source_section("bench-src", f"images/{i:06d}.jpg", f"{i:032x}", 50_000),
        final_bucket=BUCKET,
        project_version_arn=ARN,
        min_confidence=50.0,
        labels=labels,
        processed_at=documents.iso8601(at),
    )


def jsonl_objects(
    count: int, per_object: int, start: datetime, tag: str = "q"
) -> list[tuple[str, bytes]]:
    """(key, body) of the objects invocations of ``per_object`` images write."""
    out = []
    for n in range(0, count, per_object):
        moment = start + timedelta(seconds=n // per_object)
        batch = dataset.DatasetBatch(f"bench-{tag}-{per_object}-{n:07d}")
        for i in range(n, min(n + per_object, count)):
            doc = result_document(i, moment)
            batch.note(doc)
            batch.finish("bench-src", doc["source"]["key"], str(i), done=True)
        key = dataset.object_key("results/", moment, batch.request_id)
        out.append((key, dataset.dumps_lines(batch.lines)))
    return out


def put_all(s3: Any, objects: list[tuple[str, bytes]]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kb: s3.put_object(Bucket=BUCKET, Key=kb[0], Body=kb[1]), objects))


def per_image_report(s3: Any) -> int:
    """What `rekbatch report` did before the dataset: list everything, GET every document."""
    from cli.results import item_from_document, to_csv

    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", ()):
            key = obj["Key"]
            if key.endswith(".json") and not key.startswith(("runs/", "failed/", "results/")):
                keys.append(key)

    def one(key: str) -> Any:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return item_from_document(documents.loads(body), key, "failed/")

    with ThreadPoolExecutor(16) as pool:
        items = list(pool.map(one, keys))
    to_csv(items)
    return len(items)


def dataset_report(aws: Any, out_dir: Path, cache: Path) -> int:
    import io

    from cli.report import Selection, write_report
    from cli.ui import Ui

    items = write_report(
        aws,
        Ui(out=io.StringIO(), err=io.StringIO(), interactive=False),
        final_bucket=BUCKET,
        selection=Selection(),
        out_dir=out_dir,
        runs_prefix="runs/",
        results_prefix="results/",
        cache_dir=cache,
        html=False,
    )
    return len(items)


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - started, value


def write_local(root: Path, objects: list[tuple[str, bytes]]) -> None:
    for key, body in objects:
        path = root / key  # results/dt=.../HH-id.jsonl: the cache's own layout
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def compacted(objects: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """One object per dt partition (what a daily compaction leaves)."""
    days: dict[str, list[bytes]] = {}
    for key, body in objects:
        days.setdefault(key.split("/")[1], []).append(body)
    return [(f"results/{dt}/compacted.jsonl", b"".join(bodies)) for dt, bodies in days.items()]


def serve() -> None:
    from emulator.server import LocalAws

    with LocalAws() as aws:
        aws.client("s3").create_bucket(Bucket=BUCKET)
        announce({"env": aws.env()})
        sys.stdin.read()  # until the parent closes stdin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0

    import os
    import subprocess

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    line = next(line for line in child.stdout if line.startswith("@@"))
    os.environ.update(json.loads(line[2:])["env"])
    work = Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    verdicts: list[bool] = []
    try:
        from cli.aws import Aws

        aws = Aws(os.environ["AWS_REGION"], max_pool=32)
        s3 = aws.s3
        start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

        # 1. report on 5,000 images ------------------------------------------------
        print(f"seeding {REPORT_IMAGES} images: image + result document + dataset lines ...")
        docs = [result_document(i, start) for i in range(REPORT_IMAGES)]
        per_image = [(d["output"]["imageKey"], b"\xff\xd8jpeg") for d in docs] + [
            (d["output"]["resultKey"], documents.dumps(d)) for d in docs
        ]
        put_all(s3, per_image)
        lines = jsonl_objects(REPORT_IMAGES, DEFAULT_BATCH, start, tag="report")
        put_all(s3, lines)

        old_s, old_n = timed(per_image_report, s3)
        cache = work / "cache"
        cold_s, cold_n = timed(dataset_report, aws, work / "r1", cache)
        warm_s, warm_n = timed(dataset_report, aws, work / "r2", cache)
        assert old_n == cold_n == warm_n == REPORT_IMAGES, (old_n, cold_n, warm_n)
        print()
        print(f"report, {REPORT_IMAGES} images ({len(lines)} dataset objects of {DEFAULT_BATCH})")
        print("| path | s | speedup |")
        print("| --- | --- | --- |")
        print(
            f"| per-image: list {len(per_image)} keys + GET {REPORT_IMAGES} documents "
            f"| {old_s:.2f} | 1.0x |"
        )
        print(
            f"| dataset, cold copy: list + GET {len(lines)} objects + DuckDB "
            f"| {cold_s:.2f} | {old_s / cold_s:.1f}x |"
        )
        print(f"| dataset, warm copy: list + DuckDB | {warm_s:.2f} | {old_s / warm_s:.1f}x |")
        ok = old_s / cold_s >= REPORT_GOAL
        verdicts.append(ok)
        print(
            f"{'PASS' if ok else 'FAIL'}: report via the dataset (cold copy) "
            f"{old_s / cold_s:.1f}x >= {REPORT_GOAL:.0f}x"
        )

        # 2. query over 100,000 lines -------------------------------------------------
        from cli.query import DatasetCache, named_sql, run_local

        sql = named_sql("label-counts-per-day", [])
        base = jsonl_objects(QUERY_LINES, DEFAULT_BATCH, start)

        def check(rows: Any) -> None:
            total = sum(r[2] for r in rows.rows)  # images per label and day, 2 labels each
            assert total == QUERY_LINES * 2, total

        print()
        print(f"DuckDB alone: label-counts-per-day over {QUERY_LINES} lines, one file per object")
        print("| layout | files | s |")
        print("| --- | --- | --- |")
        layouts = [
            (f"batch {DEFAULT_BATCH} (default)", base),
            ("batch 100", jsonl_objects(QUERY_LINES, 100, start)),
            ("batch 1,000", jsonl_objects(QUERY_LINES, 1000, start)),
            ("one object per day (compacted)", compacted(base)),
        ]
        for name, objects in layouts:
            root = work / f"q-{len(objects)}"
            write_local(root, objects)
            run_local(root, "SELECT 1")  # import and first connection out of the timing
            seconds, rows = timed(run_local, root, sql)
            check(rows)
            print(f"| {name} | {len(objects)} | {seconds:.2f} |")

        print()
        print(
            f"rekbatch query: {QUERY_LINES} lines written at batch {DEFAULT_BATCH} "
            f"({len(base)} objects), through the local copy (one part file per day and sync)"
        )
        print("| step | s |")
        print("| --- | --- |")
        put_all(s3, base)
        cache = work / "query-cache"
        copy = DatasetCache(cache, results_prefix="results/", runs_prefix="runs/")
        cold_sync_s, cold = timed(copy.sync, s3, BUCKET)
        query_s, rows = timed(run_local, cache, sql)
        check(rows)  # the report's 5,000 images are 5,000 of these keys again: deduped
        warm_sync_s, warm = timed(copy.sync, s3, BUCKET)
        assert warm.downloaded == 0
        files = len(list((cache / "results").rglob("*.jsonl")))
        print(
            f"| first copy: list + GET {cold.listed} objects into {files} part file(s) "
            f"| {cold_sync_s:.2f} |"
        )
        print(f"| the query on the copy ({QUERY_LINES + REPORT_IMAGES} lines) | {query_s:.2f} |")
        print(
            f"| the next sync: list the last hours ({warm.listed} objects), nothing new "
            f"| {warm_sync_s:.2f} |"
        )
        ok = query_s < QUERY_GOAL_S
        verdicts.append(ok)
        print(
            f"{'PASS' if ok else 'FAIL'}: rekbatch query over {QUERY_LINES}+ lines answers in "
            f"{query_s:.2f} s < {QUERY_GOAL_S:.0f} s on the local copy (the listing before it "
            f"is S3's: {warm_sync_s:.2f} s here for {warm.listed} keys)"
        )

        # 3. a million images a day ---------------------------------------------------
        line_bytes = sum(len(b) for _, b in base) / QUERY_LINES
        day = 1_000_000
        print()
        print(
            f"a million images a day ({line_bytes:.0f} B per line, "
            f"{day * line_bytes / 1e6:.0f} MB of JSON Lines)"
        )
        print(
            "| layout | objects/day | PUT USD/day | GETs per full-day scan | "
            "GET USD per scan | min s of GETs at 5,500/s per prefix |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name, per_object in (
            ("batch 10", 10),
            ("batch 100", 100),
            ("batch 1,000", 1000),
            ("batch 10,000 (ESM max)", 10_000),
            ("compacted: 128 MB objects", max(1, int(128e6 / line_bytes))),
        ):
            count = -(-day // per_object)
            print(
                f"| {name} | {count:,} | {count * PUT_PER_1000 / 1000:.3f} | {count:,} | "
                f"{count * GET_PER_1000 / 1000:.4f} | {count / S3_GET_PER_PREFIX_PER_S:.1f} |"
            )
        scan_tb = day * line_bytes / 1e12
        print(
            f"Athena scans {day * line_bytes / 1e9:.2f} GB per full-day query: "
            f"{scan_tb * ATHENA_PER_TB:.4f} USD at {ATHENA_PER_TB:.0f} USD/TB"
        )
    finally:
        child.stdin.close()
        child.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
