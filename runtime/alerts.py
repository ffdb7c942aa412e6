"""Label alerts: an EventBridge event per image with a label of interest.

For each image with a label at or above its ``ALERT_LABELS`` confidence
(runtime/thresholds.py), the function puts one event on the account's default
bus: source ``rekognition-batch``, detail-type ``Rekognition Batch Label
Detected``, detail as :func:`alert_detail` builds it. A rule on that
detail-type (the stack's optional ``alertEmail`` rule -> SNS, or your own)
takes it from there.

When, and what if it fails. The pipeline asks for the alert after the image's
result document and its copy exist and before the source is deleted
(runtime/pipeline.py), so a crash before the event is accepted leaves the
source in place and the redelivery sends it again: alerts are at least once
(the detail carries the source ETag to tell duplicates apart). An alert never
loses or fails the image: a rejected entry or a failed request is retried with
jittered back-off while the invocation has time (at most
``RETRY_WINDOW_S``), then given up with an ERROR log line naming the image
and the ``LabelAlertsFailed`` metric; the image goes on to its delete.

Batching, like the source deletes (runtime/deletes.py): images that reach
this step together share one PutEvents request (at most ``MAX_ENTRIES`` = 10
entries and ``MAX_REQUEST_BYTES`` = 256 KB, computed as EventBridge does:
Source + DetailType + Detail + Resources, UTF-8). PutEvents answers 200 with
``FailedEntryCount`` > 0 and a per-entry ``ErrorCode`` for entries it did not
take: only those are sent again.

Pure apart from the client it is given: standard library and runtime modules
only, so infra/ imports the event's names from here.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from runtime import errors, throttle
from runtime.bursts import Burst

EVENT_SOURCE = "rekognition-batch"
DETAIL_TYPE = "Rekognition Batch Label Detected"
DETAIL_SCHEMA_VERSION = 1

MAX_ENTRIES = 10  # PutEvents: 1-10 entries per request
MAX_REQUEST_BYTES = 256 * 1024  # PutEvents: the entries of one request, 256 KB in all
LINGER_S = 0.05
# Retries of entries or requests that failed transiently: back-off BASE * 2**n
# capped, equal jitter, for at most this long (and never past the invocation's deadline).
RETRY_WINDOW_S = 10.0
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0
DEADLINE_MARGIN_S = 0.5

# Per-entry codes PutEvents documents as worth retrying; any other is final.
RETRYABLE_ENTRY_CODES = frozenset({"InternalFailure", "ThrottlingException", "Throttling"})

METRIC_SENT = "LabelAlertsSent"
METRIC_FAILED = "LabelAlertsFailed"


class _Metrics(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


class _Log(Protocol):
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None: ...
    def error(self, msg: str, *args: Any, **kwargs: Any) -> None: ...


def alert_detail(
    document: Mapping[str, Any],
    matches: Sequence[Mapping[str, Any]],
    alert_labels: Mapping[str, float],
) -> dict[str, Any]:
    """The event's detail for a result document and the labels that matched."""
    source = document.get("source") or {}
    output = document.get("output") or {}
    return {
        "schemaVersion": DETAIL_SCHEMA_VERSION,
        "bucket": output.get("bucket"),
        "imageKey": output.get("imageKey"),
        "resultKey": output.get("resultKey"),
        "source": {
            "bucket": source.get("bucket"),
            "key": source.get("key"),
            "etag": source.get("etag"),
        },
        "labels": [
            {
                "name": str(label.get("Name", "")),
                "confidence": label.get("Confidence"),
                "alertConfidence": alert_labels.get(str(label.get("Name", ""))),
                "box": _box(label),
            }
            for label in matches
        ],
        "projectVersionArn": document.get("projectVersionArn"),
        "processedAt": document.get("processedAt"),
    }


def build_entry(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A PutEvents entry for the default bus, cut to fit one request if it must be.

    An image with thousands of matching labels could exceed 256 KB on its own:
    the least confident labels are then left out and ``labelsOmitted`` says
    how many (the result document has them all).
    """
    detail = dict(detail)
    entry = _entry(detail)
    labels = list(detail.get("labels") or [])
    if entry_size(entry) <= MAX_REQUEST_BYTES:
        return entry
    labels.sort(key=lambda label: -float(label.get("confidence") or 0))
    keep = len(labels)
    while keep > 0 and entry_size(entry) > MAX_REQUEST_BYTES:
        keep //= 2
        detail["labels"] = labels[:keep]
        detail["labelsOmitted"] = len(labels) - keep
        entry = _entry(detail)
    return entry


def entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it against the 256 KB of a request."""
    size = 14 if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode("utf-8"))
    size += sum(len(str(r).encode("utf-8")) for r in entry.get("Resources") or [])
    return size


