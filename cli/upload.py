"""``rekbatch upload``: put local images into the source bucket, safely re-runnable.

Every uploaded object triggers an inference that costs money, and the
pipeline deletes a source object once its result is written. So "already
there" has two meanings, and both are skipped: the same bytes are already in
the source bucket (same size, and same MD5 via the ETag or our ``md5``
metadata), or the image was already processed (its result JSON, or its
failure record, exists in the final bucket). ``--force`` uploads anyway.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from .aws import Aws
from .errors import error_code
from .images import CONTENT_TYPES, SNIFF_BYTES, has_image_suffix, sniff
from .pool import worker_pool
from .ui import Ui, human_bytes

MD5_METADATA = "md5"  # x-amz-meta-md5: lets a re-run recognise multipart uploads
MULTIPART_THRESHOLD = 64 * 1024 * 1024


@dataclass(frozen=True)
class Candidate:
    """A local file and the key it gets."""

    path: Path
    key: str
    size: int
    kind: str  # "png" | "jpeg"


@dataclass
class Plan:
    """What scanning the inputs found."""

    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    hidden: int = 0


@dataclass
class Outcome:
    uploaded: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0
    already_uploaded: list[str] = field(default_factory=list)
    already_processed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, error)


def make_key(prefix: str, relative: str) -> str:
    """S3 key for a relative path: '/' separators, NFC unicode, the user's prefix."""
    rel = unicodedata.normalize("NFC", relative.replace(os.sep, "/"))
    prefix = prefix.strip("/")
    return f"{prefix}/{rel}" if prefix else rel


def _walk(root: Path) -> Iterable[tuple[Path, str, bool]]:
    """(path, relative path, hidden) under ``root``, sorted, not following symlinked dirs."""
    for dirpath, dirnames, filenames in os.walk(root, onerror=None):
        dirnames.sort()
        base = Path(dirpath)
        rel_dir = base.relative_to(root)
        hidden_dir = any(part.startswith(".") for part in rel_dir.parts)
        for name in sorted(filenames):
            path = base / name
            yield path, (rel_dir / name).as_posix(), hidden_dir or name.startswith(".")


def scan(inputs: Sequence[str], prefix: str, suffixes: tuple[str, ...]) -> Plan:
    """Find the images to upload; a directory's files keep their path relative to it,
    a file given by name is keyed by its name."""
    plan = Plan()
    seen: dict[str, Path] = {}
    for raw in inputs:
        root = Path(raw)
        if root.is_dir():
            entries: Iterable[tuple[Path, str, bool]] = _walk(root)
        elif root.exists() or root.is_symlink():
            entries = [(root, root.name, False)]
        else:
            plan.unreadable.append((raw, "no such file or directory"))
            continue
        for path, rel, hidden in entries:
            if hidden:
                plan.hidden += 1
                continue
            try:
                with open(path, "rb") as fh:
                    head = fh.read(SNIFF_BYTES)
                size = path.stat().st_size
            except OSError as exc:
                plan.unreadable.append((str(path), exc.strerror or str(exc)))
                continue
            kind = sniff(head)
            key = make_key(prefix, rel)
            if kind is None:
                plan.skipped.append((str(path), "not a PNG or JPEG (by content)"))
                continue
            if not has_image_suffix(key, suffixes):
                plan.skipped.append(
                    (
                        str(path),
                        f"{kind.upper()} content but the name does not end in "
                        f"{'/'.join(suffixes)}: the pipeline would ignore it; rename it",
                    )
                )
                continue
            if key in seen:
                plan.skipped.append((str(path), f"same key {key!r} as {seen[key]}"))
                continue
            seen[key] = path
            plan.candidates.append(Candidate(path, key, size, kind))
    return plan


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def same_object(head: dict[str, Any], cand: Candidate) -> bool:
    """Whether the object in S3 holds exactly the local file's bytes."""
    if int(head.get("ContentLength", -1)) != cand.size:
        return False
    md5 = file_md5(cand.path)
    if head.get("Metadata", {}).get(MD5_METADATA) == md5:
        return True
    etag = str(head.get("ETag", "")).strip('"')
    return "-" not in etag and etag == md5


def upload(
    aws: Aws,
    ui: Ui,
    plan: Plan,
    *,
    source_bucket: str,
    final_bucket: str | None,
    failed_prefix: str,
    concurrency: int = 16,
    force: bool = False,
) -> Outcome:
    """Upload ``plan.candidates`` concurrently; skip what is already there or processed."""
    s3 = aws.s3
    result = Outcome()
    transfer = TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_THRESHOLD,
        use_threads=False,  # already one file per worker thread
    )
    total_bytes = sum(c.size for c in plan.candidates)

    def one(cand: Candidate, meter: Any) -> tuple[str, Candidate, str | None]:
        if not force:
            if final_bucket and (
                _head(s3, final_bucket, cand.key + ".json")
                or _head(s3, final_bucket, failed_prefix + cand.key + ".json")
            ):
                meter.advance(1, cand.size)
                return "processed", cand, None
            existing = _head(s3, source_bucket, cand.key)
            if existing and same_object(existing, cand):
                meter.advance(1, cand.size)
                return "present", cand, None
        md5 = file_md5(cand.path)
        s3.upload_file(
            str(cand.path),
            source_bucket,
            cand.key,
            ExtraArgs={"ContentType": CONTENT_TYPES[cand.kind], "Metadata": {MD5_METADATA: md5}},
            Config=transfer,
            Callback=lambda n: meter.advance(0, n),
        )
        meter.advance(1, 0)
        return "uploaded", cand, None

    with (
        ui.progress("upload", len(plan.candidates), total_bytes) as meter,
        worker_pool(concurrency) as pool,
    ):
        futures = {pool.submit(one, c, meter): c for c in plan.candidates}
        for fut in as_completed(futures):
            cand = futures[fut]
            try:
                status, _, _ = fut.result()
            except (OSError, ClientError) as exc:
                message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                result.failed.append((cand.key, message))
                meter.advance(1, 0)
                continue
            if status == "uploaded":
                result.uploaded.append(cand.key)
                result.uploaded_bytes += cand.size
            elif status == "present":
                result.already_uploaded.append(cand.key)
            else:
                result.already_processed.append(cand.key)
    return result


def report_outcome(ui: Ui, plan: Plan, outcome: Outcome, bucket: str) -> None:
    """The summary a person reads after the bar: what went where, what was left out and why."""
    ui.line(
        f"uploaded {len(outcome.uploaded)} image(s) ({human_bytes(outcome.uploaded_bytes)}) "
        f"to s3://{bucket}/"
    )
    if outcome.already_uploaded:
        ui.line(
            f"skipped {len(outcome.already_uploaded)} already in the source bucket (same bytes)"
        )
    if outcome.already_processed:
        ui.line(
            f"skipped {len(outcome.already_processed)} already processed (result in the final "
            "bucket; --force to process again)"
        )
    if plan.hidden:
        ui.line(f"ignored {plan.hidden} hidden file(s)")
    for path, reason in plan.skipped:
        ui.line(f"skipped {path}: {reason}")
    for path, error in plan.unreadable:
        ui.error(f"cannot read {path}: {error}")
    for key, error in outcome.failed:
        ui.error(f"upload of {key} failed: {error}")
