"""botocore's retries of the model's 5xx: short waits and no quota that a busy model drains.

A retried InternalServerError whose next attempt is throttled never ends in a
2xx, so botocore's retry quota never got those tokens back: at full throughput
the quota emptied and every 5xx became a record retried through SQS.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from runtime import throttle
from runtime.clients import LoopResources
from runtime.throttle import SDK_RETRY_BASE_S, SDK_RETRY_CAP_S, ShortBackoff
from tests.runtime.conftest import VERSION_ARN, Env


def test_the_sdk_backoff_is_short_jittered_and_capped() -> None:
    def delays(rng: float) -> list[float]:
        backoff = ShortBackoff(rng=lambda: rng)
        return [backoff.delay_amount(SimpleNamespace(attempt_number=n)) for n in range(1, 10)]

    lows, highs = delays(0.0), delays(1.0)
    assert highs[0] == pytest.approx(SDK_RETRY_BASE_S)
    assert lows[0] == pytest.approx(SDK_RETRY_BASE_S / 2)
    assert highs[1] == pytest.approx(2 * SDK_RETRY_BASE_S)
    assert max(highs) == pytest.approx(SDK_RETRY_CAP_S)
    assert sum(highs[:4]) <= 1.5  # MAX_ATTEMPTS 5: at most ~1.5 s of waits per call


async def _detect_many(resources: LoopResources, bucket: str, calls: int) -> None:
    async def one() -> None:
        with contextlib.suppress(Exception):  # every attempt faults: only retries matter
            await resources.rekognition.detect_custom_labels(
                ProjectVersionArn=VERSION_ARN,
                Image={"S3Object": {"Bucket": bucket, "Name": "a.png"}},
            )

    for start in range(0, calls, 25):
        await asyncio.gather(*(one() for _ in range(min(25, calls - start))))


def test_5xx_are_still_retried_after_many_calls_that_end_throttled(env: Env) -> None:
    env.put("a.png")
    settings = replace(env.settings, max_attempts=2)
    # Every attempt faults: half 5xx (retried once by botocore), half throttles (not
    # retried). A 5xx followed by a throttle cost botocore's quota 5 tokens for good:
    # 300 calls drain its 500 well before the end.
    env.aws.model.configure(
        fault_rates={"InternalServerError": 0.5, "ThrottlingException": 0.5}, seed=4
    )
    loop = asyncio.new_event_loop()
    try:
        resources = loop.run_until_complete(LoopResources.open(settings))
        try:
            loop.run_until_complete(_detect_many(resources, "rt-source", 300))
            env.aws.model.configure(fault_rates={"InternalServerError": 1.0})
            before = env.aws.model.meter()["detect_calls"]
            loop.run_until_complete(_detect_many(resources, "rt-source", 1))
            assert env.aws.model.meter()["detect_calls"] - before == settings.max_attempts
        finally:
            loop.run_until_complete(resources.aclose())
    finally:
        loop.close()


def test_the_rekognition_client_gets_the_short_backoff(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    original = ShortBackoff.delay_amount

    def spy(self: ShortBackoff, context: Any) -> float:
        seen.append(context.attempt_number)
        return original(self, context)

    monkeypatch.setattr(throttle.ShortBackoff, "delay_amount", spy)
    env.put("a.png")
    env.aws.model.configure(fault_rates={"InternalServerError": 1.0})
    loop = asyncio.new_event_loop()
    try:
        resources = loop.run_until_complete(
            LoopResources.open(replace(env.settings, max_attempts=3))
        )
        try:
            loop.run_until_complete(_detect_many(resources, "rt-source", 1))
        finally:
            loop.run_until_complete(resources.aclose())
    finally:
        loop.close()
    assert seen == [1, 2]
