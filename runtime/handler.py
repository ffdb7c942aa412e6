"""The inference Lambda: SQS batch of S3 notifications in, partial batch response out.

Entry points:

- ``runtime.handler.lambda_handler`` - the Lambda handler. Its settings are read
  from the environment when the Lambda runtime resolves this attribute during
  the init phase (cold start), so a missing variable fails the cold start with
  a message naming it. Importing the module alone needs no environment, which
  lets the local poller and the tests use :func:`make_handler`.
- :func:`make_handler` - the same handler for explicit settings.

Event loops. Powertools' ``AsyncBatchProcessor.async_process`` runs its records
with ``asyncio.run`` outside Lambda (a new loop per call, closed afterwards) and
with ``asyncio.get_event_loop`` inside Lambda; neither gives a loop that is
stable per thread, and the first kills any client cached from a previous
invocation. The handler therefore owns one event loop per thread (created on
the thread's first invocation, reused by its warm invocations) and a processor
subclass runs Powertools' per-record processing on that loop. Clients and
semaphores are created inside that loop (see ``runtime.clients``), so nothing
bound to a loop is ever shared across loops or threads, and a handler may be
called from several threads at once (the local poller does).

Powertools objects: the ``Logger`` is module-level (stdlib logging is thread
safe; per-invocation keys go through ``thread_safe_append_keys``). ``Metrics``
keeps its metric set in class attributes shared by every instance and thread,
so each invocation uses its own ``AmazonCloudWatchEMFProvider`` and flushes it
at the end: same EMF output, no cross-thread mixing.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from runtime import settings as env_names
from runtime.clients import LoopResources
from runtime.errors import RetryImage
from runtime.events import MessageKind, parse_message
from runtime.pipeline import ImagePipeline
from runtime.settings import Settings
from runtime.visibility import (
    CALL_TIMEOUT_MARGIN_S,
    CALL_TIMEOUT_S,
    change_visibility,
    plan,
)


def _env_or_default(name: str) -> str:
    return os.environ.get(name) or env_names.DEFAULTS[name]


logger = Logger(
    service=_env_or_default(env_names.POWERTOOLS_SERVICE_NAME),
    level=env_names.log_level_from_env(os.environ),
)

# Time kept back from the Lambda timeout to return the partial batch response:
# images still running then are cancelled and reported for retry.
MIN_SAFETY_MARGIN_S = 1.0
MAX_SAFETY_MARGIN_S = 5.0
SAFETY_MARGIN_FRACTION = 0.1

METRIC_INVALID_MESSAGES = "InvalidMessages"

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class RetryMessage(Exception):
    """Some images of an SQS message must be retried: the message goes into batchItemFailures."""


class _LoopBatchProcessor(AsyncBatchProcessor):
    """Powertools' async batch processor, run on the handler's per-thread loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Entire-batch failure is reported record by record rather than raised:
        # the response is the same for SQS, and the caller always gets a dict.
        super().__init__(EventType.SQS, raise_on_entire_batch_failure=False)
        self._loop = loop

    def async_process(self) -> list[tuple[Any, ...]]:
        async def process_all() -> list[tuple[Any, ...]]:
            return list(
                await asyncio.gather(*(self._async_process_record(r) for r in self.records))
            )

        return self._loop.run_until_complete(process_all())


