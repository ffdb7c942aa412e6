"""Tripwires for the Powertools internals ``runtime.handler.LoopBatchProcessor`` relies on.

The handler overrides ``AsyncBatchProcessor.async_process`` and calls the
private ``_async_process_record`` (the pinned aws-lambda-powertools is in
requirements/runtime.txt). These tests fail when an upgrade changes either,
before a deployed handler would.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.batch.base import BasePartialProcessor

from runtime.handler import LoopBatchProcessor
from tests.factories import sqs_event, sqs_record


def test_async_process_is_the_public_method_the_processor_overrides():
    assert "async_process" in vars(BasePartialProcessor)
    assert inspect.signature(BasePartialProcessor.async_process).parameters.keys() == {"self"}
    assert not inspect.iscoroutinefunction(BasePartialProcessor.async_process)


def test_async_process_record_takes_one_record_and_is_a_coroutine():
    method = AsyncBatchProcessor._async_process_record
    assert inspect.iscoroutinefunction(method)
    assert list(inspect.signature(method).parameters) == ["self", "record"]


def test_the_partial_response_runs_through_async_process_on_the_owned_loop():
    """async_process_partial_response calls async_process inside the processor's
    context (records set, responses collected), and the records run on our loop."""
    loop = asyncio.new_event_loop()
    try:
        processor = LoopBatchProcessor(loop)
        seen_loops: list[asyncio.AbstractEventLoop] = []

        async def record_handler(record: Any) -> str:
            seen_loops.append(asyncio.get_running_loop())
            if json.loads(record.body) == "bad":
                raise ValueError("bad record")
            return "ok"

        event = sqs_event(
            sqs_record(json.dumps("good"), message_id="m-good"),
            sqs_record(json.dumps("bad"), message_id="m-bad"),
        )
        for _ in range(2):  # a processor (and its loop) serves several invocations
            response = async_process_partial_response(
                event=event, record_handler=record_handler, processor=processor
            )
            assert response == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
        assert seen_loops == [loop] * 4
        assert not loop.is_closed()
    finally:
        loop.close()


def test_every_record_failing_is_reported_not_raised():
    """raise_on_entire_batch_failure=False: the handler always returns a response."""
    loop = asyncio.new_event_loop()
    try:

        async def fail(record: Any) -> None:
            raise ValueError("no")

        response = async_process_partial_response(
            event=sqs_event(sqs_record("{}", message_id="only")),
            record_handler=fail,
            processor=LoopBatchProcessor(loop),
        )
        assert response == {"batchItemFailures": [{"itemIdentifier": "only"}]}
    finally:
        loop.close()
