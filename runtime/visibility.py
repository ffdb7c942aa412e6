"""Retries come back in seconds: a short, growing visibility for records reported for retry.

A record the handler reports in ``batchItemFailures`` stays invisible for the
queue's visibility timeout (6 x the function timeout + the batching window:
12 minutes at the defaults), and the workflow keeps the model running, billed,
while any message is in flight. So before the handler returns, it gives each
of those records a visibility that grows with the message's receive count
(:func:`retry_visibility_seconds`) through ``ChangeMessageVisibilityBatch``.

Nothing here may change the response: a failed or partly failed call is
logged and the same ``batchItemFailures`` are returned. A record whose
visibility could not be changed simply comes back after the queue's timeout,
as it did before.

The queue URL is derived from the record's ``eventSourceARN``; SQS resolves the
queue from the ``QueueUrl`` parameter, not from the host the request is sent
to (botocore sends it to the client's endpoint, ``AWS_ENDPOINT_URL`` included),
so the same URL works on AWS and on the local emulator.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# ChangeMessageVisibilityBatch: at most 10 entries per request; a VisibilityTimeout
# of 0..43200 s (12 hours) (SQS API reference).
SQS_MAX_BATCH_ENTRIES = 10

# The longest the handler waits for its ChangeMessageVisibilityBatch calls; less
# when the invocation has less time left (its safety margin is at least 1 s).
CALL_TIMEOUT_S = 3.0
CALL_TIMEOUT_MARGIN_S = 0.25

_QUEUE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<name>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)$"
)
# DNS suffix of the SQS endpoints per partition (the others use amazonaws.com).
_PARTITION_DOMAINS = {"aws-cn": "amazonaws.com.cn"}


class Logger(Protocol):
    def info(self, msg: object, *args: object, **kwargs: Any) -> None: ...

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None: ...


def queue_url_from_arn(arn: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> ``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME``.

    Raises ``ValueError`` for anything that is not an SQS queue ARN.
    """
    match = _QUEUE_ARN.match(arn)
    if match is None:
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    domain = _PARTITION_DOMAINS.get(match["partition"], "amazonaws.com")
    return f"https://sqs.{match['region']}.{domain}/{match['account']}/{match['name']}"


def retry_visibility_seconds(receive_count: int, base: int, cap: int) -> int:
    """``base`` seconds after the first receive, doubling with every receive, at most ``cap``.

    ``receive_count`` is the message's ApproximateReceiveCount (1 on the first
    delivery); a missing or nonsensical count is treated as 1.
    """
    count = max(1, receive_count)
    if base <= 0:
        return 0
    # 2**(count-1) overflows nothing in Python, but keep the exponent small anyway.
    exponent = min(count - 1, 32)
    return min(cap, base * (1 << exponent))


@dataclass(frozen=True)
class RetryEntry:
    """One record to make visible again soon."""

    message_id: str
    queue_url: str
    receipt_handle: str
    visibility_seconds: int


def plan(
    records: Iterable[Mapping[str, Any]],
    failed_ids: Iterable[str],
    *,
    base: int,
    cap: int,
    logger: Logger | None = None,
) -> list[RetryEntry]:
    """The visibility changes for the records named in ``failed_ids`` (event order).

    A record without a receipt handle or with an ``eventSourceARN`` that is not
    a queue ARN is skipped (logged): it keeps the queue's visibility timeout.
    """
    wanted = set(failed_ids)
    entries: list[RetryEntry] = []
    for record in records:
        message_id = record.get("messageId")
        if message_id not in wanted:
            continue
        wanted.discard(message_id)  # a duplicated record is changed once
        receipt = record.get("receiptHandle")
        try:
            queue_url = queue_url_from_arn(str(record.get("eventSourceARN", "")))
        except ValueError:
            queue_url = ""
        if not receipt or not queue_url:
            if logger is not None:
                logger.warning(
                    "record kept for the queue's visibility timeout: no receipt handle or "
                    "queue ARN",
                    extra={"message_id": message_id},
                )
            continue
        attributes = record.get("attributes") or {}
        try:
            count = int(attributes.get("ApproximateReceiveCount", 1))
        except (TypeError, ValueError):
            count = 1
        entries.append(
            RetryEntry(
                message_id=str(message_id),
                queue_url=queue_url,
                receipt_handle=str(receipt),
                visibility_seconds=retry_visibility_seconds(count, base, cap),
            )
        )
    return entries


def batches(entries: Sequence[RetryEntry]) -> list[tuple[str, list[RetryEntry]]]:
    """Entries grouped by queue, at most :data:`SQS_MAX_BATCH_ENTRIES` per request."""
    by_queue: dict[str, list[RetryEntry]] = {}
    for entry in entries:
        by_queue.setdefault(entry.queue_url, []).append(entry)
    return [
        (url, group[start : start + SQS_MAX_BATCH_ENTRIES])
        for url, group in by_queue.items()
        for start in range(0, len(group), SQS_MAX_BATCH_ENTRIES)
    ]


@dataclass
class Outcome:
    """What the visibility changes did (for logs and tests)."""

    changed: int = 0
    failed: int = 0
    requests: int = 0


async def change_visibility(
    sqs: Any, entries: Sequence[RetryEntry], *, budget_s: float, logger: Logger
) -> Outcome:
    """One ChangeMessageVisibilityBatch per queue and 10 entries, concurrently.

    Never raises (except on cancellation of the caller): every failure, a
    ``Failed`` entry, an exception or the timeout, is logged and counted.
    """
    outcome = Outcome()
    if not entries:
        return outcome
    groups = batches(entries)

    async def send(url: str, group: list[RetryEntry]) -> None:
        # Ids are positions: unique within the request and always valid SQS ids.
        by_id = {f"r{index}": entry for index, entry in enumerate(group)}
        outcome.requests += 1
        try:
            response = await sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {
                        "Id": entry_id,
                        "ReceiptHandle": entry.receipt_handle,
                        "VisibilityTimeout": entry.visibility_seconds,
                    }
                    for entry_id, entry in by_id.items()
                ],
            )
            failures = [f for f in response.get("Failed") or [] if str(f.get("Id")) in by_id]
        except Exception as err:  # the response must be returned regardless
            outcome.failed += len(group)
            logger.warning(
                "could not shorten the visibility of records to retry; they come back after "
                "the queue's visibility timeout",
                extra={
                    "message_ids": [e.message_id for e in group],
                    "error": f"{type(err).__name__}: {err}",
                },
            )
            return
        for failure in failures:
            logger.warning(
                "could not shorten the visibility of a record to retry; it comes back after "
                "the queue's visibility timeout",
                extra={
                    "message_id": by_id[str(failure.get("Id"))].message_id,
                    "code": failure.get("Code"),
                    "error": failure.get("Message"),
                },
            )
        outcome.failed += len(failures)
        outcome.changed += len(group) - len(failures)

    tasks = [asyncio.ensure_future(send(url, group)) for url, group in groups]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, budget_s))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
        unsent = len(entries) - outcome.changed - outcome.failed
        outcome.failed += unsent
        logger.warning(
            "shortening the visibility of records to retry timed out; they come back after "
            "the queue's visibility timeout",
            extra={"budget_s": round(budget_s, 3), "records": unsent},
        )
    logger.info(
        "records to retry made visible again soon",
        extra={
            "changed": outcome.changed,
            "failed": outcome.failed,
            "visibility_s": sorted({e.visibility_seconds for e in entries}),
        },
    )
    return outcome
