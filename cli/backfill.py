"""``rekbatch backfill``: queue images that are in the source bucket but never got
an S3 notification (uploaded before the stack existed, or while notifications
were off).

Messages have the exact shape of S3 ObjectCreated notifications (keys
URL-encoded the way S3 encodes them), so the Lambda treats them like any
other upload. Duplicates are avoided in three ways:

- keys whose result (``<key>.json``) or failure record
  (``failed/<key>.json``) exists in the final bucket are skipped;
- SQS can not be searched, so when the queue is not empty (its messages may
  well be for these very keys) backfill refuses unless ``--allow-queued``;
- a run of backfill enqueues each key once.

Residual race: an upload whose notification lands while backfill runs, or a
run that is draining the queue at the same time, can still yield a second
message for one key. That costs at most one extra DetectCustomLabels call:
the Lambda is idempotent (deterministic result keys; a message whose source
object is gone but whose result exists counts as done).
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runtime import documents

from .aws import Aws, queue_depths
from .errors import UserError, reading
from .images import has_image_suffix
from .operations import listed_objects, object_keys
from .pool import worker_pool
from .ui import Ui

SQS_BATCH_MAX = 10


@dataclass(frozen=True)
class SourceObject:
    key: str
    size: int
    etag: str


@dataclass
class BackfillOutcome:
    listed: int = 0
    not_images: int = 0
    already_processed: int = 0
    enqueued: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def s3_event_key(key: str) -> str:
    """Encode a key as S3 notifications do (form encoding: space -> '+', '/' kept)."""
    return urllib.parse.quote_plus(key, safe="/")


def s3_event(bucket: str, obj: SourceObject, region: str, now: datetime) -> dict[str, Any]:
    """An ``ObjectCreated:Put`` notification body for ``obj`` (event version 2.1)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "rekbatch-backfill"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "rekbatch-backfill",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "rekbatch-backfill"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": s3_event_key(obj.key),
                        "size": obj.size,
                        "eTag": obj.etag,
                        "sequencer": uuid.uuid4().hex[:18].upper(),
                    },
                },
            }
        ]
    }


def processed_keys(s3: Any, final_bucket: str, prefix: str, failed_prefix: str) -> set[str]:
    """Source keys that already have a result or a failure record."""
    done: set[str] = set()
    for key in object_keys(s3, final_bucket, prefix):
        if documents.is_document_key(key):
            done.add(documents.source_key_of(key))
    for key in object_keys(s3, final_bucket, failed_prefix + prefix):
        if documents.is_document_key(key):
            done.add(documents.source_key_of(key, failed_prefix))
    return done


def batches(items: Sequence[SourceObject], size: int) -> Iterator[Sequence[SourceObject]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def backfill(
    aws: Aws,
    ui: Ui,
    *,
    source_bucket: str,
    final_bucket: str,
    queue_url: str,
    region: str,
    failed_prefix: str,
    suffixes: tuple[str, ...],
    prefix: str = "",
    batch_size: int = SQS_BATCH_MAX,
    concurrency: int = 8,
    allow_queued: bool = False,
    dry_run: bool = False,
) -> BackfillOutcome:
    """Enqueue unprocessed images of the source bucket; see the module docstring."""
    if not 1 <= batch_size <= SQS_BATCH_MAX:
        raise UserError(f"--batch-size must be between 1 and {SQS_BATCH_MAX}, got {batch_size}")
    s3, sqs = aws.s3, aws.sqs
    depths = queue_depths(aws, queue_url)
    queued = depths["total"]
    if queued and not allow_queued and not dry_run:
        raise UserError(
            f"the queue holds {queued} message(s) (visible {depths['visible']}, in flight "
            f"{depths['inFlight']}, delayed {depths['delayed']}); they may be for the same images. "
            "Let a run drain it first (`rekbatch run --follow`), or pass --allow-queued to accept "
            "possible duplicates (each costs one extra inference at most)"
        )
    outcome = BackfillOutcome()
    todo: list[SourceObject] = []
    done = processed_keys(s3, final_bucket, prefix, failed_prefix)
    for obj in listed_objects(s3, source_bucket, prefix):
        outcome.listed += 1
        key = obj["Key"]
        if not has_image_suffix(key, suffixes):
            outcome.not_images += 1
            continue
        if key in done:
            outcome.already_processed += 1
            continue
        with reading("ListObjectsV2"):
            size, etag = int(obj.get("Size", 0)), str(obj.get("ETag", "")).strip('"')
        todo.append(SourceObject(key, size, etag))
    if dry_run:
        for item in todo:
            ui.line(f"would enqueue {item.key}")
        return outcome

    now = datetime.now(UTC)

    def send(batch: Sequence[SourceObject]) -> tuple[int, list[tuple[str, str]]]:
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(s3_event(source_bucket, obj, region, now))}
            for i, obj in enumerate(batch)
        ]
        failures: list[tuple[str, str]] = []
        for _attempt in range(3):
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed = {f["Id"]: f for f in response.get("Failed", [])}
            retry = [
                e for e in entries if e["Id"] in failed and not failed[e["Id"]].get("SenderFault")
            ]
            failures = [
                (batch[int(i)].key, f.get("Message") or f.get("Code", "failed"))
                for i, f in failed.items()
                if f.get("SenderFault")
            ]
            if not retry:
                break
            entries = retry
        else:
            failures += [(batch[int(e["Id"])].key, "SQS kept failing") for e in entries]
        return len(batch) - len(failures), failures

    with (
        ui.progress("backfill", len(todo), None) as meter,
        worker_pool(concurrency) as pool,
    ):
        futures = {pool.submit(send, batch): batch for batch in batches(todo, batch_size)}
        for fut in as_completed(futures):
            batch = futures[fut]
            try:
                sent, failures = fut.result()
            except Exception as exc:  # noqa: BLE001 - one bad batch must not hide the others
                sent, failures = 0, [(obj.key, str(exc)) for obj in batch]
            outcome.enqueued += sent
            outcome.failed += failures
            meter.advance(len(batch))
    return outcome
