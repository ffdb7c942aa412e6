"""Where results and failures land, and what their JSON documents say.

Pure and standard-library only: the CLI report imports these key functions and
document readers without the Lambda's dependencies, so the layout is written
down once.

Final bucket layout for a source object ``<key>``:

- success: ``<key>`` (the image copy) and ``<key>.json`` (the result document);
- permanent failure: ``<failed prefix><key>`` (the image, when there was one)
  and ``<failed prefix><key>.json`` (the error document).

Keys are deterministic (no random or time component) so that a redelivered
message finds the work a previous attempt finished.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
RESULT_KIND = "result"
ERROR_KIND = "error"
DOCUMENT_SUFFIX = ".json"
MAX_KEY_BYTES = 1024  # S3's limit on an object key (UTF-8)
# Under the failed prefix: images whose key leaves no room for ".json" there.
LONG_KEYS_DIR = "_long-keys/"
# Areas of the final bucket that hold no image copies: the workflow's run
# summaries (the runs table) and Athena's query results. A source key under one
# of them would put its copy and document there.
RUNS_PREFIX = "runs/"
QUERY_RESULTS_PREFIX = "athena-results/"
CONTENT_TYPE = "application/json"

# The fields of a label Rekognition returns that the result document keeps.
LABEL_FIELDS: tuple[str, ...] = ("Name", "Confidence", "Geometry")


def result_key(source_key: str) -> str:
    """Key of the result document: the source key plus ``.json``, beside the image copy."""
    return source_key + DOCUMENT_SUFFIX


def output_image_key(source_key: str) -> str:
    """Key of the image copy in the final bucket: the same key as in the source bucket."""
    return source_key


def fits(key: str) -> bool:
    """True if S3 accepts ``key`` (at most ``MAX_KEY_BYTES`` of UTF-8)."""
    return len(key.encode("utf-8")) <= MAX_KEY_BYTES


def can_have_result(source_key: str) -> bool:
    """True if the result document's key fits: the source key has room for ``.json``."""
    return fits(result_key(source_key))


def _failed_base(failed_prefix: str, source_key: str) -> str:
    """``<prefix><key>``, or, when that plus ``.json`` would not fit in S3's
    ``MAX_KEY_BYTES``, ``<prefix>_long-keys/<sha256 of the key><its suffix>`` (deterministic;
    the error document's ``source.key`` keeps the whole key)."""
    natural = failed_prefix + source_key
    if fits(natural + DOCUMENT_SUFFIX):
        return natural
    digest = hashlib.sha256(source_key.encode("utf-8")).hexdigest()
    suffix = posixpath.splitext(source_key)[1][:16]
    return f"{failed_prefix}{LONG_KEYS_DIR}{digest}{suffix}"


def failed_image_key(failed_prefix: str, source_key: str) -> str:
    """Key of an image that can never succeed, moved under the failed prefix."""
    return _failed_base(failed_prefix, source_key)


def failed_document_key(failed_prefix: str, source_key: str) -> str:
    """Key of the error document of an image that can never succeed."""
    return _failed_base(failed_prefix, source_key) + DOCUMENT_SUFFIX


def is_document_key(key: str) -> bool:
    """True for result/error document keys (as opposed to image copies)."""
    return key.endswith(DOCUMENT_SUFFIX)


def source_key_of(document_key: str, failed_prefix: str | None = None) -> str:
    """The source key a result or error document key was derived from.

    With ``failed_prefix`` given, a key under that prefix is read as an error
    document key. The documents themselves also carry ``source.key``; prefer that
    when the document is at hand.
    """
    if not is_document_key(document_key):
        raise ValueError(f"not a document key (no {DOCUMENT_SUFFIX!r} suffix): {document_key!r}")
    key = document_key[: -len(DOCUMENT_SUFFIX)]
    if failed_prefix and key.startswith(failed_prefix):
        key = key[len(failed_prefix) :]
    return key


def utc_now() -> str:
    """UTC ISO-8601 with milliseconds and a 'Z', the timestamp format of every document."""
    return iso8601(datetime.now(UTC))


def iso8601(moment: datetime) -> str:
    """Format an aware datetime the way the documents do."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: documents carry UTC timestamps only")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def source_section(
    bucket: str,
    key: str,
    etag: str | None,
    size: int | None,
    version_id: str | None = None,
) -> dict[str, Any]:
    """The ``source`` block both document kinds share (etag without quotes)."""
    section: dict[str, Any] = {
        "bucket": bucket,
        "key": key,
        "etag": etag.strip('"') if etag else None,
        "size": size,
    }
    if version_id:
        section["versionId"] = version_id
    return section


def clean_labels(labels: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Keep Name, Confidence and (when present) Geometry of each label, in Rekognition's order."""
    return [{name: label[name] for name in LABEL_FIELDS if name in label} for label in labels]


def build_result_document(
    *,
    source: Mapping[str, Any],
    final_bucket: str,
    project_version_arn: str,
    min_confidence: float,
    labels: Iterable[Mapping[str, Any]],
    processed_at: str | None = None,
    max_results: int | None = None,
    labels_below_threshold: Iterable[Mapping[str, Any]] = (),
    label_thresholds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The self-describing result of one image (schema version 1).

    ``labels`` are the labels that count; ``labelsBelowThreshold`` the labels
    Rekognition returned under their ``labelThresholds`` entry (same shape,
    kept for review, never dropped); ``labelThresholds`` the thresholds that
    were applied, so a reader knows why a label is where it is.
    """
    key = source["key"]
    document: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "kind": RESULT_KIND,
        "source": dict(source),
        "output": {
            "bucket": final_bucket,
            "imageKey": output_image_key(key),
            "resultKey": result_key(key),
        },
        "projectVersionArn": project_version_arn,
        "minConfidence": min_confidence,
        "labels": clean_labels(labels),
        "labelsBelowThreshold": clean_labels(labels_below_threshold),
        "labelThresholds": dict(label_thresholds or {}),
        "processedAt": processed_at or utc_now(),
    }
    if max_results:
        document["maxResults"] = max_results
    return document


def build_error_document(
    *,
    source: Mapping[str, Any],
    final_bucket: str,
    failed_prefix: str,
    code: str,
    message: str,
    project_version_arn: str,
    image_moved: bool = True,
    failed_at: str | None = None,
) -> dict[str, Any]:
    """The error document of an image that can never succeed (``code`` is machine-readable)."""
    key = source["key"]
    return {
        "schemaVersion": SCHEMA_VERSION,
        "kind": ERROR_KIND,
        "code": code,
        "message": message,
        "source": dict(source),
        "output": {
            "bucket": final_bucket,
            "imageKey": failed_image_key(failed_prefix, key) if image_moved else None,
            "errorKey": failed_document_key(failed_prefix, key),
        },
        "projectVersionArn": project_version_arn,
        "failedAt": failed_at or utc_now(),
    }


def dumps(document: Mapping[str, Any]) -> bytes:
    """Serialise a document the way it is stored (UTF-8, keys in insertion order)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads(body: bytes | str) -> dict[str, Any]:
    """Parse a stored document and check it is one this code understands."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("document is not a JSON object")
    version = document.get("schemaVersion")
    if version != SCHEMA_VERSION:
        raise ValueError(f"unsupported schemaVersion {version!r} (expected {SCHEMA_VERSION})")
    if document.get("kind") not in (RESULT_KIND, ERROR_KIND):
        raise ValueError(f"unknown document kind {document.get('kind')!r}")
    return document
