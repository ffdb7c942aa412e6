"""The inference Lambda: SQS batch of S3 notifications in, partial batch response out.

Shaped like Powertools' async batch example: ``lambda_handler`` is a plain
function, the per-message logic is :func:`handle_message`, and the processor
belongs to one :class:`BatchHandler`, built from the environment on the first
invocation (a missing or invalid variable fails it with a ``SettingsError``
naming the variable) and kept for the life of the execution environment.

One event loop. Powertools' ``AsyncBatchProcessor.async_process`` runs the
records with ``asyncio.run`` outside Lambda (a new loop per call: clients cached
from a previous invocation die with it) and with ``asyncio.get_event_loop``
inside. A handler therefore owns one loop, opens its clients in it once (see
``runtime.clients``) and runs Powertools' per-record processing on it
(:class:`LoopBatchProcessor`). A handler serves one invocation at a time, as
Lambda calls it; whoever runs several at once holds one handler per thread
(the local poller, ``emulator/poller.py``).

Powertools objects: the ``Logger`` is module-level; per-invocation keys go
through ``thread_safe_append_keys`` because the local poller runs handlers on
several threads of one process. For the same reason each invocation records
its metrics in its own ``AmazonCloudWatchEMFProvider`` (``Metrics`` keeps its
metric set in class attributes shared by every instance) and flushes it at
the end: the EMF output Lambda would see.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
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

from runtime import dataset
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
METRIC_DATASET_WRITE_FAILED = "DatasetWriteFailed"
METRIC_DATASET_LINES_MISSING = "DatasetLinesMissing"


class RetryMessage(Exception):
    """Some images of an SQS message must be retried: the message goes into batchItemFailures."""


class LoopBatchProcessor(AsyncBatchProcessor):
    """Powertools' async batch processor, run on a loop the caller owns.

    Relies on two Powertools internals (pinned: requirements/runtime.txt; a
    tripwire test, tests/runtime/test_powertools_internals.py, fails when they
    change): ``async_process`` is what ``async_process_partial_response`` calls
    inside the processor's context, and ``_async_process_record`` processes one
    record into a success or failure entry.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Entire-batch failure is reported record by record rather than raised:
        # the response is the same for SQS, and the caller always gets a dict.
        super().__init__(EventType.SQS, raise_on_entire_batch_failure=False)
        self.loop = loop

    def async_process(self) -> list[tuple[Any, ...]]:
        async def process_all() -> list[tuple[Any, ...]]:
            return list(
                await asyncio.gather(*(self._async_process_record(r) for r in self.records))
            )

        return self.loop.run_until_complete(process_all())


class BatchHandler:
    """The handler for given settings: one event loop, the clients opened in it, one processor.

    Callable as ``handler(event, context)`` by one thread at a time; the loop
    and clients serve every later call (warm invocations) until :meth:`close`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.processor = LoopBatchProcessor(self.loop)
        self._resources: LoopResources | None = None

    def resources(self) -> LoopResources:
        """The loop's clients and limits, opened on first use and kept while the loop lives."""
        if self._resources is None:
            self._resources = self.loop.run_until_complete(LoopResources.open(self.settings))
        return self._resources

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        resources = self.resources()
        metrics = AmazonCloudWatchEMFProvider(
            namespace=_env_or_default(env_names.POWERTOOLS_METRICS_NAMESPACE),
            service=_env_or_default(env_names.POWERTOOLS_SERVICE_NAME),
        )
        request_id = getattr(context, "aws_request_id", None)
        if request_id:
            logger.thread_safe_append_keys(request_id=request_id)
        lines = dataset.DatasetBatch(request_id or dataset.new_request_id())
        pipeline = ImagePipeline(
            self.settings,
            s3=resources.s3,
            rekognition=resources.rekognition,
            model_slots=resources.model_slots,
            image_slots=resources.image_slots,
            logger=logger,
            metrics=metrics,
            deadline=_deadline(self.loop, context),
            dataset=lines,
            events=resources.events,
        )

        async def record_handler(record: SQSRecord) -> int:
            return await handle_message(pipeline, metrics, record)

        try:
            response = async_process_partial_response(
                event=event,
                record_handler=record_handler,
                processor=self.processor,
                context=context,
            )
            result = cast(dict[str, Any], response)  # a TypedDict: a plain dict at run time
            result = self._write_dataset(resources, lines, result, metrics)
            self._retry_soon(resources, event, result, context)
            return result
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()
            if request_id:
                logger.thread_safe_remove_keys(["request_id"])

    def _write_dataset(
        self,
        resources: LoopResources,
        lines: dataset.DatasetBatch,
        response: dict[str, Any],
        metrics: Any,
    ) -> dict[str, Any]:
        """The invocation's JSON Lines object, after its images (runtime/dataset.py).

        If it can not be written, the messages of its lines are reported for
        retry: their images are done, and the redelivery writes the lines from
        the stored documents.
        """
        if lines.unreadable:
            metrics.add_metric(METRIC_DATASET_LINES_MISSING, "Count", lines.unreadable)
            logger.warning(
                "images finished without a readable document: no dataset line for them",
                extra={"images": lines.unreadable},
            )
        try:
            key = self.loop.run_until_complete(
                dataset.write_batch(
                    resources.s3,
                    self.settings.final_bucket,
                    self.settings.results_prefix,
                    lines,
                    datetime.now(UTC),
                )
            )
        except Exception:
            metrics.add_metric(METRIC_DATASET_WRITE_FAILED, "Count", 1)
            logger.exception(
                "could not write the dataset lines; their messages are reported for retry",
                extra={"lines": len(lines.lines), "messages": len(lines.message_ids)},
            )
            return dataset.with_retries(response, lines.message_ids)
        if key is not None:
            logger.debug("dataset lines written", extra={"key": key, "lines": len(lines.lines)})
        return response

    def _retry_soon(
        self,
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

            self.loop.run_until_complete(shorten())
        except Exception:
            logger.exception(
                "could not shorten the visibility of records to retry; they come back after "
                "the queue's visibility timeout",
                extra={"records": len(ids)},
            )

    def close(self) -> None:
        """Close the clients, then the loop (the local poller and tests; Lambda discards the process)."""
        if self.loop.is_closed():
            return
        try:
            if self._resources is not None:
                self.loop.run_until_complete(self._resources.aclose())
                self._resources = None
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


async def handle_message(pipeline: ImagePipeline, metrics: Any, record: SQSRecord) -> int:
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


_handler: BatchHandler | None = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (``runtime.handler.lambda_handler``)."""
    global _handler
    if _handler is None:
        _handler = BatchHandler(Settings.from_env())
    return _handler(event, context)
