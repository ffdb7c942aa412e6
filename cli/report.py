"""``rekbatch report``: the results dataset as CSV + an HTML gallery.

The report reads the JSON Lines dataset (``runtime/dataset.py``) through the
same incremental local copy as ``rekbatch query`` (``cli/query.py``): one
listing of ``results/`` and a GET per new object, instead of a listing of
every image and a GET per result document. Each image is its latest line.

Selection: everything, a source key prefix, or one run. A run's results are
the lines processed while its execution ran (its start/stop time from Step
Functions, else from the run summary): the inference Lambda only consumes the
queue while a run has the event source mapping enabled, so that window is
exactly the run's work.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from runtime import documents, tables

from . import gallery
from .aws import Aws
from .errors import UserError, error_code
from .images import CONTENT_TYPES, sniff
from .operations import body_of
from .results import Item, item_from_line, to_csv
from .runs import execution_window, parse_time
from .ui import Ui

SLACK = timedelta(seconds=2)  # clock skew between Step Functions and S3 timestamps


@dataclass(frozen=True)
class Selection:
    prefix: str = ""
    run: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def describe(self, bucket: str) -> str:
        if self.run:
            return f"run {self.run} · s3://{bucket}/{self.prefix}"
        return f"s3://{bucket}/{self.prefix}"


def safe_local_path(root: Path, key: str) -> Path:
    """A path under ``root`` for an S3 key, never escaping it ('..', absolute keys)."""
    parts = [p for p in PurePosixPath(key).parts if p not in ("", "/", ".", "..")]
    return root.joinpath(*parts) if parts else root / "_"


def select_lines(cache_root: Path, sel: Selection) -> list[dict[str, Any]]:
    """The latest dataset line of each image in the selection (DuckDB over the local copy).

    A run is the lines processed while its execution ran (with a little slack
    for clock skew); a prefix is one of the source keys.
    """
    from .query import connect

    where = ["starts_with(source_key, ?)"]
    params: list[Any] = [sel.prefix]
    if sel.since is not None:
        where.append("processed_at >= ?")
        params.append(documents.iso8601(sel.since - SLACK))
    if sel.until is not None:
        where.append("processed_at <= ?")
        params.append(documents.iso8601(sel.until + SLACK))
    sql = f"""
        SELECT * EXCLUDE (line_rank) FROM (
          SELECT *, row_number() OVER (
            PARTITION BY source_bucket, source_key ORDER BY processed_at DESC, source_etag
          ) AS line_rank
          FROM {tables.RESULTS_TABLE} WHERE {" AND ".join(where)}
        ) WHERE line_rank = 1
    """
    con = connect(cache_root)
    try:
        cursor = con.execute(sql, params)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def thumbnail(body: bytes, max_side: int) -> tuple[str, bytes] | None:
    """(content type, bytes) small enough to inline; None when it is not a PNG/JPEG."""
    kind = sniff(body[:8])
    if kind is None:
        return None
    if max_side <= 0:
        return CONTENT_TYPES[kind], body
    try:
        from PIL import Image, ImageOps
    except ImportError:  # pillow is optional: inline the original
        return CONTENT_TYPES[kind], body
    try:
        img: Image.Image  # exif_transpose gives an Image, not the ImageFile opened
        with Image.open(io.BytesIO(body)) as img:
            img = ImageOps.exif_transpose(img)
            if max(img.size) <= max_side and kind == "jpeg":
                return CONTENT_TYPES[kind], body
            img.thumbnail((max_side, max_side))
            out = io.BytesIO()
            if img.mode in ("RGBA", "LA", "P"):
                img.save(out, "PNG", optimize=True)
                return CONTENT_TYPES["png"], out.getvalue()
            img.convert("RGB").save(out, "JPEG", quality=85)
            return CONTENT_TYPES["jpeg"], out.getvalue()
    except Exception:  # noqa: BLE001 - a corrupt image still gets its card, without a picture
        return None


def fetch_images(
    s3: Any, bucket: str, items: list[Item], max_side: int, concurrency: int
) -> dict[str, tuple[str, bytes]]:
    def one(item: Item) -> tuple[str, tuple[str, bytes] | None]:
        if not item.image_key:
            return item.key, None
        try:
            body = body_of(s3.get_object(Bucket=bucket, Key=item.image_key))
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404"}:
                return item.key, None
            raise
        return item.key, thumbnail(body, max_side)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return {key: img for key, img in pool.map(one, items) if img is not None}


def resolve_run(aws: Aws, stack: Any, run: str, runs_prefix: str, final_bucket: str) -> Selection:
    """The time window of run ``run`` (an execution name, or ``latest``)."""
    from .operations import read_summary
    from .runs import latest_execution

    state_machine = stack.get("stateMachineArn")
    if run == "latest":
        if not state_machine:
            raise UserError("--run latest needs the state machine ARN (--state-machine-arn)")
        execution = latest_execution(aws, state_machine)
        if execution is None:
            raise UserError("the workflow has never run: nothing to report for --run latest")
        run = execution["name"]
    start, stop = execution_window(aws, state_machine, run) if state_machine else (None, None)
    if start is None:
        summary = read_summary(aws.s3, final_bucket, runs_prefix, run)
        if summary is None:
            raise UserError(
                f"run {run!r} not found: no execution of that name and no "
                f"s3://{final_bucket}/{runs_prefix}{run}.json (see `rekbatch status`)"
            )
        timestamps = summary.get("timestamps") or {}
        start = parse_time(timestamps.get("executionStarted"))
        stop = parse_time(timestamps.get("summaryWritten"))
        if start is None:
            raise UserError(f"run summary of {run!r} has no start time")
    return Selection(run=run, since=start, until=stop)


def write_report(
    aws: Aws,
    ui: Ui,
    *,
    final_bucket: str,
    selection: Selection,
    out_dir: Path,
    runs_prefix: str,
    results_prefix: str,
    cache_dir: Path,
    max_images: int = 500,
    thumb_size: int = 800,
    concurrency: int = 16,
    html: bool = True,
    full_listing: bool = False,
) -> list[Item]:
    """Bring the local copy of the dataset up to date, select the images, then write
    results.csv, results.jsonl (the selected lines) and report.html."""
    from .query import DatasetCache, sync_with_progress

    s3 = aws.s3
    cache = DatasetCache(cache_dir, results_prefix=results_prefix, runs_prefix=runs_prefix)
    sync_with_progress(cache, s3, final_bucket, ui, concurrency, full=full_listing)
    lines = select_lines(cache.root, selection)
    items = [item_from_line(line) for line in lines]
    out_dir.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(items)), key=lambda i: (items[i].status != "ok", items[i].key))
    items = [items[i] for i in order]
    with (out_dir / "results.jsonl").open("w", encoding="utf-8") as jsonl:
        for i in order:
            jsonl.write(json.dumps(lines[i], ensure_ascii=False, default=str) + "\n")
    (out_dir / "results.csv").write_text(to_csv(items), encoding="utf-8")
    if html:
        shown = items[:max_images] if max_images > 0 else items
        with ui.progress("images", len(shown), None) as meter:
            images: dict[str, tuple[str, bytes]] = {}
            chunk = max(concurrency * 4, 1)
            for i in range(0, len(shown), chunk):
                part = shown[i : i + chunk]
                images.update(fetch_images(s3, final_bucket, part, thumb_size, concurrency))
                meter.advance(len(part))
        page = gallery.render(
            shown,
            images,
            title="Custom Labels results",
            subtitle=selection.describe(final_bucket),
            omitted=len(items) - len(shown),
        )
        (out_dir / "report.html").write_text(page, encoding="utf-8")
    (out_dir / "selection.json").write_text(
        json.dumps(
            {
                "bucket": final_bucket,
                "prefix": selection.prefix,
                "run": selection.run,
                "since": selection.since.isoformat() if selection.since else None,
                "until": selection.until.isoformat() if selection.until else None,
                "images": len(items),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return items
