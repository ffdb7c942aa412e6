"""Deterministic "custom labels" computed from image content (EMULATION ONLY).

This is not a model. It gives the emulated DetectCustomLabels something
meaningful and checkable to return, so a demo shows believable output and a
test can predict it: the image is reduced to a small named-colour palette;
the colour that dominates the image border is the *background* (an
image-level label without geometry, like a classification model returns);
every other colour that covers at least ``MIN_AREA`` of the image becomes an
object label ``"<colour> <shape>"`` with a bounding box and a polygon (like
an object-detection model returns). The shape is guessed from how much of
its bounding box the colour fills (square/rectangle ~1.0, circle/ellipse
~pi/4, triangle ~0.5). One label per colour, not per connected region.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from typing import Any

from PIL import Image

# Named palette (RGB). Nearest-colour mapping, no dithering.
PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("black", (0, 0, 0)),
    ("white", (255, 255, 255)),
    ("gray", (128, 128, 128)),
    ("red", (220, 30, 30)),
    ("green", (30, 160, 60)),
    ("blue", (30, 60, 220)),
    ("yellow", (240, 220, 40)),
    ("orange", (250, 140, 20)),
    ("purple", (130, 50, 160)),
    ("cyan", (40, 200, 220)),
    ("magenta", (220, 40, 200)),
    ("brown", (130, 80, 40)),
    ("pink", (250, 170, 190)),
)
ANALYSIS_SIZE = 96  # longest side, in pixels, of the image the labels are computed on
MIN_AREA = 0.01  # a colour must cover 1% of the image to become an object label
_SHAPES = (("rectangle", 1.0), ("ellipse", math.pi / 4), ("triangle", 0.5))


class ImageDecodeError(ValueError):
    """The bytes claim to be PNG/JPEG but Pillow cannot decode them."""


def _palette_image() -> Image.Image:
    flat: list[int] = []
    for _, rgb in PALETTE:
        flat.extend(rgb)
    # Pad with copies of the first colour so no pixel maps to an unnamed entry.
    flat.extend(PALETTE[0][1] * (256 - len(PALETTE)))
    pal = Image.new("P", (1, 1))
    pal.putpalette(flat)
    return pal


_PALETTE_IMAGE = _palette_image()


def _decode(data: bytes) -> Image.Image:
    try:
        img: Image.Image = Image.open(io.BytesIO(data))
        if img.format == "JPEG":
            img.draft("RGB", (ANALYSIS_SIZE * 2, ANALYSIS_SIZE * 2))
        img.load()
        img = img.convert("RGB")
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise ImageDecodeError(f"cannot decode image: {exc}") from None
    img.thumbnail((ANALYSIS_SIZE, ANALYSIS_SIZE), Image.Resampling.NEAREST)
    return img


def _shape(fill: float, width_px: int, height_px: int) -> tuple[str, float]:
    name, ideal = min(_SHAPES, key=lambda s: abs(fill - s[1]))
    square = abs(width_px - height_px) <= max(1, 0.1 * max(width_px, height_px))
    if square and name == "rectangle":
        name = "square"
    elif square and name == "ellipse":
        name = "circle"
    confidence = max(1.0, min(99.9, 100.0 - 200.0 * abs(fill - ideal)))
    return name, confidence


def compute_labels(data: bytes) -> list[dict[str, Any]]:
    """Labels for PNG/JPEG bytes, highest confidence first (uncached)."""
    img = _decode(data)
    quantized = img.quantize(palette=_PALETTE_IMAGE, dither=Image.Dither.NONE)
    width, height = quantized.size
    total = width * height
    counts = quantized.histogram()[: len(PALETTE)]

    px: Any = quantized.load()  # mode "P": each pixel is its palette index
    border = [0] * len(PALETTE)
    for x in range(width):
        border[px[x, 0]] += 1
        border[px[x, height - 1]] += 1
    for y in range(height):
        border[px[0, y]] += 1
        border[px[width - 1, y]] += 1
    background = max(range(len(PALETTE)), key=lambda i: (border[i], counts[i], -i))

    labels: list[dict[str, Any]] = [
        {
            "Name": f"{PALETTE[background][0]} background",
            "Confidence": round(100.0 * border[background] / sum(border), 3),
        }
    ]
    for index, count in enumerate(counts):
        if index == background or count < MIN_AREA * total:
            continue
        mask = quantized.point(lambda v, i=index: 255 if v == i else 0, mode="L")
        box = mask.getbbox()
        assert box is not None  # count > 0, so never None
        left, top, right, bottom = box
        box_w, box_h = right - left, bottom - top
        shape, confidence = _shape(count / (box_w * box_h), box_w, box_h)
        bbox = {
            "Width": round(box_w / width, 6),
            "Height": round(box_h / height, 6),
            "Left": round(left / width, 6),
            "Top": round(top / height, 6),
        }
        polygon = [
            {"X": bbox["Left"], "Y": bbox["Top"]},
            {"X": round(right / width, 6), "Y": bbox["Top"]},
            {"X": round(right / width, 6), "Y": round(bottom / height, 6)},
            {"X": bbox["Left"], "Y": round(bottom / height, 6)},
        ]
        labels.append(
            {
                "Name": f"{PALETTE[index][0]} {shape}",
                "Confidence": round(confidence, 3),
                "Geometry": {"BoundingBox": bbox, "Polygon": polygon},
            }
        )
    labels.sort(key=lambda label: (-label["Confidence"], label["Name"]))
    return labels


class LabelCache:
    """LRU cache by content digest: the same image always gets the same labels,
    and benchmarks that send one image thousands of times don't measure Pillow."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: OrderedDict[bytes, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def labels(self, data: bytes) -> list[dict[str, Any]]:
        digest = hashlib.sha256(data).digest()
        with self._lock:
            hit = self._items.get(digest)
            if hit is not None:
                self._items.move_to_end(digest)
                return [dict(label) for label in hit]
        computed = compute_labels(data)
        with self._lock:
            self._items[digest] = computed
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return [dict(label) for label in computed]


def sniff_format(data: bytes) -> str | None:
    """'PNG' or 'JPEG' by magic number (Rekognition ignores the object's name)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    return None
