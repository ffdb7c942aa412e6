"""Throttling: retried within the invocation while time allows, never filed as failed."""

from __future__ import annotations

import pytest

from runtime import throttle
from runtime.throttle import backoff_delay, is_throttle
from tests.runtime.conftest import FINAL, SOURCE, FakeContext, failed_ids


class _Error(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": code}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- pure parts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ProvisionedThroughputExceededException", True),
        ("ThrottlingException", True),
        ("rekognition.ThrottlingException", True),
        ("Throttling", True),
        ("InternalServerError", False),
        ("LimitExceededException", False),
    ],
)
def test_only_the_two_throughput_codes_are_throttles(code, expected):
    assert is_throttle(_Error(code)) is expected
    assert is_throttle(ValueError("x")) is False


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    lows = [backoff_delay(n, rng=lambda: 0.0) for n in range(1, 12)]
    highs = [backoff_delay(n, rng=lambda: 1.0) for n in range(1, 12)]
    assert lows[0] == pytest.approx(throttle.BACKOFF_BASE_S / 2)
    assert highs[0] == pytest.approx(throttle.BACKOFF_BASE_S)
    assert highs[1] == pytest.approx(2 * throttle.BACKOFF_BASE_S)
    assert max(highs) == pytest.approx(throttle.BACKOFF_CAP_S)
    assert all(lo < hi for lo, hi in zip(lows, highs, strict=True)), "jitter spreads retries"
    assert highs == sorted(highs)


# -- the handler against a throttling model ------------------------------------------


def test_images_throttled_by_a_saturated_model_finish_in_one_invocation(env, put_and_event, logs):
    # 12 images, 8 model slots, a model admitting 6 calls per second: most first
    # attempts are throttled, yet every image ends processed in this invocation.
    env.aws.model.configure(tps_per_unit=6)
    keys = [f"sat/{i}.png" for i in range(12)]
    handler = env.handler(max_attempts=5)

    response = handler(put_and_event(*keys), FakeContext(remaining_ms=60_000))

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert all(o == "processed" for o in logs.outcomes().values())
    assert len(logs.outcomes()) == len(keys)
    assert not any(k.startswith("failed/") for k in env.keys(FINAL))
    meter = env.aws.model.meter()
    assert meter["throttles"] >= 1, "the model really throttled"
    assert meter["detect_succeeded"] == len(keys)


def test_random_throttles_are_absorbed_beyond_the_attempt_budget(env, put_and_event):
    # Half of the calls throttled and MAX_ATTEMPTS=1: the old count budget would
    # have sent about half of the images back to the queue.
    env.aws.model.configure(fault_rates={"ProvisionedThroughputExceededException": 0.5}, seed=3)
    keys = [f"rnd/{i}.png" for i in range(6)]

    response = env.handler(max_attempts=1)(put_and_event(*keys), FakeContext(remaining_ms=60_000))

    assert response == {"batchItemFailures": []}
    assert {k for k in env.keys(FINAL) if k.endswith(".json")} == {k + ".json" for k in keys}
    assert env.aws.model.meter()["throttles"] >= 1


def test_throttled_until_the_deadline_goes_back_to_the_queue_not_to_failed(
    env, put_and_event, logs
):
    env.aws.model.configure(fault_rates={"ThrottlingException": 1.0})
    # 3.5 s left, 1 s margin: ~2.5 s of paced, throttled attempts (~7 per image on an
    # idle machine, back-off capped at 0.5 s), then a retry via SQS.
    response = env.handler(max_attempts=5)(
        put_and_event("late1.png", "late2.png"), FakeContext(remaining_ms=3500)
    )

    assert failed_ids(response) == {"late1.png", "late2.png"}
    assert env.keys(SOURCE) == {"late1.png", "late2.png"}
    assert env.keys(FINAL) == set()
    lines = logs.images()
    assert {line.outcome for line in lines} == {"retry"}
    # Given up by the throttle loop (the model's code) or cancelled at the deadline
    # during its last back-off: a retry either way.
    assert {line.code for line in lines} <= {"Throttling", "DeadlineExceeded"}
    meter = env.aws.model.meter()
    assert meter["detect_calls"] >= 3, "retried within the invocation, not once"
    assert meter["throttles"] == meter["detect_calls"]


def test_botocore_no_longer_retries_throttles_but_still_retries_server_errors(env, put_and_event):
    handler = env.handler(max_attempts=3)
    env.aws.model.configure(fault_rates={"InternalServerError": 1.0})
    response = handler(put_and_event("ise.png"), FakeContext(remaining_ms=60_000))
    assert failed_ids(response) == {"ise.png"}
    assert env.aws.model.meter()["detect_calls"] == 3, "MAX_ATTEMPTS still applies to 5xx"

    rekognition = handler.resources().rekognition
    assert rekognition.meta.config.retries["mode"] == "standard"
