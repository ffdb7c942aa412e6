"""``rekbatch report``: download results and write CSV + an HTML gallery.

Selection: everything in the final bucket, a key prefix, or one run. A run's
results are the documents written while its execution ran (its
start/stop time from Step Functions, else from the run summary): the
inference Lambda only consumes the queue while a run has the event source
mapping enabled, so that window is exactly the run's work.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from runtime import documents

from . import gallery
from .aws import Aws
from .errors import UserError, error_code
from .images import CONTENT_TYPES, sniff
from .operations import body_of
from .results import Item, item_from_document, to_csv, unreadable_item
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


def list_documents(
    s3: Any, bucket: str, sel: Selection, runs_prefix: str, failed_prefix: str
) -> Iterator[tuple[str, datetime]]:
    """(document key, last modified) of result and error documents in the selection."""
    if sel.prefix.startswith(failed_prefix):
        passes = [(sel.prefix, False)]
    else:  # results under the prefix, then failures of the same keys
        passes = [(sel.prefix, True), (failed_prefix + sel.prefix, False)]
    paginator = s3.get_paginator("list_objects_v2")
    for prefix, skip_special in passes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key, modified = obj.get("Key"), obj.get("LastModified")
                if not key or not documents.is_document_key(key):
                    continue
                if skip_special and (
                    key.startswith(failed_prefix) or (runs_prefix and key.startswith(runs_prefix))
                ):
                    continue
                if (sel.since or sel.until) and modified is None:
                    continue  # a run's documents are known by their time only
                if sel.since and modified < sel.since - SLACK:
                    continue
                if sel.until and modified > sel.until + SLACK:
                    continue
                yield key, modified


def safe_local_path(root: Path, key: str) -> Path:
    """A path under ``root`` for an S3 key, never escaping it ('..', absolute keys)."""
    parts = [p for p in PurePosixPath(key).parts if p not in ("", "/", ".", "..")]
    return root.joinpath(*parts) if parts else root / "_"


def fetch_documents(
    s3: Any,
    bucket: str,
    keys: list[str],
    failed_prefix: str,
    concurrency: int,
    save_to: Path | None,
) -> list[Item]:
    def one(key: str) -> Item:
        try:
            body = body_of(s3.get_object(Bucket=bucket, Key=key))
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404"}:
                return unreadable_item(key, failed_prefix, "deleted while the report ran")
            raise
        if save_to is not None:
            path = safe_local_path(save_to, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        try:
            document = documents.loads(body)
        except ValueError as exc:
            return unreadable_item(key, failed_prefix, str(exc))
        return item_from_document(document, key, failed_prefix)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(one, keys))


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
    failed_prefix: str,
    max_images: int = 500,
    thumb_size: int = 800,
    concurrency: int = 16,
    html: bool = True,
) -> list[Item]:
    """Download the selected documents, then write results.csv, report.html and json/."""
    s3 = aws.s3
    listed = sorted(list_documents(s3, final_bucket, selection, runs_prefix, failed_prefix))
    keys = [k for k, _ in listed]
    out_dir.mkdir(parents=True, exist_ok=True)
    items = fetch_documents(s3, final_bucket, keys, failed_prefix, concurrency, out_dir / "json")
    items.sort(key=lambda i: (i.status != "ok", i.key))
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
                "documents": len(items),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return items
