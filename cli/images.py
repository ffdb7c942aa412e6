"""Recognising PNG and JPEG by their bytes, not their names.

Rekognition accepts only PNG and JPEG; anything else sent through the
pipeline costs a Lambda invocation and ends under ``failed/``. Checking the
magic numbers before upload catches renamed files and stray documents.
"""

from __future__ import annotations

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
SNIFF_BYTES = 8

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def sniff(head: bytes) -> str | None:
    """``"png"``, ``"jpeg"`` or None for the first bytes of a file."""
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    return None


def has_image_suffix(key: str, suffixes: tuple[str, ...]) -> bool:
    """Whether the pipeline's suffix filter (case-insensitive) admits ``key``."""
    return key.lower().endswith(tuple(s.lower() for s in suffixes))
