"""Requests made in bursts: one call for the images of an invocation that ask together.

The images of a batch run concurrently and tend to reach the same step together
(they wait for their model calls at the same time). A :class:`Burst` collects
what they ask for and sends it as one request (DeleteObjects for the source
deletes, PutEvents for the label alerts), which saves a request per image.

When is a burst sent? As soon as every image still at work in the invocation is
waiting in the burst (nothing more will join), when ``max_items`` are waiting,
or ``linger`` seconds after the first one arrived (so that one image backing off
from a throttle does not hold the others back). Each image gets its own answer
through its future; the subclass decides how a burst is split into requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")


class Burst(Generic[Item]):
    """Collects one invocation's items (one event loop); :meth:`_dispatch` sends them."""

    def __init__(self, *, linger: float, max_items: int) -> None:
        self.linger = linger
        self.max_items = max_items
        self._working = 0  # images inside working(), waiting or not
        self._waiting = 0  # of those, the ones waiting for their answer
        self._pending: list[Item] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sends: set[asyncio.Task[None]] = set()

    @contextmanager
    def working(self) -> Iterator[None]:
        """Mark one image as at work (it may still join a burst) while the block runs."""
        self._working += 1
        try:
            yield
        finally:
            self._working -= 1
            self._maybe_send()

    async def _join(self, item: Item, answer: asyncio.Future[bool]) -> bool:
        """Add ``item`` to the next burst and wait for its ``answer``."""
        self._pending.append(item)
        self._waiting += 1
        try:
            if len(self._pending) >= self.max_items:
                self._send()
            else:
                self._maybe_send()
                if self._pending and self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(self.linger, self._send)
            return await answer
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
        self._dispatch(pending)

    def _dispatch(self, pending: list[Item]) -> None:
        """Start the requests for ``pending`` (with :meth:`_spawn`); each sets its items' answers."""
        raise NotImplementedError

    def _spawn(self, request: Coroutine[Any, Any, None]) -> None:
        """Run one request as a task kept alive until it ends."""
        task = asyncio.get_running_loop().create_task(request)
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
