"""``rekbatch export``: the results as Label Studio tasks, COCO or CSV, for review and retraining.

What is read: the results dataset (``runtime/dataset.py``; its local copy
brought up to date first, the latest line of each image, as ``rekbatch
report`` reads it), through :func:`read_items`, the one reader of this
module; failed images are left out (no prediction). What is selected:

- ``--label L`` (repeatable): images with one of these labels, counted or
  below its threshold; only those labels are exported;
- ``--below C``: images whose best confidence (over the exported labels, both
  kinds) is under C; an image without labels has best confidence 0;
- ``--below-threshold``: images that keep labels under their labelThresholds;
- with either of the last two, the least confident images come first (the
  order a reviewer should see them in); otherwise the order of the keys.

Formats:

- ``labelstudio``: a JSON list of tasks. ``data.image`` is a presigned GET URL
  of the image in the final bucket (``--expires``, at most SigV4's 7 days) or,
  with ``--s3-uri``, ``s3://bucket/key`` for a Label Studio S3 storage on that
  bucket. One prediction per task (``model_version`` = the model version ARN,
  ``score`` = best confidence / 100: Label Studio's Data Manager sorts on it,
  lowest first). A boxed label is a ``rectanglelabels`` region with ``x``,
  ``y``, ``width``, ``height`` in percent (0-100) of the image, from
  Rekognition's ratio ``Geometry.BoundingBox`` cut to the image, and its own
  ``score``; an image-level label is a ``choices`` region. Labels under their
  threshold are included (review is what they are kept for) and say so in
  ``meta``. The labeling config these names fit is :func:`labeling_config`,
  written beside the tasks.
- ``coco``: COCO object detection (``images``, ``annotations``,
  ``categories``) of the labels that count; ``bbox`` is ``[x, y, width,
  height]`` in pixels, so each image's width and height are read from its
  header (a ranged GET of its first 64 KB, the whole object only when the
  header is further in); ``score`` is the confidence / 100. Image-level
  labels have no box and are not annotations.
- ``csv``: one row per label (both kinds, ``counted`` says which), boxes as
  ratios; an image without labels gets one row with an empty label.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from .errors import UserError
from .operations import body_of
from .report import Selection, select_lines
from .results import Box, Item, Label, item_from_line
from .ui import Ui

FORMATS = ("labelstudio", "coco", "csv")
# SigV4 presigned URLs live at most 7 days.
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
HEADER_BYTES = 64 * 1024
# Label Studio control names the tasks use (labeling_config declares them).
FROM_BOXES, FROM_CLASSES, TO_IMAGE = "label", "class", "image"
CSV_COLUMNS = (
    "key",
    "image_key",
    "label",
    "confidence",
    "counted",
    "left",
    "top",
    "width",
    "height",
)


@dataclass(frozen=True)
class Scored:
    """A label and whether it counts (False: under its labelThresholds entry)."""

    label: Label
    counted: bool


def read_items(
    s3: Any,
    bucket: str,
    selection: Selection,
    *,
    runs_prefix: str,
    results_prefix: str,
    cache_dir: Path,
    ui: Ui,
    concurrency: int,
) -> list[Item]:
    """The processed images of the selection, from the results dataset, in key order."""
    from .query import DatasetCache, sync_with_progress

    cache = DatasetCache(cache_dir, results_prefix=results_prefix, runs_prefix=runs_prefix)
    sync_with_progress(cache, s3, bucket, ui, concurrency)
    items = [item_from_line(line) for line in select_lines(cache.root, selection)]
    return sorted((item for item in items if item.ok), key=lambda item: item.key)


def scored(item: Item) -> list[Scored]:
    """Every label of an image, most confident first."""
    found = [Scored(label, True) for label in item.labels]
    found += [Scored(label, False) for label in item.below_threshold]
    found.sort(key=lambda s: -s.label.confidence)
    return found


def best_confidence(item: Item) -> float:
    return max((label.confidence for label in [*item.labels, *item.below_threshold]), default=0.0)


def select(
    items: Iterable[Item],
    *,
    labels: Sequence[str] = (),
    below: float | None = None,
    below_threshold: bool = False,
) -> list[Item]:
    """The images to export (see the module docstring), with only the chosen labels."""
    chosen: list[Item] = []
    for item in items:
        if labels:
            wanted = set(labels)
            item = replace(
                item,
                labels=[lab for lab in item.labels if lab.name in wanted],
                below_threshold=[lab for lab in item.below_threshold if lab.name in wanted],
            )
            if not item.labels and not item.below_threshold:
                continue
        if below is not None and best_confidence(item) >= below:
            continue
        if below_threshold and not item.below_threshold:
            continue
        chosen.append(item)
    if below is not None or below_threshold:
        chosen.sort(key=lambda i: (best_confidence(i), _weakest(i), i.key))
    return chosen


def _weakest(item: Item) -> float:
    return min((lab.confidence for lab in [*item.labels, *item.below_threshold]), default=0.0)


# ------------------------------------------------------------------------- Label Studio


def percent_box(box: Box) -> dict[str, float]:
    """Rekognition's ratio box, cut to the image, as Label Studio's percentages (0-100)."""
    cut = box.clamped()
    return {
        "x": round(cut.left * 100, 4),
        "y": round(cut.top * 100, 4),
        "width": round(cut.width * 100, 4),
        "height": round(cut.height * 100, 4),
        "rotation": 0,
    }


def labelstudio_task(item: Item, image: str) -> dict[str, Any]:
    """One Label Studio task: the image and one prediction with a region per label."""
    result: list[dict[str, Any]] = []
    for index, entry in enumerate(scored(item)):
        label = entry.label
        region: dict[str, Any] = {
            "id": f"r{index}",
            "from_name": FROM_BOXES if label.box else FROM_CLASSES,
            "to_name": TO_IMAGE,
            "score": round(label.confidence / 100, 6),
        }
        if not entry.counted:
            region["meta"] = {"text": ["below threshold"]}
        if label.box is not None:
            region["type"] = "rectanglelabels"
            region["value"] = {**percent_box(label.box), "rectanglelabels": [label.name]}
        else:
            region["type"] = "choices"
            region["value"] = {"choices": [label.name]}
        result.append(region)
    return {
        "data": {
            TO_IMAGE: image,
            "key": item.key,
            "best_confidence": best_confidence(item),
            "below_threshold": [label.name for label in item.below_threshold],
        },
        "predictions": [
            {
                "model_version": item.project_version_arn or "",
                "score": round(best_confidence(item) / 100, 6),
                "result": result,
            }
        ],
    }


def labeling_config(items: Iterable[Item]) -> str:
    """A Label Studio labeling config the tasks fit: rectangles and image classes by name."""
    boxed: set[str] = set()
    classes: set[str] = set()
    for item in items:
        for entry in scored(item):
            (boxed if entry.label.box else classes).add(entry.label.name)
    lines = ["<View>", f'  <Image name="{TO_IMAGE}" value="${TO_IMAGE}"/>']
    lines.append(f'  <RectangleLabels name="{FROM_BOXES}" toName="{TO_IMAGE}">')
    lines += [f"    <Label value={quoteattr(name)}/>" for name in sorted(boxed)]
    lines.append("  </RectangleLabels>")
    lines.append(f'  <Choices name="{FROM_CLASSES}" toName="{TO_IMAGE}" choice="multiple">')
    lines += [f"    <Choice value={quoteattr(name)}/>" for name in sorted(classes)]
    lines += ["  </Choices>", "</View>", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------- COCO


def image_size(header: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header; None when these bytes do not say."""
    if header.startswith(b"\x89PNG\r\n\x1a\n") and header[12:16] == b"IHDR" and len(header) >= 24:
        width, height = struct.unpack(">II", header[16:24])
        return int(width), int(height)
    if not header.startswith(b"\xff\xd8"):
        return None
    at = 2
    while at + 4 <= len(header):
        if header[at] != 0xFF:
            return None
        marker = header[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", header[at + 2 : at + 4])
        # SOF0-15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if at + 9 > len(header):
                return None
            height, width = struct.unpack(">HH", header[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + length
    return None


def fetch_sizes(
    s3: Any, bucket: str, items: Sequence[Item], concurrency: int
) -> dict[str, tuple[int, int]]:
    """Each image's (width, height), read from its header in the final bucket."""

    def one(item: Item) -> tuple[str, tuple[int, int] | None]:
        key = item.image_key or item.key
        head = body_of(s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEADER_BYTES - 1}"))
        size = image_size(head)
        if size is None and len(head) >= HEADER_BYTES:  # the frame header is further in
            size = image_size(body_of(s3.get_object(Bucket=bucket, Key=key)))
        return item.key, size

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        found = dict(pool.map(one, items))
    missing = [key for key, size in found.items() if size is None]
    if missing:
        raise UserError(
            f"{len(missing)} image(s) have no PNG/JPEG size in their header (e.g. "
            f"{missing[0]!r}): COCO needs pixel sizes; export them as labelstudio or csv"
        )
    return {key: size for key, size in found.items() if size is not None}


def pixel_bbox(box: Box, width: int, height: int) -> list[float]:
    """[x, y, w, h] in pixels, inside the image."""
    cut = box.clamped()
    return [
        round(cut.left * width, 2),
        round(cut.top * height, 2),
        round(cut.width * width, 2),
        round(cut.height * height, 2),
    ]


def to_coco(
    items: Sequence[Item], sizes: dict[str, tuple[int, int]], image_uri: Callable[[Item], str]
) -> dict[str, Any]:
    """COCO detection of the labels that count (boxed labels only)."""
    names = sorted({label.name for item in items for label in item.labels if label.box})
    category = {name: index for index, name in enumerate(names, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, item in enumerate(items, start=1):
        width, height = sizes[item.key]
        images.append(
            {
                "id": image_id,
                "file_name": item.image_key or item.key,
                "width": width,
                "height": height,
                "coco_url": image_uri(item),
            }
        )
        for label in item.labels:
            if label.box is None:
                continue
            bbox = pixel_bbox(label.box, width, height)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category[label.name],
                    "bbox": bbox,
                    "area": round(bbox[2] * bbox[3], 2),
                    "iscrowd": 0,
                    "score": round(label.confidence / 100, 6),
                }
            )
    return {
        "info": {"description": "rekognition-batch export (Rekognition Custom Labels results)"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in category.items()],
    }


# ------------------------------------------------------------------------- CSV


def to_csv(items: Iterable[Item]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        entries = scored(item)
        if not entries:
            writer.writerow([item.key, item.image_key or "", "", "", "", "", "", "", ""])
        for entry in entries:
            box = entry.label.box
            writer.writerow(
                [
                    item.key,
                    item.image_key or "",
                    entry.label.name,
                    f"{entry.label.confidence:.3f}",
                    "true" if entry.counted else "false",
                    *(
                        [f"{v:.6f}" for v in (box.left, box.top, box.width, box.height)]
                        if box
                        else ["", "", "", ""]
                    ),
                ]
            )
    return buffer.getvalue()


# ------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class ExportRequest:
    format: str
    labels: tuple[str, ...] = ()
    below: float | None = None
    below_threshold: bool = False
    s3_uri: bool = False
    expires: int = MAX_EXPIRES_SECONDS
    concurrency: int = 16


def export(
    s3: Any,
    bucket: str,
    items: Sequence[Item],
    request: ExportRequest,
) -> tuple[str, str | None]:
    """(the export's text, a Label Studio labeling config or None) for the chosen items."""
    if request.format not in FORMATS:
        raise UserError(f"unknown format {request.format!r}: use {', '.join(FORMATS)}")

    def s3_uri(item: Item) -> str:
        return f"s3://{bucket}/{item.image_key or item.key}"

    def presigned(item: Item) -> str:
        return str(
            s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": item.image_key or item.key},
                ExpiresIn=request.expires,
            )
        )

    if request.format == "csv":
        return to_csv(items), None
    if request.format == "coco":
        sizes = fetch_sizes(s3, bucket, items, request.concurrency)
        return json.dumps(to_coco(items, sizes, s3_uri), indent=1, ensure_ascii=False), None
    locate = s3_uri if request.s3_uri else presigned
    tasks = [labelstudio_task(item, locate(item)) for item in items]
    return json.dumps(tasks, indent=1, ensure_ascii=False), labeling_config(items)
