"""Sample images for the demo, generated (no licences, no downloads).

Each image is a plain background with one to three filled shapes in named
colours, so the local model emulator (emulator/labels.py) returns labels a
person can check by eye: "<colour> background", "<colour> <shape>" with a box.
Two files are bad on purpose, to show the ``failed/`` path: a PNG cut short
(corrupt) and a text file named like a JPEG (not an image).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

# Colours that the emulator's palette names exactly (RGB as in emulator/labels.py).
COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "orange": (250, 140, 20),
    "purple": (130, 50, 160),
    "cyan": (40, 200, 220),
    "black": (0, 0, 0),
}
BACKGROUNDS = ("white", "black", "cyan", "yellow")
SHAPES = ("square", "rectangle", "circle", "ellipse", "triangle")
CORRUPT_NAME = "broken/corrupt.png"
NOT_IMAGE_NAME = "broken/not-an-image.jpg"


@dataclass(frozen=True)
class Sample:
    """One generated file and the labels a correct model would give it."""

    path: Path
    key: str  # relative path, used as the S3 key under the upload prefix
    expected: tuple[str, ...]  # label names ("white background", "red circle", ...)
    valid: bool


def _draw(
    draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], rgb: tuple[int, int, int]
) -> None:
    left, top, right, bottom = box
    if shape in ("square", "rectangle"):
        draw.rectangle(box, fill=rgb)
    elif shape in ("circle", "ellipse"):
        draw.ellipse(box, fill=rgb)
    else:
        draw.polygon([(left, bottom), (right, bottom), (left, top)], fill=rgb)


def _image(rng: random.Random, size: int) -> tuple[Image.Image, tuple[str, ...]]:
    background = rng.choice(BACKGROUNDS)
    img = Image.new("RGB", (size, size), COLOURS[background])
    draw = ImageDraw.Draw(img)
    choices = [c for c in COLOURS if c != background]
    colours = rng.sample(choices, rng.randint(1, 3))
    labels = [f"{background} background"]
    # Shapes go in separate columns so they never overlap (one label per colour).
    column = size // len(colours)
    for index, colour in enumerate(colours):
        shape = rng.choice(SHAPES)
        pad = max(2, column // 8)
        width = column - 2 * pad
        height = width if shape in ("square", "circle") else width // 2
        left = index * column + pad
        top = rng.randint(pad, size - height - pad)
        _draw(draw, shape, (left, top, left + width, top + height), COLOURS[colour])
        labels.append(f"{colour} {shape}")
    return img, tuple(labels)


def generate(directory: Path, count: int = 24, *, seed: int = 7, size: int = 160) -> list[Sample]:
    """Write ``count`` images (PNG and JPEG alternately) plus the two bad files.

    Deterministic for a given seed, so the demo's output is the same each time.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    for number in range(count):
        img, labels = _image(rng, size)
        fmt, suffix = ("PNG", "png") if number % 2 == 0 else ("JPEG", "jpg")
        key = f"shapes/sample-{number:03d}.{suffix}"
        path = directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        options = {"quality": 95} if fmt == "JPEG" else {}
        img.save(path, fmt, **options)
        samples.append(Sample(path=path, key=key, expected=labels, valid=True))

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), COLOURS["blue"]).save(buffer, "PNG")
    corrupt = directory / CORRUPT_NAME
    corrupt.parent.mkdir(parents=True, exist_ok=True)
    corrupt.write_bytes(buffer.getvalue()[:40])  # valid signature, truncated data
    samples.append(Sample(path=corrupt, key=CORRUPT_NAME, expected=(), valid=False))
    text = directory / NOT_IMAGE_NAME
    text.write_text(
        "This is a text file with an image name; the pipeline files it under failed/.\n"
    )
    samples.append(Sample(path=text, key=NOT_IMAGE_NAME, expected=(), valid=False))
    return samples


def files_in(directory: Path) -> list[tuple[Path, str]]:
    """(path, key) for every file under ``directory`` (for ``--images DIR``)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory")
    return sorted(
        (path, path.relative_to(directory).as_posix())
        for path in directory.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )
