"""The Lambda service for SQS event source mappings, played locally.

moto stores event source mappings and functions but cannot run the code
without Docker. :class:`LambdaPoller` does what the Lambda service does for
one SQS mapping, reading everything from moto's Lambda API so that whatever
changes the mapping (the state machine's UpdateEventSourceMapping enabling or
disabling it, a new BatchSize, MaximumConcurrency) takes effect:

- while the mapping's State is ``Enabled``, up to ``ScalingConfig.
  MaximumConcurrency`` pollers (``DEFAULT_POLLERS`` without a scaling config:
  Lambda's initial SQS poller count) each gather a batch: up to ``BatchSize`` messages, waiting
  at most ``MaximumBatchingWindowInSeconds`` for a full batch;
- each batch becomes an SQS event built like Lambda builds it and runs the
  real handler in-process (``runtime.handler.BatchHandler`` with settings from
  the function's Environment, read from GetFunctionConfiguration). Each poller
  thread holds its own handler (one event loop, its own clients), as each
  Lambda execution environment does, built when the thread starts polling and
  rebuilt when the function's Environment changes;
- a returned ``batchItemFailures`` list (with ReportBatchItemFailures) keeps
  those messages; all others are deleted. A raised exception, a timeout or an
  invalid failure list keeps the whole batch. Kept messages reappear after the
  queue's visibility timeout, and moto's SQS moves them to the DLQ on the
  receive after ``maxReceiveCount`` (the queue's RedrivePolicy), as AWS does;
- ``Disabled`` (or a deleted mapping) means no receives at all.

The handler's own AWS clients use the process environment, so the process
must point at the emulator (``LocalAws.env()``); :meth:`LambdaPoller.start`
refuses to run otherwise, so a local run can never touch a real account.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
HandlerFactory = Callable[[Mapping[str, str]], Handler]

DEFAULT_POLLERS = 5  # Lambda starts SQS polling with five concurrent pollers
SQS_MAX_RECEIVE = 10


def runtime_handler(environment: Mapping[str, str]) -> Handler:
    """The real inference handler, configured from a function environment, clients open.

    Opening the clients here (the poller thread's cold start) rather than in the
    first invocation keeps that cost out of the first batch's time limit.
    """
    from runtime.handler import BatchHandler
    from runtime.settings import Settings

    handler = BatchHandler(Settings.from_env(environment))
    try:
        handler.resources()
    except BaseException:
        handler.close()
        raise
    return handler


class ThreadHandler:
    """One poller thread's handler, built from the function's environment.

    Like a Lambda execution environment: built (the cold start) before the
    thread's first receive, kept for its warm invocations, replaced when the
    function's Environment changes, closed when the thread stops. A factory that
    fails is retried when a batch arrives, and the batch then fails with its
    error, as an invocation fails when the function's init does.
    """

    def __init__(self, factory: HandlerFactory) -> None:
        self._factory = factory
        self._handler: Handler | None = None
        self._environment: Mapping[str, str] = {}
        self._key: str | None = None
        self._failed = False

    def prepare(self, environment: Mapping[str, str], key: str) -> None:
        """Build the handler for this environment now, unless it is already built."""
        if key != self._key:
            self.close()
            self._environment, self._key = environment, key
        if self._handler is None and not self._failed:
            try:
                self._handler = self._factory(environment)
            except Exception:
                self._failed = True
                log.exception("the function's handler could not be built")

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        if self._handler is None:
            self._failed = False
            self._handler = self._factory(self._environment)
        return self._handler(event, context)

    def close(self) -> None:
        handler, self._handler, self._failed = self._handler, None, False
        close = getattr(handler, "close", None)
        if callable(close):
            close()


class LambdaContext:
    """The attributes and method of the Lambda context object handlers use."""

    def __init__(self, function: Mapping[str, Any], timeout_s: float) -> None:
        self.function_name: str = function.get("FunctionName", "function")
        self.function_version: str = function.get("Version", "$LATEST")
        self.invoked_function_arn: str = function.get("FunctionArn", "")
        self.memory_limit_in_mb: int = int(function.get("MemorySize", 128))
        self.aws_request_id: str = str(uuid.uuid4())
        self.log_group_name: str = f"/aws/lambda/{self.function_name}"
        self.log_stream_name: str = f"local/[{self.function_version}]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda puts it in the event (camelCase, string attributes)."""
    attributes = dict(message.get("Attributes", {}))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {
            key: attributes[key]
            for key in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
                "AWSTraceHeader",
                "SequenceNumber",
                "MessageGroupId",
                "MessageDeduplicationId",
            )
            if key in attributes
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value.get("DataType"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


@dataclass
class PollerStats:
    """What the poller did; read with :meth:`LambdaPoller.stats`."""

    invocations: int = 0
    records: int = 0
    deleted: int = 0
    reported_failures: int = 0  # records named in batchItemFailures
    function_errors: int = 0  # invocations that raised, timed out or answered invalidly
    batch_sizes: list[int] = field(default_factory=list)
    max_parallel: int = 0  # most batches seen running at once


@dataclass(frozen=True)
class _Mapping:
    enabled: bool
    batch_size: int
    window_s: float
    pollers: int
    report_failures: bool
    queue_arn: str
    function: str


class LambdaPoller:
    """Runs one SQS event source mapping's function in-process while it is Enabled.

    ``clients`` is anything with ``.client(service)`` (a :class:`LocalAws`).
    ``handler_factory`` builds the handler from the function environment
    (default: the real runtime handler).
    """

    def __init__(
        self,
        clients: Any,
        mapping_uuid: str,
        *,
        handler_factory: HandlerFactory = runtime_handler,
        refresh_seconds: float = 0.25,
        idle_seconds: float = 0.05,
        require_endpoint: str | None = None,
    ) -> None:
        self._clients = clients
        self._uuid = mapping_uuid
        self._factory = handler_factory
        self._refresh_s = refresh_seconds
        self._idle_s = idle_seconds
        self._require_endpoint = require_endpoint or getattr(clients, "endpoint", None)
        self._lambda = clients.client("lambda")
        self._sqs = clients.client("sqs")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # moto's ReceiveMessage is not atomic across threads: two concurrent
        # receives can hand out the same message. SQS is at-least-once too,
        # but the emulator serialises its own receives to stay deterministic.
        self._receive_lock = threading.Lock()
        self._stats = PollerStats()
        self._running = 0
        self._mapping: _Mapping | None = None
        self._mapping_read = 0.0
        self._queue_url: str | None = None
        self._function: dict[str, Any] = {}
        self._environment: dict[str, str] = {}
        self._environment_key: str | None = None
        self._threads: list[threading.Thread] = []
        self._refresher: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> LambdaPoller:
        if self._refresher is not None:
            return self
        if self._require_endpoint and os.environ.get("AWS_ENDPOINT_URL") != self._require_endpoint:
            raise RuntimeError(
                "the handler would call AWS_ENDPOINT_URL="
                f"{os.environ.get('AWS_ENDPOINT_URL')!r}, not the emulator at "
                f"{self._require_endpoint}: export LocalAws.env() first"
            )
        self._refresh(force=True)
        self._refresher = threading.Thread(target=self._refresh_loop, name="esm-state", daemon=True)
        self._refresher.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving; batches already running finish first (as in Lambda), then
        each poller thread closes its handler."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in [*self._threads, *([self._refresher] if self._refresher else [])]:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LambdaPoller:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self) -> PollerStats:
        with self._lock:
            return PollerStats(
                invocations=self._stats.invocations,
                records=self._stats.records,
                deleted=self._stats.deleted,
                reported_failures=self._stats.reported_failures,
                function_errors=self._stats.function_errors,
                batch_sizes=list(self._stats.batch_sizes),
                max_parallel=self._stats.max_parallel,
            )

    @property
    def enabled(self) -> bool:
        return bool(self._mapping and self._mapping.enabled)

    # -- mapping state ----------------------------------------------------------------

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._refresh_s):
            try:
                self._refresh()
            except Exception:  # keep polling through a transient emulator error
                log.exception("reading event source mapping %s failed", self._uuid)

    def _refresh(self, force: bool = False) -> None:
        try:
            esm = self._lambda.get_event_source_mapping(UUID=self._uuid)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException" or force:
                raise
            self._mapping = None  # deleted: nothing to poll
            return
        scaling = esm.get("ScalingConfig") or {}
        mapping = _Mapping(
            enabled=esm.get("State") == "Enabled",
            batch_size=int(esm.get("BatchSize") or 10),
            window_s=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
            pollers=int(scaling.get("MaximumConcurrency") or DEFAULT_POLLERS),
            report_failures="ReportBatchItemFailures" in (esm.get("FunctionResponseTypes") or []),
            queue_arn=esm["EventSourceArn"],
            function=esm["FunctionArn"],
        )
        if self._queue_url is None:
            _, _, _, region, account, name = mapping.queue_arn.split(":", 5)
            self._queue_url = self._sqs.get_queue_url(
                QueueName=name, QueueOwnerAWSAccountId=account
            )["QueueUrl"]
            self._region = region
        if mapping.enabled:
            self._load_function(mapping.function)
        self._mapping = mapping
        while len(self._threads) < mapping.pollers:  # grow only; extra pollers idle
            index = len(self._threads)
            thread = threading.Thread(
                target=self._poll_loop, args=(index,), name=f"esm-poller-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _load_function(self, function: str) -> None:
        config = self._lambda.get_function_configuration(FunctionName=function)
        env = (config.get("Environment") or {}).get("Variables") or {}
        with self._lock:
            self._function = config
            self._environment = dict(env)
            self._environment_key = json.dumps(env, sort_keys=True)

    # -- polling ------------------------------------------------------------------

    def _poll_loop(self, index: int) -> None:
        handler = ThreadHandler(self._factory)
        try:
            while not self._stop.is_set():
                mapping = self._mapping
                if mapping is None or not mapping.enabled or index >= mapping.pollers:
                    self._stop.wait(self._idle_s)
                    continue
                with self._lock:
                    environment, key = self._environment, self._environment_key
                if key is not None:
                    handler.prepare(environment, key)
                try:
                    batch = self._gather(mapping)
                except Exception:
                    log.exception("receiving from %s failed", mapping.queue_arn)
                    self._stop.wait(self._idle_s)
                    continue
                if batch:
                    self._invoke(mapping, batch, handler)
                else:
                    self._stop.wait(self._idle_s)
        finally:
            handler.close()

    def _gather(self, mapping: _Mapping) -> list[dict[str, Any]]:
        """Up to BatchSize messages, waiting at most the batching window for more.

        Short receives with short idle pauses (instead of 1 s long polls) keep
        stop() and a disabled mapping prompt; a window of 0 means one receive.
        """
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + mapping.window_s
        while not self._stop.is_set():
            with self._receive_lock:
                got = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=min(SQS_MAX_RECEIVE, mapping.batch_size - len(batch)),
                    WaitTimeSeconds=0,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            for message in got:  # a message back from visibility keeps its newest handle
                batch = [m for m in batch if m["MessageId"] != message["MessageId"]]
                batch.append(message)
            current = self._mapping
            remaining = deadline - time.monotonic()
            if (
                len(batch) >= mapping.batch_size
                or remaining <= 0
                or current is None
                or not current.enabled
            ):
                break
            if not got:
                self._stop.wait(min(self._idle_s, remaining))
        return batch

    def _invoke(self, mapping: _Mapping, messages: list[dict[str, Any]], handler: Handler) -> None:
        with self._lock:
            function = self._function
            self._running += 1
            self._stats.max_parallel = max(self._stats.max_parallel, self._running)
        event = {"Records": [sqs_record(m, mapping.queue_arn, self._region) for m in messages]}
        timeout_s = float(function.get("Timeout") or 3)
        failed_ids: set[str] | None
        started = time.monotonic()
        try:
            result = handler(event, LambdaContext(function, timeout_s))
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"Task timed out after {timeout_s:.2f} seconds")
            failed_ids = self._failed_ids(mapping, messages, result)
        except Exception:
            log.exception(
                "function %s failed on a batch of %d", function.get("FunctionName"), len(messages)
            )
            failed_ids = None
        finally:
            with self._lock:
                self._running -= 1
        keep = {m["MessageId"] for m in messages} if failed_ids is None else failed_ids
        done = [m for m in messages if m["MessageId"] not in keep]
        for start in range(0, len(done), SQS_MAX_RECEIVE):
            chunk = done[start : start + SQS_MAX_RECEIVE]
            response = self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
            for failure in response.get("Failed", []):
                log.warning("could not delete a processed message: %s", failure)
        with self._lock:
            stats = self._stats
            stats.invocations += 1
            stats.records += len(messages)
            stats.batch_sizes.append(len(messages))
            stats.deleted += len(done)
            if failed_ids is None:
                stats.function_errors += 1
            else:
                stats.reported_failures += len(failed_ids)

    @staticmethod
    def _failed_ids(mapping: _Mapping, messages: list[dict[str, Any]], result: Any) -> set[str]:
        """Message ids to keep; raises if Lambda would treat the response as invalid."""
        if not mapping.report_failures or not result:
            return set()
        if not isinstance(result, Mapping):
            return set()  # without a failures object Lambda counts the batch a success
        failures = result.get("batchItemFailures")
        if not failures:
            return set()
        ids = {m["MessageId"] for m in messages}
        kept: set[str] = set()
        for failure in failures:
            item = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not item or item not in ids:
                raise ValueError(f"invalid batchItemFailures entry: {failure!r}")
            kept.add(item)
        return kept


@contextmanager
def run_poller(
    aws: Any,
    outputs: Mapping[str, Any],
    *,
    apply_env: bool = True,
    handler_factory: HandlerFactory = runtime_handler,
    **options: Any,
) -> Iterator[LambdaPoller]:
    """The Lambda service for a provisioned stack's mapping, for a ``with`` block.

    ``apply_env`` points this process's AWS_* variables at ``aws`` for the
    duration (the in-process handler's clients read them, as in Lambda) and
    restores them afterwards.
    """
    from infra import outputs as out

    saved: dict[str, str | None] = {}
    if apply_env:
        for name, value in aws.env().items():
            saved[name] = os.environ.get(name)
            os.environ[name] = value
    poller = LambdaPoller(
        aws, outputs[out.EVENT_SOURCE_MAPPING_UUID], handler_factory=handler_factory, **options
    )
    try:
        with poller:
            yield poller
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
