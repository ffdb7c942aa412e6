"""The provisioned throughput cap: inference units x TPS per unit, measured
over a sliding one-second window, holds under many concurrent callers.

Assertions use the server's admission times (exact); the callers' own clocks
add response jitter that depends on how loaded the machine is."""

from __future__ import annotations

import threading
import time

from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator.emu_helpers import VERSION_ARN
from tests.factories import shapes_image

CALLERS = 16
UNITS = 2
TPS_PER_UNIT = 5
CAP = UNITS * TPS_PER_UNIT
RUN_SECONDS = 3.0


def hammer(aws, image: bytes) -> tuple[list[float], int]:
    """CALLERS threads call as fast as they can; returns success times and throttles."""
    ok: list[float] = []
    throttled = [0]
    lock = threading.Lock()
    clients = [
        aws.client(
            "rekognition",
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=2),
        )
        for _ in range(CALLERS)
    ]
    start = threading.Barrier(CALLERS + 1)
    stop_at: list[float] = []

    def caller(client) -> None:
        start.wait()
        while time.monotonic() < stop_at[0]:
            try:
                client.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": image})
                with lock:
                    ok.append(time.monotonic())
            except ClientError as err:
                assert err.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
                with lock:
                    throttled[0] += 1

    threads = [threading.Thread(target=caller, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    stop_at.append(time.monotonic() + RUN_SECONDS)
    start.wait()
    for t in threads:
        t.join()
    return sorted(ok), throttled[0]


def max_in_any_window(times: list[float], width: float = 1.0) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_tps_cap_holds_within_ten_percent_under_concurrent_load(aws):
    aws.model.configure(tps_per_unit=TPS_PER_UNIT)
    aws.model.create(VERSION_ARN, status="RUNNING", inference_units=UNITS)
    ok, throttled = hammer(aws, shapes_image(size=(32, 32)))

    assert throttled > len(ok), "the load must exceed the cap for the test to mean anything"
    # The server admits at most the cap in any one-second window (its own clock)...
    admitted = aws.model.admissions(VERSION_ARN)
    assert len(admitted) == len(ok)
    assert max_in_any_window(admitted) <= CAP
    # ...and delivers it: full seconds carry the cap within 10% (callers never
    # left the model idle: they were throttled more often than served).
    first, last = admitted[0], admitted[-1]
    full_seconds = int(last - first)
    assert full_seconds >= 2
    delivered = sum(1 for t in admitted if t < first + full_seconds) / full_seconds
    assert CAP * 0.9 <= delivered <= CAP
    meter = aws.model.meter()
    assert meter["throttles"] == throttled
    assert meter["by_error"]["ProvisionedThroughputExceededException"] == throttled
