"""The run contract: the pure helpers every layer shares."""

from __future__ import annotations

from infra.contract import DEFAULT_RUNS_PREFIX, notification_suffixes, summary_key


def test_notification_suffixes_cover_both_letter_cases_once() -> None:
    assert notification_suffixes((".jpg", ".PNG", ".JPG")) == [".jpg", ".JPG", ".png", ".PNG"]


def test_summary_key_is_the_execution_name_under_the_runs_prefix() -> None:
    assert summary_key(DEFAULT_RUNS_PREFIX, "run-1") == "runs/run-1.json"
    assert summary_key("team/runs/", "a b") == "team/runs/a b.json"
