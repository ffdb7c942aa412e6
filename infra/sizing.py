"""How much Lambda concurrency keeps a Custom Labels model busy. Pure functions.

The model is billed per inference-unit hour whether it is busy or not, so the
data path must offer it at least its provisioned throughput for the whole run.
By Little's law the images that must be in flight are throughput x time each
image spends in flight; the event source mapping's MaximumConcurrency is that
divided by the images one invocation works on at once, with headroom for the
gaps between batches (receive, result writes, deletes, the poller's latency).

More is still not better, though it is no longer ruinous. Calls above the
provisioned TPS are throttled (ProvisionedThroughputExceeded). The handler
retries a throttled call with capped, jittered back-off for as long as the
invocation has time (runtime/throttle.py), so an excess image waits seconds
inside the invocation instead of minutes in the queue (before: after 5 attempts
it went back to SQS and reappeared only after the visibility timeout, ~6 min,
while the model waited, billed; 8 concurrent batches against a 10 TPS model
then cost 18x the ideal model time). What over-concurrency still costs: Lambda
time spent backing off, throttled requests, and images that finish in bursts
behind one batch's slowest retry. The model cannot go faster than its TPS, so
the rule stays Little's law with a fixed headroom for the gaps between batches,
never more.
"""

from __future__ import annotations

import math

# Rekognition does not publish a fixed TPS per inference unit (it depends on the
# model); 5 images/s per unit is a conservative planning figure, and the one the
# local emulator provisions by default. Override with your model's measured TPS.
DEFAULT_TPS_PER_UNIT = 5.0
# Seconds one image spends in flight in the handler: DetectCustomLabels plus the
# result write, the image copy and the source delete.
DEFAULT_IMAGE_SECONDS = 1.0
DEFAULT_BATCH_SIZE = 10  # the stack's default batchSize
DEFAULT_HANDLER_CONCURRENCY = 16  # runtime MAX_CONCURRENCY default
HEADROOM = 1.5
MIN_CONCURRENCY = 2  # the lowest MaximumConcurrency an SQS event source accepts
MAX_CONCURRENCY = 1000


def provisioned_tps(inference_units: int, tps_per_unit: float = DEFAULT_TPS_PER_UNIT) -> float:
    """Images per second the model accepts while RUNNING."""
    if inference_units < 1 or tps_per_unit <= 0:
        raise ValueError("inference_units must be >= 1 and tps_per_unit > 0")
    return inference_units * tps_per_unit


def derive_concurrency(
    inference_units: int,
    tps_per_unit: float = DEFAULT_TPS_PER_UNIT,
    latency_s: float = DEFAULT_IMAGE_SECONDS,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    handler_concurrency: int = DEFAULT_HANDLER_CONCURRENCY,
    headroom: float = HEADROOM,
) -> int:
    """MaximumConcurrency of the event source mapping for this model size.

    ``ceil(units * tps_per_unit * latency_s * headroom / min(batch_size,
    handler_concurrency))``, clamped to what SQS event sources accept (2-1000).
    """
    if latency_s <= 0 or batch_size < 1 or handler_concurrency < 1 or headroom < 1:
        raise ValueError("latency_s > 0, batch_size >= 1, handler_concurrency >= 1, headroom >= 1")
    in_flight = provisioned_tps(inference_units, tps_per_unit) * latency_s * headroom
    per_invocation = min(batch_size, handler_concurrency)
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, math.ceil(in_flight / per_invocation)))


def ideal_running_seconds(
    images: int, inference_units: int, tps_per_unit: float = DEFAULT_TPS_PER_UNIT
) -> float:
    """The least model time ``images`` can cost: all of them at provisioned TPS."""
    return images / provisioned_tps(inference_units, tps_per_unit)


def planned_units_bound(
    min_inference_units: int, max_inference_units: int | None, max_planned_units: int
) -> int:
    """The most units a run may plan: the auto-scaling maximum when there is one,
    else maxPlannedUnits (never below the minimum)."""
    return max_inference_units or max(max_planned_units, min_inference_units)
