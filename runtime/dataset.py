"""The results dataset: one JSON Lines object per invocation, one line per image.

Beside the per-image documents (``runtime/documents.py``), every invocation of
the function writes the images it finished, succeeded or failed, as one object
``<prefix>dt=YYYY-MM-DD/<HH>-<request id>.jsonl`` of the final bucket. The
``dt=`` folders are the partitions of the ``results`` table (Glue/Athena on AWS,
DuckDB locally; columns in ``runtime/tables.py``).

A line is built from the per-image document alone (:func:`line_from_document`),
so whatever the document says the line says, and a document read back on
redelivery makes the same line. Keys are lowercase snake_case: Athena's Hive
metastore lowercases column names, and the same SQL then runs on both engines.

When lines are written. After the per-image work (detect -> result document ->
copy -> delete source) and before the invocation returns, so the loss-free
order is untouched. A redelivered image whose work a previous attempt finished
gets its line again from the stored document: the dataset can hold the same
(source_key, source_etag) twice, and every reader dedupes on it (the named
queries keep the latest ``processed_at``).

If the object can not be written (after retries), the images are done but
their lines are not: the messages of the lines are reported for retry
(batchItemFailures). They come back within seconds, find their documents, and
the line is written then (idempotent; ``runtime/pipeline.py`` reads the
document back on that path). A dataset that can never be written (a broken
bucket policy or key grant) sends those messages to the DLQ after
maxReceiveCount, where the DLQ alarm shows them: nothing is lost silently, and
a redrive after the fix writes the lines.

Standard library only: the CLI imports the key layout and line builder.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from runtime import documents

LINE_SCHEMA_VERSION = 1
DEFAULT_PREFIX = "results/"
PARTITION_KEY = "dt"
OBJECT_SUFFIX = ".jsonl"
CONTENT_TYPE = "application/x-ndjson"
STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"

# The keys of a line, in the order they are written (runtime/tables.py types them).
LINE_KEYS: tuple[str, ...] = (
    "schema_version",
    "status",
    "source_bucket",
    "source_key",
    "source_etag",
    "source_size",
    "source_version_id",
    "result_key",
    "image_key",
    "labels",
    "labels_below_threshold",
    "error_code",
    "error_message",
    "processed_at",
    "project_version_arn",
    "min_confidence",
    "request_id",
)

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def _box(label: Mapping[str, Any]) -> dict[str, float] | None:
    geometry = label.get("Geometry")
    raw = geometry.get("BoundingBox") if isinstance(geometry, Mapping) else None
    if not isinstance(raw, Mapping):
        return None
    try:
        return {
            "left": float(raw["Left"]),
            "top": float(raw["Top"]),
            "width": float(raw["Width"]),
            "height": float(raw["Height"]),
        }
    except (KeyError, TypeError, ValueError):
        return None


def _labels(raw: Any) -> list[dict[str, Any]]:
    """Rekognition's labels (Name, Confidence, Geometry) as dataset labels."""
    if not isinstance(raw, list):
        return []
    out: list[dict[str, Any]] = []
    for label in raw:
        if not isinstance(label, Mapping):
            continue
        try:
            confidence = float(label.get("Confidence", 0.0))
        except (TypeError, ValueError):
            confidence = 0.0
        out.append(
            {"name": str(label.get("Name", "")), "confidence": confidence, "box": _box(label)}
        )
    return out


def line_from_document(document: Mapping[str, Any], *, request_id: str | None) -> dict[str, Any]:
    """The dataset line of one image, from its result or error document.

    Raises ``ValueError`` for a document that is neither (no line can say what
    happened to an image it does not name).
    """
    kind = document.get("kind")
    source = document.get("source")
    if kind not in (documents.RESULT_KIND, documents.ERROR_KIND) or not isinstance(source, Mapping):
        raise ValueError(f"not a result or error document (kind {kind!r})")
    output = document.get("output") if isinstance(document.get("output"), Mapping) else {}
    assert isinstance(output, Mapping)
    succeeded = kind == documents.RESULT_KIND
    size = source.get("size")
    min_confidence = document.get("minConfidence")
    line: dict[str, Any] = {
        "schema_version": LINE_SCHEMA_VERSION,
        "status": STATUS_SUCCEEDED if succeeded else STATUS_FAILED,
        "source_bucket": source.get("bucket"),
        "source_key": source.get("key"),
        "source_etag": source.get("etag"),
        "source_size": int(size) if isinstance(size, int | float) else None,
        "source_version_id": source.get("versionId"),
        "result_key": output.get("resultKey") if succeeded else output.get("errorKey"),
        "image_key": output.get("imageKey"),
        "labels": _labels(document.get("labels")),
        "labels_below_threshold": _labels(document.get("labelsBelowThreshold", [])),
        "error_code": None if succeeded else document.get("code"),
        "error_message": None if succeeded else document.get("message"),
        "processed_at": document.get("processedAt") if succeeded else document.get("failedAt"),
        "project_version_arn": document.get("projectVersionArn"),
        "min_confidence": float(min_confidence)
        if isinstance(min_confidence, int | float)
        else None,
        "request_id": request_id,
    }
    return line


