"""``rekbatch compact``: merge a day's small dataset objects into a few large ones.

The function writes one JSON Lines object per invocation: a million images a
day at batch size 10 are 100,000 objects a day, and Athena (like DuckDB) pays
per object opened (bench/bench_dataset.py; AWS advises against many small
files: S3 serves 5,500 GETs/s per prefix, shared with the queries). A closed
day (before today, UTC: the function only ever writes into the current day)
is rewritten as objects of at most ``--max-mb`` each, then its inputs are
deleted.

Safe at any point: the compacted objects are written first and only the
objects listed are deleted afterwards, so a query in between, or after a
crash, sees some lines twice, which every reader dedupes. A rerun merges the
compacted objects with whatever is left. Identical lines (the same image, etag,
status and processed_at: a redelivery) are written once. Objects that are not
JSON Lines of objects are left in place and reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from runtime import dataset

from .operations import body_of

COMPACTED = "compacted"
DEFAULT_MAX_BYTES = 128 * 1024 * 1024  # Athena's advice: files of about 128 MB
DELETE_BATCH = 1000  # DeleteObjects' limit


@dataclass
class DayResult:
    day: str
    inputs: int = 0
    outputs: list[str] = field(default_factory=list)
    lines_in: int = 0
    lines_out: int = 0
    unreadable: list[str] = field(default_factory=list)


def _days(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The dt=YYYY-MM-DD partitions under ``prefix`` (CommonPrefixes, every page)."""
    found: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", ()):
            name = common["Prefix"][len(prefix) :].rstrip("/")
            if name.startswith(f"{dataset.PARTITION_KEY}="):
                found.append(name)
    return sorted(found)


def _keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", ()):
            if obj["Key"].endswith(dataset.OBJECT_SUFFIX):
                yield obj["Key"]


def _identity(line: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        line.get(k)
        for k in ("source_bucket", "source_key", "source_etag", "status", "processed_at")
    )


def compact_day(
    s3: Any,
    bucket: str,
    prefix: str,
    day: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    concurrency: int = 16,
    dry_run: bool = False,
) -> DayResult:
    """Merge the objects of partition ``day`` (``dt=YYYY-MM-DD``)."""
    result = DayResult(day)
    keys = sorted(_keys(s3, bucket, f"{prefix}{day}/"))
    result.inputs = len(keys)
    if len(keys) < 2:
        return result

    def get(key: str) -> tuple[str, bytes]:
        return key, body_of(s3.get_object(Bucket=bucket, Key=key))

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        bodies = list(pool.map(get, keys))
    seen: set[tuple[Any, ...]] = set()
    chunks: list[list[bytes]] = [[]]
    size = 0
    merged: list[str] = []
    for key, body in bodies:
        try:
            lines = dataset.loads_lines(body)
        except (ValueError, UnicodeDecodeError):
            result.unreadable.append(key)
            continue
        merged.append(key)
        for line in lines:
            result.lines_in += 1
            identity = _identity(line)
            if identity in seen:
                continue
            seen.add(identity)
            raw = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            if size + len(raw) > max_bytes and chunks[-1]:
                chunks.append([])
                size = 0
            chunks[-1].append(raw)
            size += len(raw)
            result.lines_out += 1
    if len(merged) < 2 and not result.lines_out < result.lines_in:
        return result
    digest = hashlib.sha256("\n".join(merged).encode()).hexdigest()[:16]
    names = [
        f"{prefix}{day}/{COMPACTED}-{digest}-{i:03d}{dataset.OBJECT_SUFFIX}"
        for i in range(len(chunks))
    ]
    result.outputs = names
    if dry_run:
        return result
    for name, chunk in zip(names, chunks, strict=True):
        s3.put_object(
            Bucket=bucket, Key=name, Body=b"".join(chunk), ContentType=dataset.CONTENT_TYPE
        )
    doomed = [k for k in merged if k not in names]
    for i in range(0, len(doomed), DELETE_BATCH):
        part = doomed[i : i + DELETE_BATCH]
        response = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in part], "Quiet": True}
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise RuntimeError(
                f"{len(errors)} object(s) of {day} could not be deleted after compaction "
                f"(their lines are also in the compacted objects: readers dedupe): "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
    return result


def compact(
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    before: date | None = None,
    days: list[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    concurrency: int = 16,
    dry_run: bool = False,
    report: Callable[[DayResult], None] | None = None,
) -> list[DayResult]:
    """Compact every closed day (before ``before``, default today UTC), or ``days``."""
    limit = f"{dataset.PARTITION_KEY}={(before or datetime.now(UTC).date()).isoformat()}"
    chosen = days if days else [d for d in _days(s3, bucket, prefix) if d < limit]
    results = []
    for day in chosen:
        done = compact_day(
            s3,
            bucket,
            prefix,
            day,
            max_bytes=max_bytes,
            concurrency=concurrency,
            dry_run=dry_run,
        )
        results.append(done)
        if report is not None:
            report(done)
    return results
