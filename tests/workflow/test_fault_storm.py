"""A randomised fault storm through the real state machine: nothing is lost.

Model faults (throttling, InternalServerError) and S3 faults (503 SlowDown and
500 InternalError on every object operation) together, at rates drawn from a
seed, on a backlog that also holds images that can never succeed. Whatever the
draws, the outcome is fixed: every good image is processed, every bad one is
filed under failed/, nothing is lost or left waiting, the model is stopped and
the mapping disabled. Transient faults must never be filed as failures.
"""

from __future__ import annotations

import random

import pytest

from emulator.s3faults import OPERATIONS
from infra import outputs as out
from tests.workflow.conftest import Pipeline

GOOD_IMAGES = 24
STORM_TIMEOUT = 150.0  # seconds; a fault-free run of this backlog takes a few


def storm(pipeline: Pipeline, seed: int) -> dict[str, object]:
    """Fault rates drawn from ``seed``; returns them for the failure message."""
    rng = random.Random(seed)
    model = {
        "ThrottlingException": round(rng.uniform(0.1, 0.25), 3),
        "InternalServerError": round(rng.uniform(0.15, 0.35), 3),
    }
    s3 = {
        op: {"SlowDown": round(rng.uniform(0.02, 0.08), 3), "InternalError": 0.01}
        for op in OPERATIONS
    }
    pipeline.aws.model.configure(fault_rates=model, seed=seed)
    pipeline.aws.s3_faults.configure(fault_rates=s3, seed=seed)
    return {"model": model, "s3": s3}


@pytest.mark.parametrize("seed", [5, 2026])
def test_a_fault_storm_loses_nothing_and_leaves_the_model_stopped(
    pipeline: Pipeline, seed: int
) -> None:
    good = pipeline.upload(GOOD_IMAGES, prefix=f"storm-{seed}/")
    s3 = pipeline.aws.client("s3")
    bad = [f"storm-{seed}/corrupt.png", f"storm-{seed}/text.jpg"]
    for key in bad:
        s3.put_object(Bucket=pipeline.outputs[out.SOURCE_BUCKET], Key=key, Body=b"not an image")
    pipeline.uploaded.extend(bad)
    pipeline.wait_for_queue(len(pipeline.uploaded))
    rates = storm(pipeline, seed)

    result = pipeline.run(timeout=STORM_TIMEOUT)

    injected = pipeline.aws.s3_faults.meter()["injected_total"]
    model_faults = pipeline.meter()["faults_injected"]
    pipeline.aws.model.configure(fault_rates={})
    pipeline.aws.s3_faults.configure(fault_rates={})  # count what is there without faults
    where = pipeline.assert_nothing_lost()
    context = f"seed {seed}, rates {rates}, result {result}"
    assert injected > 0 and model_faults > 0, context  # the storm happened
    assert where["processed"] == set(good), context
    assert where["failed"] == set(bad), context
    assert not where["waiting"], context
    assert pipeline.queue()["total"] == 0 and pipeline.dlq()["total"] == 0, context
    assert result.status == "SUCCEEDED" and result.outcome == "drained", context
    assert pipeline.wait_for_model("STOPPED") == "STOPPED"
    assert pipeline.mapping_state() == "Disabled"
