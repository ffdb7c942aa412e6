"""The concurrency rule the infra uses by default and the benchmark measures."""

from __future__ import annotations

import pytest

from infra.sizing import derive_concurrency, ideal_running_seconds, provisioned_tps


def test_one_unit_gets_the_smallest_concurrency_sqs_accepts() -> None:
    assert derive_concurrency(1) == 2


def test_concurrency_follows_littles_law() -> None:
    # 10 units x 5 TPS x 1 s x 1.5 headroom = 75 images in flight / 10 per invocation
    assert derive_concurrency(10) == 8
    assert derive_concurrency(10, tps_per_unit=20, latency_s=0.5) == 15
    assert derive_concurrency(4, batch_size=4, handler_concurrency=16, headroom=1.0) == 5


def test_more_units_never_get_less_concurrency() -> None:
    values = [derive_concurrency(u) for u in range(1, 200)]
    assert values == sorted(values)


def test_concurrency_is_clamped_to_the_event_source_limit() -> None:
    assert derive_concurrency(10_000, tps_per_unit=100) == 1000


@pytest.mark.parametrize("bad", [{"latency_s": 0}, {"batch_size": 0}, {"headroom": 0.5}])
def test_nonsense_inputs_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        derive_concurrency(1, **bad)
    with pytest.raises(ValueError):
        provisioned_tps(0)


def test_ideal_time_is_images_over_provisioned_tps() -> None:
    assert ideal_running_seconds(1000, 2, tps_per_unit=5) == 100.0
