"""Result and error documents turned into report rows (pure; no AWS).

The documents are the runtime's (``runtime/documents.py``, schema version 1):
a result has ``labels`` as Rekognition returned them (Name, Confidence and,
for object-detection models, ``Geometry.BoundingBox`` with Left/Top/Width/
Height as ratios of the image's width and height); an error document has
``code`` and ``message``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime import dataset, documents

CSV_COLUMNS = ("key", "label", "confidence", "box", "status", "error")


@dataclass(frozen=True)
class Box:
    """A bounding box as ratios (0..1) of the image's width/height, as Rekognition gives it."""

    left: float
    top: float
    width: float
    height: float

    def clamped(self) -> Box:
        """The box cut to the image (Rekognition can return slightly negative Left/Top)."""
        left = min(max(self.left, 0.0), 1.0)
        top = min(max(self.top, 0.0), 1.0)
        right = min(max(self.left + self.width, 0.0), 1.0)
        bottom = min(max(self.top + self.height, 0.0), 1.0)
        return Box(left, top, max(right - left, 0.0), max(bottom - top, 0.0))

    def as_json(self) -> str:
        return json.dumps(
            {"Left": self.left, "Top": self.top, "Width": self.width, "Height": self.height},
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float
    box: Box | None = None


@dataclass
class Item:
    """One source image in the report: its labels, or why it failed."""

    key: str
    status: str  # "ok" | "failed"
    labels: list[Label] = field(default_factory=list)
    image_key: str | None = None  # where the image is in the final bucket
    document_key: str = ""
    processed_at: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Labels Rekognition returned under their labelThresholds entry (kept for review).
    below_threshold: list[Label] = field(default_factory=list)
    project_version_arn: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _box(label: Mapping[str, Any]) -> Box | None:
    geometry = label.get("Geometry") or {}
    raw = geometry.get("BoundingBox") if isinstance(geometry, Mapping) else None
    if not isinstance(raw, Mapping):
        return None
    try:
        return Box(float(raw["Left"]), float(raw["Top"]), float(raw["Width"]), float(raw["Height"]))
    except (KeyError, TypeError, ValueError):
        return None


def item_from_document(document: Mapping[str, Any], document_key: str, failed_prefix: str) -> Item:
    """Read one stored document (already checked by ``documents.loads``)."""
    source = document.get("source") or {}
    output = document.get("output") or {}
    key = source.get("key") or documents.source_key_of(document_key, failed_prefix)
    if document.get("kind") == documents.ERROR_KIND:
        return Item(
            key=key,
            status="failed",
            image_key=output.get("imageKey"),
            document_key=document_key,
            processed_at=document.get("failedAt"),
            error_code=str(document.get("code") or "Unknown"),
            error_message=str(document.get("message") or ""),
        )
    labels = _labels(document.get("labels"))
    return Item(
        below_threshold=_labels(document.get("labelsBelowThreshold")),
        project_version_arn=document.get("projectVersionArn"),
        key=key,
        status="ok",
        labels=labels,
        image_key=output.get("imageKey") or documents.output_image_key(key),
        document_key=document_key,
        processed_at=document.get("processedAt"),
    )


def item_from_line(line: Mapping[str, Any]) -> Item:
    """One line of the results dataset (``runtime/dataset.py``) as a report row."""
    key = str(line.get("source_key") or "")
    if line.get("status") != dataset.STATUS_SUCCEEDED:
        return Item(
            key=key,
            status="failed",
            image_key=line.get("image_key"),
            document_key=str(line.get("result_key") or ""),
            processed_at=line.get("processed_at"),
            error_code=str(line.get("error_code") or "Unknown"),
            error_message=str(line.get("error_message") or ""),
        )
    return Item(
        key=key,
        status="ok",
        labels=_line_labels(line.get("labels")),
        image_key=line.get("image_key") or documents.output_image_key(key),
        document_key=str(line.get("result_key") or ""),
        processed_at=line.get("processed_at"),
        below_threshold=_line_labels(line.get("labels_below_threshold")),
        project_version_arn=line.get("project_version_arn"),
    )


def _line_labels(raw_labels: Any) -> list[Label]:
    """A dataset line's labels ({name, confidence, box}), most confident first."""
    labels = []
    for raw in raw_labels or []:
        if not isinstance(raw, Mapping):
            continue
        box = raw.get("box")
        labels.append(
            Label(
                str(raw.get("name") or ""),
                float(raw.get("confidence") or 0.0),
                Box(
                    float(box["left"]), float(box["top"]), float(box["width"]), float(box["height"])
                )
                if isinstance(box, Mapping)
                else None,
            )
        )
    labels.sort(key=lambda lab: -lab.confidence)
    return labels


def _labels(raw_labels: Any) -> list[Label]:
    """Labels of a document, most confident first (malformed entries skipped)."""
    labels = [
        Label(str(raw.get("Name", "")), float(raw.get("Confidence", 0.0)), _box(raw))
        for raw in raw_labels or []
        if isinstance(raw, Mapping)
    ]
    labels.sort(key=lambda lab: -lab.confidence)
    return labels


def unreadable_item(document_key: str, failed_prefix: str, problem: str) -> Item:
    """A document that could not be read still shows up, as a failure of the report."""
    try:
        key = documents.source_key_of(document_key, failed_prefix)
    except ValueError:
        key = document_key
    return Item(
        key=key,
        status="failed",
        document_key=document_key,
        error_code="UnreadableDocument",
        error_message=problem,
    )


def csv_rows(items: Iterable[Item]) -> Iterable[tuple[str, ...]]:
    """One row per label; an image without labels or a failure gets one row with an empty label.
    Labels under their labelThresholds entry follow, with the status ``below_threshold``."""
    for item in items:
        if not item.ok:
            yield (item.key, "", "", "", "failed", f"{item.error_code}: {item.error_message}")
            continue
        if not item.labels:
            yield (item.key, "", "", "", "ok", "")
        for label in item.labels:
            yield (
                item.key,
                label.name,
                f"{label.confidence:.3f}",
                label.box.as_json() if label.box else "",
                "ok",
                "",
            )
        for label in item.below_threshold:
            yield (
                item.key,
                label.name,
                f"{label.confidence:.3f}",
                label.box.as_json() if label.box else "",
                "below_threshold",
                "",
            )


def to_csv(items: Iterable[Item]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(items))
    return buf.getvalue()