class _ThreadState:
    """One thread's event loop and the resources opened inside it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.resources: LoopResources | None = None
        self.busy = False  # an invocation is running on this loop
        self.detached = False  # close() was called: finish, shut down, never reuse

    def shutdown(self) -> None:
        """Close the clients, then the loop; only while no invocation runs on it."""
        if self.loop.is_closed():
            return
        try:
            if self.resources is not None:
                self.loop.run_until_complete(self.resources.aclose())
                self.resources = None
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


class BatchHandler:
    """The Lambda handler for given settings; callable as ``handler(event, context)``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._states: list[_ThreadState] = []
        self._states_lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        state = self._enter()
        try:
            return self._invoke(state, event, context)
        finally:
            self._leave(state)

    def _invoke(self, state: _ThreadState, event: dict[str, Any], context: Any) -> dict[str, Any]:
        loop = state.loop
        if state.resources is None:
            state.resources = loop.run_until_complete(LoopResources.open(self.settings))
        resources = state.resources

        metrics = AmazonCloudWatchEMFProvider(
            namespace=_env_or_default(env_names.POWERTOOLS_METRICS_NAMESPACE),
            service=_env_or_default(env_names.POWERTOOLS_SERVICE_NAME),
        )
        request_id = getattr(context, "aws_request_id", None)
        if request_id:
            logger.thread_safe_append_keys(request_id=request_id)
        pipeline = ImagePipeline(
            self.settings,
            s3=resources.s3,
            rekognition=resources.rekognition,
            model_slots=resources.model_slots,
            image_slots=resources.image_slots,
            logger=logger,
            metrics=metrics,
            deadline=_deadline(loop, context),
        )

        async def record_handler(record: SQSRecord) -> int:
            return await _handle_message(pipeline, metrics, record)

        try:
            response = async_process_partial_response(
                event=event,
                record_handler=record_handler,
                processor=_LoopBatchProcessor(loop),
                context=context,
            )
            # A TypedDict: a plain dict at run time.
            result = cast(dict[str, Any], response)
            self._retry_soon(loop, resources, event, result, context)
            return result
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()
            if request_id:
                logger.thread_safe_remove_keys(["request_id"])

    def _retry_soon(
        self,
        loop: asyncio.AbstractEventLoop,
        resources: LoopResources,
        event: dict[str, Any],
        response: dict[str, Any],
        context: Any,
    ) -> None:
        """Give the records reported for retry a short visibility (runtime/visibility.py).

        Best effort by design: whatever happens here, the caller returns the same
        response, so a record is never lost (not reported) nor duplicated.
        """
        failures = response.get("batchItemFailures") or []
        ids = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]
        records = event.get("Records") if isinstance(event, dict) else None
        if not ids or not isinstance(records, list):
            return
        try:
            entries = plan(
                [r for r in records if isinstance(r, dict)],
                [i for i in ids if isinstance(i, str)],
                base=self.settings.retry_visibility_base_seconds,
                cap=self.settings.retry_visibility_max_seconds,
                logger=logger,
            )
            if not entries:
                return
            timeout = _visibility_call_timeout(context)

            async def shorten() -> None:
                sqs = await resources.sqs()  # local work: no request is sent
                await change_visibility(sqs, entries, budget_s=timeout, logger=logger)

            loop.run_until_complete(shorten())
        except Exception:
            logger.exception(
                "could not shorten the visibility of records to retry; they come back after "
                "the queue's visibility timeout",
                extra={"records": len(ids)},
            )

    def warm(self) -> None:
        """Open this thread's event loop and clients now instead of at the first invocation.

        Lambda's init phase (resolving ``lambda_handler``) runs on the thread
        that then serves every invocation, so the cold start pays for imports,
        parsed service models and client creation before the first batch is
        delivered rather than while it waits; warm invocations are unchanged.
        """
        state = self._enter()
        try:
            if state.resources is None:
                state.resources = state.loop.run_until_complete(LoopResources.open(self.settings))
        finally:
            self._leave(state)

    def close(self) -> None:
        """Close every thread's clients and loop (for the local poller and tests).

        Lambda never calls this: its process is frozen and discarded. Loops idle
        now are closed here; a loop with an invocation running is closed by its
        own thread when that invocation returns. Calling the handler again after
        ``close`` opens fresh loops and clients.
        """
        with self._states_lock:
            states, self._states = self._states, []
            for state in states:
                state.detached = True
            idle = [state for state in states if not state.busy]
        for state in idle:
            state.shutdown()

    def _enter(self) -> _ThreadState:
        state: _ThreadState | None = getattr(self._local, "state", None)
        with self._states_lock:
            if state is None or state.detached or state.loop.is_closed():
                state = _ThreadState()
                self._local.state = state
                self._states.append(state)
            state.busy = True
        return state

    def _leave(self, state: _ThreadState) -> None:
        with self._states_lock:
            state.busy = False
            closing = state.detached
        if closing:
            state.shutdown()


