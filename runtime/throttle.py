"""Throttling is a rate signal, not a failure: pace the model calls and wait it out.

A Custom Labels model accepts a fixed number of DetectCustomLabels per second
(its inference units). Above that it answers ``ProvisionedThroughputExceeded``
or ``Throttling``. Retrying those with botocore's small attempt budget and then
handing the record back to SQS is the expensive choice: the message returns
only after the queue's visibility timeout (minutes) while the model, billed per
hour, idles. So the runtime treats throttling differently from other errors:

- :func:`backoff_delay` gives the jittered, capped exponential wait of one
  image between its throttled attempts;
- botocore does not retry throttles itself (:func:`exclude_throttles_from_sdk_retries`):
  its back-off would sleep while holding one of the invocation's model slots
  and count against ``MAX_ATTEMPTS``. Other retryable errors keep botocore's
  retries unchanged.

The pipeline retries a throttled image for as long as the invocation has time
(see ``ImagePipeline._detect``); only when the next attempt could not finish
before the deadline is it reported in ``batchItemFailures``. Never as failed.

Not done: a per-loop AIMD pacer (slow every call down after a throttle, speed
up on success). Measured on the emulator (bench/bench_model_time.py, 14 TPS,
4 concurrent batches) it reached 55% of the provisioned TPS against 84% with
the jittered back-off alone: each Lambda environment sees the shared model's
throttles at the same moment, all cut their rate together, and the gaps
between batches leave each paced environment idle. A throttled call is cheap
(no model time is billed for it); an idle model is not.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from runtime import errors

THROTTLE_CODES: frozenset[str] = frozenset({"Throttling", "ProvisionedThroughputExceeded"})

# Back-off of one throttled image: BASE * 2**n, capped, "equal jitter" (half fixed,
# half random) so that images throttled together do not come back together.
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 0.5
# Without a Lambda context (no deadline) a throttled image gives up after this long.
THROTTLE_RETRY_WINDOW_S = 60.0
# botocore's retries of the model's other transient errors (5xx, timeouts): SDK_RETRY_BASE_S
# x 2**n, capped, equal jitter. Short on purpose: the wait holds a model slot, and an
# invocation's batch is done only when its slowest image is, so botocore's default (up to
# 1, 2, 4, 8 s) left the billed model idle behind one unlucky image; the long-scale
# back-off is the record's SQS visibility (runtime/visibility.py).
SDK_RETRY_BASE_S = 0.1
SDK_RETRY_CAP_S = 1.0

_log = logging.getLogger(__name__)


def is_throttle(exc: BaseException) -> bool:
    """True for the model's throughput answers (any spelling of the two codes)."""
    code = errors.error_code(exc)
    return code is not None and errors.normalise_code(code) in THROTTLE_CODES


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempt``-th throttle (1-based) of one image."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng() * ceiling / 2


class ShortBackoff:
    """botocore retry back-off: ``SDK_RETRY_BASE_S`` x 2**(n-1), capped, equal jitter."""

    def __init__(self, rng: Callable[[], float] = random.random) -> None:
        self._rng = rng

    def delay_amount(self, context: Any) -> float:
        attempt = max(1, int(getattr(context, "attempt_number", 1)))
        ceiling = min(SDK_RETRY_CAP_S, SDK_RETRY_BASE_S * 2 ** min(attempt - 1, 16))
        return float(ceiling / 2 + self._rng() * ceiling / 2)


class UnlimitedRetryQuota:
    """A retry quota that never runs out (see :func:`exclude_throttles_from_sdk_retries`)."""

    def acquire_retry_quota(self, context: Any) -> bool:
        return True

    def release_retry_quota(self, context: Any, http_response: Any, **kwargs: Any) -> None:
        return None


def exclude_throttles_from_sdk_retries(client: Any) -> bool:
    """Make botocore's standard retry handler of ``client`` leave throttles to the pipeline.

    botocore has no option for this, so the client's ``needs-retry`` handler
    (unique id ``retry-config-<service>``) is replaced by one built the same way
    whose checker first rules throttles out. The adaptive client-side rate
    limiter (a separate handler) is left in place. Returns False, leaving the
    client as it was, if the installed aiobotocore does not look as expected.

    Two more differences from botocore's own handler:

    - a short back-off (:class:`ShortBackoff`), see ``SDK_RETRY_BASE_S``;
    - no retry quota. botocore's charges 5 of 500 tokens per retry and gives
      them back only when the call ends in a 2xx; a retried 5xx whose next
      attempt is throttled (routine for a model at its provisioned TPS) ends
      in the pipeline's throttle loop, not in a 2xx, so its tokens were never
      returned. Within minutes at full throughput the quota was empty and
      every InternalServerError became a record retried through SQS (127 of
      500 images in bench/bench_faults.py, 11 of them dead-lettered).
      Retries stay bounded by MAX_ATTEMPTS per call and the invocation's
      model slots.
    """
    try:
        from aiobotocore.retries import standard as aio_standard
        from botocore.retries.standard import RetryEventAdapter

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

        retry_quota = quota_checker = UnlimitedRetryQuota()
        handler = aio_standard.AioRetryHandler(
            retry_policy=aio_standard.AioRetryPolicy(
                retry_checker=_NotThrottle(), retry_backoff=ShortBackoff()
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
