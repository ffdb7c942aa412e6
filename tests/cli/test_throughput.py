"""Observed images/s per unit from run summaries, and the tpsPerUnit advice."""

from __future__ import annotations

from typing import Any

from cli.runs import describe_plan, observed_tps_per_unit, throughput_advice


def summary(
    images: int, seconds: float, units: int = 2, planned: float = 5.0, **changes: Any
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "outcome": "drained",
        "config": {"tpsPerUnit": planned, "drainConfirmSeconds": 5},
        "plan": {"units": units, "tpsPlanned": units * planned},
        "backlogAtStart": {"total": images},
        "queueAtEnd": {"total": 0},
        "timestamps": {
            "mappingEnabled": "2026-11-29T10:00:00Z",
            # the drain ends one confirmation (5 s) after the first empty poll
            "drainEnded": f"2026-11-29T10:{int(seconds + 5) // 60:02d}:{int(seconds + 5) % 60:02d}Z",
        },
    }
    base.update(changes)
    return base


def test_observed_throughput_is_images_over_the_drain_per_unit() -> None:
    assert observed_tps_per_unit(summary(1200, 120, units=2)) == 5.0
    assert observed_tps_per_unit(summary(600, 120, units=1)) == 5.0


def test_short_failed_or_old_runs_say_nothing_about_the_model() -> None:
    assert observed_tps_per_unit(summary(50, 10)) is None  # overheads dominate
    assert observed_tps_per_unit(summary(1200, 120, outcome="failed")) is None
    assert observed_tps_per_unit(summary(1200, 120, plan={})) is None  # schema 1: no plan
    assert observed_tps_per_unit(summary(1200, 120, timestamps={})) is None


def test_advice_names_the_value_to_set_when_the_figure_is_off_by_more_than_20_percent() -> None:
    slow = [summary(600, 120, units=1, planned=8.0) for _ in range(3)]  # 5/s observed
    advice = throughput_advice(slow)
    assert advice["observed"] == 5.0 and advice["planned"] == 8.0 and advice["runs"] == 3
    assert "pulumi config set tpsPerUnit 5.00" in advice["advice"]
    close = [summary(600, 120, units=1, planned=5.5)]
    assert "advice" not in throughput_advice(close)


def test_advice_uses_the_median_so_one_odd_run_does_not_move_it() -> None:
    runs = [summary(600, 120, units=1), summary(600, 120, units=1), summary(6000, 120, units=1)]
    assert throughput_advice(runs)["observed"] == 5.0


def test_no_eligible_runs_no_figure() -> None:
    assert throughput_advice([summary(10, 5)]) == {"runs": 0, "planned": 5.0, "observed": None}


def test_the_plan_reads_as_units_concurrency_and_expected_minutes() -> None:
    text = describe_plan({"units": 3, "concurrency": 6, "tpsPlanned": 15.0, "backlog": 1800})
    assert text == "3 IU · concurrency 6 · ~2.0 min for 1,800 images at 15 images/s"
    assert describe_plan({"units": 1, "concurrency": 2}) == "1 IU · concurrency 2"
