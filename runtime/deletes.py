"""Source deletes in bursts: one DeleteObjects for the images that finish together.

Deleting the source is the last step of every image (runtime/pipeline.py), and
the images of a batch tend to reach it together: they wait for their model
calls at the same time. One ``DeleteObjects`` request for all of them instead
of a ``DeleteObject`` each saves a request per image, which is CPU in the
Lambda (signing, parsing) and a round trip (bench/bench_handler.py).

The order that makes the pipeline loss-free is unchanged: an image asks for its
delete only after its result document and its copy exist, and its ``delete``
returns only when S3 has answered for its key. A per-key error, or the request
failing as a whole, raises in exactly the images concerned, which are then
retried like any failed step.

When is a burst sent? As soon as every image still at work in the invocation
is waiting for its delete (nothing more will join), when ``MAX_KEYS`` keys are
waiting, or ``linger`` seconds after the first key arrived (so that one image
backing off from a throttle does not hold the others' deletes back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

MAX_KEYS = 1000  # DeleteObjects takes at most 1000 keys
LINGER_S = 0.05


class SourceDeleter:
    """Collects the source deletes of one invocation's images (one event loop)."""

    def __init__(self, s3: Any, *, linger: float | None = None, max_keys: int = MAX_KEYS) -> None:
        self.s3 = s3
        self.linger = LINGER_S if linger is None else linger
        self.max_keys = max_keys
        self._working = 0  # images inside working(), waiting or not
        self._waiting = 0  # of those, the ones waiting in delete()
        self._pending: list[tuple[str, str, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sends: set[asyncio.Task[None]] = set()

    @contextmanager
    def working(self) -> Iterator[None]:
        """Mark one image as at work for as long as the block runs."""
        self._working += 1
        try:
            yield
        finally:
            self._working -= 1
            self._maybe_send()

    async def delete(self, bucket: str, key: str) -> None:
        """Delete ``key`` from ``bucket`` with the next burst; raises its error, if any."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((bucket, key, future))
        self._waiting += 1
        try:
            if len(self._pending) >= self.max_keys:
                self._send()
            else:
                self._maybe_send()
                if self._pending and self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(self.linger, self._send)
            await future
        finally:
            self._waiting -= 1

    def _maybe_send(self) -> None:
        if self._pending and self._waiting >= self._working:
            self._send()

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        by_bucket: dict[str, list[tuple[str, asyncio.Future[None]]]] = {}
        for bucket, key, future in pending:
            by_bucket.setdefault(bucket, []).append((key, future))
        for bucket, items in by_bucket.items():
            task = asyncio.get_running_loop().create_task(self._delete_objects(bucket, items))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _delete_objects(
        self, bucket: str, items: list[tuple[str, asyncio.Future[None]]]
    ) -> None:
        keys = list(dict.fromkeys(key for key, _ in items))  # a duplicate message: once
        try:
            response = await self.s3.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        except BaseException as exc:
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        errors = {e.get("Key"): e for e in response.get("Errors") or []}
        for key, future in items:
            if future.done():  # its image was cancelled meanwhile
                continue
            error = errors.get(key)
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(
                    ClientError(
                        {
                            "Error": {
                                "Code": str(error.get("Code") or "InternalError"),
                                "Message": str(error.get("Message") or "DeleteObjects failed"),
                            }
                        },
                        "DeleteObjects",
                    )
                )
