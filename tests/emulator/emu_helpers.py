"""Helpers shared by the emulator's tests (a unique module name: tests/ dirs
have no __init__.py, so pytest puts each on sys.path)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PIL import Image, ImageDraw

T = TypeVar("T")

VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/shapes/version/shapes.2024-05-01/1714550400000"


def make_image(fmt: str = "PNG", size: tuple[int, int] = (200, 100)) -> bytes:
    """White background, a red circle on the left, a blue rectangle on the right."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.ellipse((w * 0.1, h * 0.2, w * 0.4, h * 0.8), fill=(220, 30, 30))
    draw.rectangle((w * 0.6, h * 0.1, w * 0.95, h * 0.9), fill=(30, 60, 220))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def run_off_main_thread(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a worker thread.

    asyncio.run on the main thread ends with no current event loop set there,
    and code that later calls ``asyncio.get_event_loop()`` on the main thread
    (Pulumi's mocks in tests/infra, run in the same process) then fails.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
