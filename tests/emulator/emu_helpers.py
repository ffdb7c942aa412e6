"""Helpers shared by the emulator's tests (images: tests/factories.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/shapes/version/shapes.2024-05-01/1714550400000"


def run_off_main_thread(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a worker thread.

    asyncio.run on the main thread ends with no current event loop set there,
    and code that later calls ``asyncio.get_event_loop()`` on the main thread
    (Pulumi's mocks in tests/infra, run in the same process) then fails.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
