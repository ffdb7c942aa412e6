"""One image, end to end: detect -> result JSON -> copy image -> delete source.

The order is what makes the pipeline loss-free: the source object is deleted
only after its result document and its copy exist, so a crash, a timeout or a
cancellation at any step leaves the source in place and the redelivered
message redoes the work (all writes are deterministic overwrites).

Redelivery and duplicates (SQS is at-least-once; two copies of a message can
even run at the same time) are resolved by looking at what exists:

- source present: process it (again); the result is simply overwritten;
- source gone, result document present: a previous attempt finished -> success;
- source gone, error document present: a previous attempt filed it as failed -> done;
- source gone, neither: the object was deleted before anyone processed it.
  Nothing is left to process and retrying can not bring it back, so the record
  is acknowledged with a warning and an error document ``SourceMissing``
  (without an image) is written, so the report still accounts for the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from runtime import alerts, documents, errors, thresholds, throttle
from runtime.dataset import DatasetBatch
from runtime.deletes import SourceDeleter
from runtime.errors import Classification, PermanentImageError, RetryImage
from runtime.events import ObjectRef
from runtime.settings import Settings

# DetectCustomLabels accepts S3 objects up to 15 MB; larger ones are filed as
# failed without paying for a model call.
MAX_IMAGE_BYTES = 15 * 1024 * 1024


class Outcome(StrEnum):
    """What happened to one image (the ``outcome`` field of its log line)."""

    PROCESSED = "processed"
    ALREADY_PROCESSED = "already_processed"
    FAILED = "failed"
    ALREADY_FAILED = "already_failed"
    MISSING = "missing"
    RETRY = "retry"


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


class LogSink(Protocol):
    def info(self, msg: str, *args: Any, **kwargs: Any) -> None: ...
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None: ...
    def error(self, msg: str, *args: Any, **kwargs: Any) -> None: ...


# Metric names (CloudWatch, namespace POWERTOOLS_METRICS_NAMESPACE).
METRIC_PROCESSED = "ImagesProcessed"
METRIC_FAILED = "ImagesFailed"
METRIC_RETRIED = "ImagesRetried"
METRIC_SKIPPED = "ImagesAlreadyDone"
METRIC_MISSING = "ImagesMissing"
METRIC_DETECT_LATENCY = "DetectCustomLabelsLatency"
METRIC_THROTTLED = "DetectCustomLabelsThrottled"

_OUTCOME_METRIC = {
    Outcome.PROCESSED: METRIC_PROCESSED,
    Outcome.FAILED: METRIC_FAILED,
    Outcome.RETRY: METRIC_RETRIED,
    Outcome.ALREADY_PROCESSED: METRIC_SKIPPED,
    Outcome.ALREADY_FAILED: METRIC_SKIPPED,
    Outcome.MISSING: METRIC_MISSING,
}


@dataclass(frozen=True)
class HeadInfo:
    """What the pipeline needs to know about a source object before detecting it."""

    etag: str
    size: int

    @classmethod
    def from_event(cls, ref: ObjectRef) -> HeadInfo | None:
        """The object as its ObjectCreated record describes it, if the record says enough.

        S3 notifications carry the object's size and ETag, which is all the
        pipeline needs (pre-checks, and ``CopySourceIfMatch`` pinning the copy to
        the detected version), so a HEAD per image is only needed for records
        without them. The record may be stale: a missing object shows up as
        Rekognition's InvalidS3Object or the copy's 404, a replaced one as the
        copy's 412, and each of those falls back to what S3 says now.
        """
        if ref.etag and ref.size is not None:
            return cls(etag=ref.etag, size=ref.size)
        return None


class ImagePipeline:
    """Processes images of one invocation with the clients and limits of the current loop.

    ``deadline`` is a ``loop.time()`` value: images not finished by then are
    cancelled and retried (safe at any step, see the module docstring).
    ``dataset`` collects the invocation's dataset lines: every document written
    or read back is noted, and an image whose outcome is final gets its line
    (runtime/dataset.py).
    ``events`` returns the EventBridge client for label alerts (runtime/alerts.py);
    without it, or without ``ALERT_LABELS``, no alert is sent.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any,
        rekognition: Any,
        model_slots: asyncio.Semaphore,
        image_slots: asyncio.Semaphore,
        logger: LogSink,
        metrics: MetricsSink,
        deadline: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
        dataset: DatasetBatch | None = None,
        events: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.rekognition = rekognition
        self.model_slots = model_slots
        self.image_slots = image_slots
        self.logger = logger
        self.metrics = metrics
        self.deadline = deadline
        self.clock = clock
        self.dataset = dataset
        # Sources are deleted in bursts (one DeleteObjects per group of images
        # finishing together), each image still waiting for its own key.
        self.deleter = SourceDeleter(s3)
        # Label alerts of images finishing together share one PutEvents.
        self.alerts = (
            alerts.AlertPublisher(events, logger=logger, metrics=metrics, deadline=deadline)
            if events is not None and settings.alert_labels
            else None
        )

    async def process(self, ref: ObjectRef, message_id: str | None = None) -> Outcome:
        """Process one image; raise :class:`RetryImage` when it must be retried.

        Writes exactly one structured log line for the image, whatever happens.
        """
        started = self.clock()
        extra: dict[str, Any] = {"bucket": ref.bucket, "key": ref.key}
        if message_id:
            extra["message_id"] = message_id
        deadline = asyncio.timeout_at(self.deadline)
        done = False
        try:
            async with deadline, self.image_slots:
                with self.deleter.working(), self._alerts_working():
                    outcome, detail = await self._process(ref)
            done = True
        except asyncio.CancelledError:
            raise
        except TimeoutError as exc:
            if deadline.expired():  # ours, not a network read timeout inside
                cause = Classification(
                    errors.DEADLINE_EXCEEDED,
                    "the invocation ran out of time before this image finished",
                    permanent=False,
                )
            else:
                cause = errors.classify(exc)
            self._record(Outcome.RETRY, started, extra, cause)
            raise RetryImage(cause.code, cause.message) from exc
        except Exception as exc:  # classified: every exception ends in a retry here
            cause = errors.classify(exc)
            self._record(Outcome.RETRY, started, extra, cause, exc_info=exc)
            raise RetryImage(cause.code, cause.message) from exc
        finally:
            if self.dataset is not None:
                self.dataset.finish(ref.bucket, ref.key, message_id, done=done)
        self._record(outcome, started, extra, detail)
        return outcome

    # -- the steps -----------------------------------------------------------

    async def _process(
        self, ref: ObjectRef, *, trust_event: bool = True
    ) -> tuple[Outcome, Classification | None]:
        head = HeadInfo.from_event(ref) if trust_event else None
        from_event = head is not None
        if head is None:
            head = await self._head(ref.bucket, ref.key)
            if head is None:
                return await self._resolve_missing(ref)
        try:
            return await self._process_object(ref, head)
        except Exception as exc:
            if from_event and errors.error_code(exc) == "PreconditionFailed":
                # The object was replaced after its event was sent: its own
                # event follows, but do not leave this message to fail forever
                # on the old ETag; process what is there now, from a HEAD.
                return await self._process(ref, trust_event=False)
            raise

    async def _process_object(
        self, ref: ObjectRef, head: HeadInfo
    ) -> tuple[Outcome, Classification | None]:
        source = documents.source_section(ref.bucket, ref.key, head.etag, head.size, ref.version_id)

        try:
            self._precheck(ref.key, head)
            labels = await self._detect(ref)
        except Exception as exc:
            cause = errors.classify(exc)
            if not cause.permanent:
                raise
            if cause.code == "InvalidS3Object" and await self._head(ref.bucket, ref.key) is None:
                # Rekognition could not read it because a concurrent duplicate
                # finished (or someone deleted) it meanwhile.
                return await self._resolve_missing(ref)
            return await self._file_as_failed(ref, head, source, cause)

        document = await self._put_result(ref.key, source, labels)
        if not await self._copy(ref, head, documents.output_image_key(ref.key)):
            return await self._resolve_missing(ref)
        # Before the delete: a crash until the event is accepted redoes the image (and
        # its alert); after, the alert could be lost with nothing left to redo it.
        await self._alert(document)
        return Outcome.PROCESSED, await self._delete_source(ref, head)

    def _alerts_working(self) -> contextlib.AbstractContextManager[None]:
        return self.alerts.working() if self.alerts is not None else contextlib.nullcontext()

    async def _alert(self, document: dict[str, Any]) -> None:
        """Best effort: an alert event for the image's labels of interest, if any matched."""
        if self.alerts is None:
            return
        matches = thresholds.alert_matches(document["labels"], self.settings.alert_labels)
        if not matches:
            return
        detail = alerts.alert_detail(document, matches, self.settings.alert_labels)
        await self.alerts.publish(alerts.build_entry(detail), document["source"]["key"])

    async def _put_result(
        self, key: str, source: dict[str, Any], labels: list[Any]
    ) -> dict[str, Any]:
        """Write the result document (labels split by labelThresholds); return it."""
        kept, below = thresholds.split_labels(labels, self.settings.label_thresholds)
        document = documents.build_result_document(
            source=source,
            final_bucket=self.settings.final_bucket,
            project_version_arn=self.settings.project_version_arn,
            min_confidence=self.settings.min_confidence,
            labels=kept,
            labels_below_threshold=below,
            label_thresholds=self.settings.label_thresholds,
            max_results=self.settings.max_results,
        )
        await self._put_document(documents.result_key(key), document)
        return document

    def _precheck(self, key: str, head: HeadInfo) -> None:
        prefix = self.settings.failed_prefix
        if key.startswith(prefix):
            # Its result and copy would be failed/<...> keys of the final bucket,
            # overwriting the filing of another image; filed as failed/<key> instead.
            raise PermanentImageError(
                errors.RESERVED_KEY_PREFIX,
                f"source keys under {prefix!r} would overwrite the final bucket's "
                f"{prefix!r} area: upload the image under another prefix",
            )
        results = self.settings.results_prefix
        if key.startswith(results):
            # Its copy and document would sit inside the results table's location,
            # where every object is read as JSON Lines.
            raise PermanentImageError(
                errors.RESERVED_KEY_PREFIX,
                f"source keys under {results!r} would land in the final bucket's results "
                "dataset: upload the image under another prefix",
            )
        for area in (documents.RUNS_PREFIX, documents.QUERY_RESULTS_PREFIX):
            if key.startswith(area):
                # Its copy and document would sit among the run summaries (read as the
                # runs table) or Athena's query results.
                raise PermanentImageError(
                    errors.RESERVED_KEY_PREFIX,
                    f"source keys under {area!r} would land in the final bucket's {area!r} "
                    "area: upload the image under another prefix",
                )
        if not documents.can_have_result(key):
            raise PermanentImageError(
                errors.KEY_TOO_LONG,
                f"the key is {len(key.encode('utf-8'))} bytes: its result document "
                f"{documents.result_key(key)!r} would exceed S3's "
                f"{documents.MAX_KEY_BYTES}-byte key limit; use a shorter key",
            )
        if not key.lower().endswith(self.settings.image_suffixes):
            raise PermanentImageError(
                errors.UNSUPPORTED_IMAGE_TYPE,
                f"key does not end with one of {', '.join(self.settings.image_suffixes)}",
            )
        if head.size == 0:
            raise PermanentImageError(errors.EMPTY_OBJECT, "the object is empty (0 bytes)")
        if head.size > MAX_IMAGE_BYTES:
            raise PermanentImageError(
                errors.IMAGE_TOO_LARGE,
                f"{head.size} bytes exceeds the {MAX_IMAGE_BYTES} byte limit of DetectCustomLabels",
            )

    async def _detect(self, ref: ObjectRef) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "ProjectVersionArn": self.settings.project_version_arn,
            "Image": {"S3Object": {"Bucket": ref.bucket, "Name": ref.key}},
            "MinConfidence": self.settings.min_confidence,
        }
        if self.settings.max_results:
            request["MaxResults"] = self.settings.max_results
        response = await self._call_model(request)
        return list(response.get("CustomLabels") or [])

    async def _call_model(self, request: dict[str, Any]) -> dict[str, Any]:
        """DetectCustomLabels, with throttles retried while the invocation has time.

        A throttle is the model saying "not now", never "not this image": the
        call waits (jittered exponential back-off, outside the model slot) and
        tries again until the next attempt could not end before the deadline.
        Only then does the throttle propagate, and the image is retried through
        SQS like any transient error. Other errors propagate at once (botocore
        has already retried the transient ones).
        """
        loop = asyncio.get_running_loop()
        give_up_at = (
            self.deadline
            if self.deadline is not None
            else loop.time() + throttle.THROTTLE_RETRY_WINDOW_S
        )
        attempt = 0
        while True:
            async with self.model_slots:
                started = self.clock()
                try:
                    response = await self.rekognition.detect_custom_labels(**request)
                except Exception as exc:
                    if not throttle.is_throttle(exc):
                        raise
                    self.metrics.add_metric(METRIC_THROTTLED, "Count", 1)
                    attempt += 1
                    delay = throttle.backoff_delay(attempt)
                    # The retry needs the delay plus about one call's latency.
                    if loop.time() + delay + (self.clock() - started) >= give_up_at:
                        raise
                else:
                    return dict(response)
                finally:
                    self.metrics.add_metric(
                        METRIC_DETECT_LATENCY, "Milliseconds", (self.clock() - started) * 1000
                    )
            await asyncio.sleep(delay)

    async def _head(self, bucket: str, key: str) -> HeadInfo | None:
        try:
            response = await self.s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if errors.is_not_found(exc):
                return None
            raise
        return HeadInfo(
            etag=str(response.get("ETag", "")).strip('"'),
            size=int(response.get("ContentLength", 0)),
        )

    async def _put_document(self, key: str, document: dict[str, Any]) -> None:
        await self.s3.put_object(
            Bucket=self.settings.final_bucket,
            Key=key,
            Body=documents.dumps(document),
            ContentType=documents.CONTENT_TYPE,
        )
        if self.dataset is not None:
            self.dataset.note(document)

    async def _copy(self, ref: ObjectRef, head: HeadInfo, target_key: str) -> bool:
        """Copy the source (metadata and ContentType kept); False when the source is gone.

        ``CopySourceIfMatch`` pins the copy to the version that was detected: if
        the object was overwritten in between, S3 answers 412, the image is
        retried and the newer content is processed from scratch.
        """
        try:
            await self.s3.copy_object(
                Bucket=self.settings.final_bucket,
                Key=target_key,
                CopySource={"Bucket": ref.bucket, "Key": ref.key},
                CopySourceIfMatch=f'"{head.etag}"',
                MetadataDirective="COPY",
            )
        except Exception as exc:
            if errors.is_not_found(exc):
                return False
            raise
        return True

    async def _file_as_failed(
        self, ref: ObjectRef, head: HeadInfo, source: dict[str, Any], cause: Classification
    ) -> tuple[Outcome, Classification | None]:
        """The image under the failed prefix, then its error document, then delete the source.

        The copy comes first (unlike a result, an error document is only about
        the version it names): a copy refused because the source was replaced
        (412) leaves no error document behind for the newer upload, which is
        then processed from a HEAD and may well succeed.
        """
        prefix = self.settings.failed_prefix
        if not await self._copy(ref, head, documents.failed_image_key(prefix, ref.key)):
            return await self._resolve_missing(ref)
        document = documents.build_error_document(
            source=source,
            final_bucket=self.settings.final_bucket,
            failed_prefix=prefix,
            code=cause.code,
            message=cause.message,
            project_version_arn=self.settings.project_version_arn,
        )
        await self._put_document(documents.failed_document_key(prefix, ref.key), document)
        await self._delete_source(ref, head)
        return Outcome.FAILED, cause

    async def _delete_source(self, ref: ObjectRef, head: HeadInfo) -> Classification | None:
        """Delete the source if it is still the version processed; else say why it stays."""
        if await self.deleter.delete(ref.bucket, ref.key, head.etag):
            return None
        return Classification(
            errors.SOURCE_REPLACED,
            "the source was uploaded again after this version was processed: "
            "the new upload is kept for its own notification",
            permanent=False,
        )

    async def _resolve_missing(self, ref: ObjectRef) -> tuple[Outcome, Classification | None]:
        """The source is gone: find out whether a previous attempt finished it."""
        final = self.settings.final_bucket
        prefix = self.settings.failed_prefix
        if documents.can_have_result(ref.key):  # else S3 may refuse the key outright
            result = await self._get_document(final, documents.result_key(ref.key))
            if result is not None:
                return await self._verify_result(ref, result)
        # Read, not only HEAD (same request price): its dataset line is made from it.
        failed_key = documents.failed_document_key(prefix, ref.key)
        if await self._get_document(final, failed_key) is not None:
            return Outcome.ALREADY_FAILED, None
        cause = Classification(
            errors.SOURCE_MISSING,
            "the source object no longer exists and no result or error document was found",
            permanent=True,
        )
        document = documents.build_error_document(
            source=documents.source_section(
                ref.bucket, ref.key, ref.etag, ref.size, ref.version_id
            ),
            final_bucket=final,
            failed_prefix=prefix,
            code=cause.code,
            message=cause.message,
            project_version_arn=self.settings.project_version_arn,
            image_moved=False,
        )
        await self._put_document(documents.failed_document_key(prefix, ref.key), document)
        return Outcome.MISSING, cause

    async def _verify_result(
        self, ref: ObjectRef, result: dict[str, Any]
    ) -> tuple[Outcome, Classification | None]:
        """A result exists for this key: does it describe the image beside it?

        It may not: if the key was uploaded again while an older version was
        being detected and the newer one was processed first, the older
        detection's document can land last (the pipeline's order, module
        docstring, writes the result before the copy). Every path that finds the source gone comes
        here (a duplicate, a redelivery, a copy's 404, a 412's HEAD), so a
        mismatch is repaired whichever message sees it: the image in the final
        bucket is detected again and its document rewritten. ETags are compared
        only when both are plain MD5s (SSE-S3, single part): a source uploaded in
        parts has an ETag its copy never shares, and is trusted as before.
        """
        final = self.settings.final_bucket
        recorded = str((result.get("source") or {}).get("etag") or "")
        if not recorded or "-" in recorded:
            return Outcome.ALREADY_PROCESSED, None
        image_key = documents.output_image_key(ref.key)
        there = await self._head(final, image_key)
        if there is None or "-" in there.etag or there.etag == recorded:
            return Outcome.ALREADY_PROCESSED, None
        labels = await self._detect(ObjectRef(final, image_key))
        source = documents.source_section(ref.bucket, ref.key, there.etag, there.size)
        await self._put_result(ref.key, source, labels)
        return Outcome.ALREADY_PROCESSED, Classification(
            errors.SOURCE_REPLACED,
            "the result described an older upload of this key: rewritten for the image "
            "in the final bucket",
            permanent=False,
        )

    async def _get_document(self, bucket: str, key: str) -> dict[str, Any] | None:
        """A result or error document, parsed; None if there is none."""
        try:
            response = await self.s3.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if errors.is_not_found(exc):
                return None
            raise
        async with response["Body"] as body:
            raw = await body.read()
        try:
            document = json.loads(raw)
        except ValueError:
            return {}  # not ours to judge: present is what counts
        if not isinstance(document, dict):
            return {}
        if self.dataset is not None:
            self.dataset.note(document)
        return document

    # -- observability -------------------------------------------------------

    def _record(
        self,
        outcome: Outcome,
        started: float,
        extra: dict[str, Any],
        cause: Classification | None,
        exc_info: BaseException | None = None,
    ) -> None:
        fields = dict(extra)
        fields["outcome"] = outcome.value
        fields["latency_ms"] = round((self.clock() - started) * 1000, 1)
        if cause is not None:
            fields["code"] = cause.code
            fields["error"] = cause.message
        self.metrics.add_metric(_OUTCOME_METRIC[outcome], "Count", 1)
        if outcome in (Outcome.PROCESSED, Outcome.ALREADY_PROCESSED, Outcome.ALREADY_FAILED):
            self.logger.info("image", extra=fields)
        elif outcome is Outcome.RETRY and exc_info is not None and not _is_aws_error(exc_info):
            # Not an AWS answer: likely a bug or a network problem, keep the traceback.
            self.logger.warning("image", extra=fields, exc_info=exc_info)
        else:
            self.logger.warning("image", extra=fields)


def _is_aws_error(exc: BaseException) -> bool:
    return errors.error_code(exc) is not None
