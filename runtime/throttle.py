"""Throttling is a rate signal, not a failure: pace the model calls and wait it out.

A Custom Labels model accepts a fixed number of DetectCustomLabels per second
(its inference units). Above that it answers ``ProvisionedThroughputExceeded``
or ``Throttling``. Retrying those with botocore's small attempt budget and then
handing the record back to SQS is the expensive choice: the message returns
only after the queue's visibility timeout (minutes) while the model, billed per
hour, idles. So the runtime treats throttling differently from other errors:

- :class:`Pacer` (one per event loop, i.e. per warm Lambda environment) is an
  AIMD rate limiter: unlimited until the first throttle, then it drops to a
  fraction of the rate that actually succeeded, and creeps back up on every
  success, so concurrent images do not stampede the model;
- :func:`backoff_delay` gives the jittered, capped exponential wait of one
  image between its throttled attempts;
- botocore does not retry throttles itself (:func:`exclude_throttles_from_sdk_retries`):
  its back-off would sleep while holding one of the invocation's model slots
  and count against ``MAX_ATTEMPTS``. Other retryable errors keep botocore's
  retries unchanged.

The pipeline retries a throttled image for as long as the invocation has time
(see ``ImagePipeline._detect``); only when the next attempt could not finish
before the deadline is it reported in ``batchItemFailures``. Never as failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from runtime import errors

THROTTLE_CODES: frozenset[str] = frozenset({"Throttling", "ProvisionedThroughputExceeded"})

# Back-off of one throttled image: BASE * 2**n, capped, "equal jitter" (half fixed,
# half random) so that images throttled together do not come back together.
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 2.0
# Without a Lambda context (no deadline) a throttled image gives up after this long.
THROTTLE_RETRY_WINDOW_S = 60.0

_log = logging.getLogger(__name__)


def is_throttle(exc: BaseException) -> bool:
    """True for the model's throughput answers (any spelling of the two codes)."""
    code = errors.error_code(exc)
    return code is not None and errors.normalise_code(code) in THROTTLE_CODES


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempt``-th throttle (1-based) of one image."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))
    return ceiling / 2 + rng() * ceiling / 2


class Pacer:
    """Additive-increase / multiplicative-decrease pacing of one loop's model calls.

    Why AIMD and not a fixed rate: the model's TPS is not known to the function
    (it depends on the model and the inference units) and several Lambda
    environments share it. Each one converges on its share from the throttles it
    sees. Only for use inside one event loop (not thread safe, by design).
    """

    DECREASE = 0.75  # rate after a throttle = DECREASE x what succeeded in the last second
    INCREASE = 0.03  # every success raises the rate by 3% (doubling in ~25 successes)
    MIN_RATE = 0.5  # calls/s: never stop entirely
    WINDOW_S = 1.0  # how far back "what succeeded" looks, and the minimum gap between decreases

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rate: float | None = None  # calls/s; None = not paced (no throttle seen yet)
        self._next = 0.0  # clock time of the next free sending slot
        self._successes: deque[float] = deque()
        self._last_decrease = float("-inf")
        self.throttles = 0

    async def acquire(self) -> None:
        """Wait for this call's sending slot (immediately while unpaced)."""
        if self.rate is None:
            return
        now = self.clock()
        at = max(now, self._next)
        self._next = at + 1.0 / self.rate
        if at > now:
            await asyncio.sleep(at - now)

    def on_success(self) -> None:
        now = self.clock()
        self._successes.append(now)
        self._trim(now)
        if self.rate is not None:
            self.rate *= 1.0 + self.INCREASE
            # Far above what the model has shown it accepts: pacing is moot, lift it.
            if self.rate > 4 * max(len(self._successes) / self.WINDOW_S, self.MIN_RATE) + 10:
                self.rate = None

    def on_throttle(self) -> None:
        now = self.clock()
        self.throttles += 1
        self._trim(now)
        if now - self._last_decrease < self.WINDOW_S and self.rate is not None:
            return  # one burst of throttles is one signal
        self._last_decrease = now
        succeeded = len(self._successes) / self.WINDOW_S
        current = self.rate if self.rate is not None else max(succeeded, 2 * self.MIN_RATE)
        base = min(current, succeeded) if succeeded > 0 else current
        self.rate = max(self.MIN_RATE, base * self.DECREASE)
        self._next = min(self._next, now + 1.0 / self.rate)

    def _trim(self, now: float) -> None:
        while self._successes and self._successes[0] <= now - self.WINDOW_S:
            self._successes.popleft()


def exclude_throttles_from_sdk_retries(client: Any) -> bool:
    """Make botocore's standard retry handler of ``client`` leave throttles to the pipeline.

    botocore has no option for this, so the client's ``needs-retry`` handler
    (unique id ``retry-config-<service>``) is replaced by one built the same way
    whose checker first rules throttles out. The adaptive client-side rate
    limiter (a separate handler) is left in place. Returns False, leaving the
    client as it was, if the installed aiobotocore does not look as expected.
    """
    try:
        from aiobotocore.retries import standard as aio_standard
        from botocore.retries import quota
        from botocore.retries.standard import ExponentialBackoff, RetryEventAdapter

        events = client.meta.events
        service = client.meta.service_model.service_id.hyphenize()
        max_attempts = client.meta.config.retries.get("total_max_attempts")
        if not max_attempts:
            return False

        conditions = aio_standard.AioStandardRetryConditions(max_attempts=max_attempts)

        class _NotThrottle:
            async def is_retryable(self, context: Any) -> bool:
                parsed = context.parsed_response or {}
                code = (parsed.get("Error") or {}).get("Code")
                if code and errors.normalise_code(str(code)) in THROTTLE_CODES:
                    return False
                return bool(await aio_standard.resolve_awaitable(conditions.is_retryable(context)))

        retry_quota = quota_checker = aio_standard.RetryQuotaChecker(quota.RetryQuota())
        handler = aio_standard.AioRetryHandler(
            retry_policy=aio_standard.AioRetryPolicy(
                retry_checker=_NotThrottle(), retry_backoff=ExponentialBackoff()
            ),
            retry_event_adapter=RetryEventAdapter(),
            retry_quota=quota_checker,
        )
    except Exception:  # pragma: no cover - a different aiobotocore layout
        _log.warning("could not exclude throttles from botocore retries", exc_info=True)
        return False
    unique_id = f"retry-config-{service}"
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    events.register(f"needs-retry.{service}", handler.needs_retry, unique_id=unique_id)
    events.register(f"after-call.{service}", retry_quota.release_retry_quota)
    return True