def requests_of(entries: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indexes of ``entries`` grouped into PutEvents requests (<= 10 entries, <= 256 KB)."""
    groups: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, entry in enumerate(entries):
        this = entry_size(entry)
        if current and (len(current) >= MAX_ENTRIES or size + this > MAX_REQUEST_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(index)
        size += this
    if current:
        groups.append(current)
    return groups


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng() * ceiling / 2


def is_retryable(exc: BaseException) -> bool:
    """A whole request that failed: throttles, 5xx and network errors are worth retrying;
    4xx answers (AccessDenied: the role lacks events:PutEvents; validation) are not."""
    if throttle.is_throttle(exc):
        return True
    status = errors.http_status(exc)
    if status is not None:
        return status >= 500
    return errors.error_code(exc) is None  # no AWS answer: a timeout or a network error


_Item = tuple[dict[str, Any], str, "asyncio.Future[bool]"]  # entry, image key, its answer


class AlertPublisher(Burst[_Item]):
    """Collects one invocation's alerts (one event loop) into PutEvents requests.

    ``client`` returns the EventBridge client (entered on first use, so an
    invocation without alerts never creates it). ``deadline`` is a
    ``loop.time()`` value the retries never go past.
    """

    def __init__(
        self,
        client: Callable[[], Awaitable[Any]],
        *,
        logger: _Log,
        metrics: _Metrics,
        deadline: float | None = None,
        linger: float = LINGER_S,
        retry_window: float = RETRY_WINDOW_S,
        rng: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(linger=linger, max_items=MAX_ENTRIES)
        self.client = client
        self.logger = logger
        self.metrics = metrics
        self.deadline = deadline
        self.retry_window = retry_window
        self.rng = rng

    async def publish(self, entry: dict[str, Any], image_key: str) -> bool:
        """Send ``entry`` with the next request; True once EventBridge took it, False
        when it was given up (logged and counted). Never raises for a failed send."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        return await self._join((entry, image_key, future), future)

    def _dispatch(self, pending: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.retry_window
        if self.deadline is not None:
            give_up_at = min(give_up_at, self.deadline - DEADLINE_MARGIN_S)
        for group in requests_of([entry for entry, _, _ in pending]):
            items = [pending[i] for i in group]
            self._spawn(self._put(items, give_up_at))

    async def _put(self, items: list[_Item], give_up_at: float) -> None:
        loop = asyncio.get_running_loop()
        remaining = items
        attempt = 0
        last_problem = "no attempt made: the invocation had no time left"
        try:
            while remaining and loop.time() < give_up_at:
                attempt += 1
                try:
                    client = await self.client()
                    async with asyncio.timeout_at(give_up_at):
                        response = await client.put_events(Entries=[e for e, _, _ in remaining])
                except TimeoutError:
                    last_problem = "PutEvents did not answer in time"
                    break
                except Exception as exc:  # classified: a failed send is never the image's
                    last_problem = f"{errors.error_code(exc) or type(exc).__name__}: {exc}"
                    if not is_retryable(exc):
                        break
                else:
                    remaining, last_problem = self._settle(remaining, response)
                if remaining:
                    delay = backoff_delay(attempt, self.rng)
                    if loop.time() + delay >= give_up_at:
                        break
                    await asyncio.sleep(delay)
        finally:
            for _, image_key, future in remaining:
                self._give_up(image_key, future, last_problem, attempt)

    def _settle(self, items: list[_Item], response: Mapping[str, Any]) -> tuple[list[_Item], str]:
        """Resolve the entries EventBridge took or refused for good; return the ones to retry."""
        results = list(response.get("Entries") or [])
        retry: list[_Item] = []
        problem = ""
        for index, (entry, image_key, future) in enumerate(items):
            result = results[index] if index < len(results) else {}
            code = result.get("ErrorCode")
            if result.get("EventId") and not code:
                self.metrics.add_metric(METRIC_SENT, "Count", 1)
                if not future.done():
                    future.set_result(True)
                continue
            problem = f"{code or 'NoEventId'}: {result.get('ErrorMessage') or 'entry not accepted'}"
            if code in RETRYABLE_ENTRY_CODES or code is None:
                retry.append((entry, image_key, future))
            else:
                self._give_up(image_key, future, problem, 1)
        return retry, problem

    def _give_up(
        self, image_key: str, future: asyncio.Future[bool], problem: str, attempts: int
    ) -> None:
        if future.done():  # the image was cancelled meanwhile; still count the alert
            pass
        else:
            future.set_result(False)
        self.metrics.add_metric(METRIC_FAILED, "Count", 1)
        self.logger.error(
            "label alert not delivered (the image's result is written; the alert is lost)",
            extra={"key": image_key, "problem": problem, "attempts": attempts},
        )


def _entry(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Source": EVENT_SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, separators=(",", ":"), ensure_ascii=False),
    }


def _box(label: Mapping[str, Any]) -> dict[str, float] | None:
    geometry = label.get("Geometry")
    box = geometry.get("BoundingBox") if isinstance(geometry, Mapping) else None
    if not isinstance(box, Mapping):
        return None
    try:
        return {name.lower(): float(box[name]) for name in ("Left", "Top", "Width", "Height")}
    except (KeyError, TypeError, ValueError):
        return None
