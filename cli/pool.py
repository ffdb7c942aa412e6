"""A thread pool that lets Ctrl-C stop the command at once.

``ThreadPoolExecutor``'s own context manager waits for every queued task on
exit, so an interrupted upload of 10 000 files would go on uploading. Here
an exception (KeyboardInterrupt included) cancels what has not started and
returns without waiting; the tasks already running finish on their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


@contextmanager
def worker_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