def dumps_lines(lines: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON Lines: one compact object per line, UTF-8, a newline after each."""
    return b"".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        for line in lines
    )


def loads_lines(body: bytes | str) -> list[dict[str, Any]]:
    """Parse a JSON Lines object (blank lines skipped; anything else must be an object)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    out: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        line = json.loads(raw)
        if not isinstance(line, dict):
            raise ValueError(f"line {number} is not a JSON object")
        out.append(line)
    return out


def partition(moment: datetime) -> str:
    """``dt=YYYY-MM-DD`` (UTC) of a moment: the partition its lines go to."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the dataset is partitioned by UTC day")
    return f"{PARTITION_KEY}={moment.astimezone(UTC):%Y-%m-%d}"


def object_key(prefix: str, moment: datetime, request_id: str) -> str:
    """``<prefix>dt=YYYY-MM-DD/<HH>-<request id>.jsonl``: one object per invocation.

    The hour first lets a listing of one day come back in time order; the
    request id (unique per invocation) keeps two invocations from overwriting
    each other.
    """
    safe = _SAFE_ID.sub("_", request_id)[:128] or "invocation"
    return f"{prefix}{partition(moment)}/{moment.astimezone(UTC):%H}-{safe}{OBJECT_SUFFIX}"


def new_request_id() -> str:
    """An id for invocations without a Lambda context (the local poller, tests)."""
    return str(uuid.uuid4())


class DatasetBatch:
    """The lines of one invocation, collected while its images are processed.

    The pipeline :meth:`note` s every result or error document it writes or
    reads back, and :meth:`finish` es an image when its outcome is final; only
    then does the image get a line (an image reported for retry gets none:
    its redelivery will). Keyed by source object, so concurrent duplicates of
    one image in a batch give it one line.
    """

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._documents: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._lines: list[tuple[str, dict[str, Any]]] = []  # (message id, line)
        self._lined: set[tuple[str, str]] = set()
        self.unreadable = 0  # finished images whose document could not make a line

    def note(self, document: Mapping[str, Any]) -> None:
        source = document.get("source")
        if isinstance(source, Mapping):
            self._documents[(str(source.get("bucket")), str(source.get("key")))] = document

    def finish(self, bucket: str, key: str, message_id: str | None, *, done: bool) -> None:
        """The image's outcome is final (``done``) or a retry: emit or drop its line."""
        if not done:
            # Keep the document: a duplicate of this image in the batch may still finish.
            return
        document = self._documents.pop((bucket, key), None)
        if document is None:
            if (bucket, key) not in self._lined:  # else a duplicate of a lined image
                self.unreadable += 1
            return
        try:
            line = line_from_document(document, request_id=self.request_id)
        except ValueError:
            self.unreadable += 1
            return
        self._lines.append((message_id or "", line))
        self._lined.add((bucket, key))

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [line for _, line in self._lines]

    @property
    def message_ids(self) -> list[str]:
        """Messages with at least one line (reported for retry if the write fails)."""
        return sorted({mid for mid, _ in self._lines if mid})


async def write_batch(
    s3: Any, bucket: str, prefix: str, batch: DatasetBatch, moment: datetime
) -> str | None:
    """Put the invocation's lines as one object; its key, or None when there were none.

    The client's own retries (standard mode) cover throttles and 5xx; an error
    that survives them propagates, and the caller reports the lines' messages
    for retry (see the module docstring).
    """
    lines = batch.lines
    if not lines:
        return None
    key = object_key(prefix, moment, batch.request_id)
    await s3.put_object(Bucket=bucket, Key=key, Body=dumps_lines(lines), ContentType=CONTENT_TYPE)
    return key


def with_retries(response: dict[str, Any], message_ids: Iterable[str]) -> dict[str, Any]:
    """The partial batch response with ``message_ids`` added to its batchItemFailures."""
    failures = list(response.get("batchItemFailures") or [])
    reported = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
    failures.extend({"itemIdentifier": mid} for mid in message_ids if mid not in reported)
    return {**response, "batchItemFailures": failures}