def make_handler(settings: Settings) -> BatchHandler:
    """The Lambda handler for explicit settings (thread safe; one loop per calling thread)."""
    return BatchHandler(settings)


async def _handle_message(pipeline: ImagePipeline, metrics: Any, record: SQSRecord) -> int:
    """Process every image of one SQS message; raise to have the message retried.

    Returns the number of images handled. Images of one message run
    concurrently and independently: one image's failure never cancels another.
    """
    message_id = record.message_id
    parsed = parse_message(record.body)
    if parsed.kind is MessageKind.INVALID:
        metrics.add_metric(METRIC_INVALID_MESSAGES, "Count", 1)
        logger.error(
            "message acknowledged without work: not an S3 event notification",
            extra={"message_id": message_id, "problems": list(parsed.problems)},
        )
        return 0
    if parsed.kind is MessageKind.TEST_EVENT:
        logger.info("s3:TestEvent acknowledged", extra={"message_id": message_id})
        return 0
    if parsed.kind is MessageKind.IGNORED:
        logger.info(
            "message acknowledged without work: no ObjectCreated record",
            extra={"message_id": message_id, "events": list(parsed.ignored_events)},
        )
        return 0
    if parsed.problems:
        metrics.add_metric(METRIC_INVALID_MESSAGES, "Count", 1)
        logger.error(
            "some records of the message are not S3 ObjectCreated records; skipped",
            extra={"message_id": message_id, "problems": list(parsed.problems)},
        )

    refs = [ref for ref in parsed.objects if ref.bucket != pipeline.settings.final_bucket]
    if len(refs) < len(parsed.objects):
        # Objects written by this function: processing them would write more
        # objects into the same bucket, an endless loop (a misconfigured
        # notification on the final bucket).
        metrics.add_metric(METRIC_INVALID_MESSAGES, "Count", 1)
        logger.error(
            "records about the final bucket ignored (notification loop)",
            extra={"message_id": message_id, "bucket": pipeline.settings.final_bucket},
        )
    results = await asyncio.gather(
        *(pipeline.process(ref, message_id) for ref in refs), return_exceptions=True
    )
    retries = [r for r in results if isinstance(r, BaseException)]
    for result in retries:
        if not isinstance(result, RetryImage):  # a bug in the pipeline itself
            raise result
    if retries:
        codes = sorted({r.code for r in retries if isinstance(r, RetryImage)})
        raise RetryMessage(f"{len(retries)} of {len(refs)} image(s) to retry: {', '.join(codes)}")
    return len(refs)


def _deadline(loop: asyncio.AbstractEventLoop, context: Any) -> float | None:
    """The loop time by which images must be done, from the Lambda context if there is one."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    seconds: float = remaining() / 1000
    margin = min(MAX_SAFETY_MARGIN_S, max(MIN_SAFETY_MARGIN_S, seconds * SAFETY_MARGIN_FRACTION))
    return loop.time() + max(0.0, seconds - margin)


def _visibility_call_timeout(context: Any) -> float:
    """How long the visibility changes may take: what is left of the invocation
    (the pipeline's deadline keeps at least MIN_SAFETY_MARGIN_S), at most CALL_TIMEOUT_S."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return CALL_TIMEOUT_S
    return max(0.0, min(CALL_TIMEOUT_S, float(remaining()) / 1000 - CALL_TIMEOUT_MARGIN_S))


_lambda_handler: BatchHandler | None = None
_init_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    """Build ``lambda_handler`` from the environment when the Lambda runtime looks it up.

    The runtime resolves the handler attribute during init, so a missing or
    invalid variable fails the cold start with a ``SettingsError`` naming it.
    """
    if name != "lambda_handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    global _lambda_handler
    with _init_lock:
        if _lambda_handler is None:
            handler = make_handler(Settings.from_env())
            handler.warm()
            _lambda_handler = handler
    return _lambda_handler
