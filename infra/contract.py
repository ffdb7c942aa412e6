"""The run contract: what the workflow writes and what everyone else reads.

Pulumi-free and AWS-free: the state machine builder (infra/statemachine), the
Pulumi program, the local emulator, the CLI and the benchmarks all import these
names, so no concept of a run is written twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runtime import documents
from runtime.alerts import EVENT_SOURCE as ALERT_EVENT_SOURCE

# Run outcomes, as written to the run summary's "outcome" field.
OUTCOME_SKIPPED = "skipped"  # an older execution is running; nothing touched
OUTCOME_NOTHING_TO_DO = "nothing-to-do"  # empty backlog; the model was not started
OUTCOME_DRAINED = "drained"  # the backlog was processed, queue empty twice in a row
OUTCOME_MAX_RUN = "max-run-reached"  # the run deadline ended it; the rest stays queued
OUTCOME_FAILED = "failed"  # see the summary's "error" (Error, Cause)
OUTCOMES = (
    OUTCOME_SKIPPED,
    OUTCOME_NOTHING_TO_DO,
    OUTCOME_DRAINED,
    OUTCOME_MAX_RUN,
    OUTCOME_FAILED,
)

SUMMARY_SCHEMA_VERSION = 2

# Outcomes notified at the end of a run unless the stack says otherwise
# (config notifyOnOutcomes): the ones somebody may want to act on.
DEFAULT_NOTIFY_OUTCOMES = (OUTCOME_DRAINED, OUTCOME_MAX_RUN, OUTCOME_FAILED)

# The run-end event on the account's default EventBridge bus (PutEvents); the same
# source as the function's label alerts (runtime/alerts.py), which owns the name.
EVENT_SOURCE = ALERT_EVENT_SOURCE
EVENT_DETAIL_TYPE = "Rekognition Batch Run Finished"

# The input the schedule starts each execution with (EventBridge Scheduler on
# AWS, emulator/schedule.py locally; always without an execution name).
SCHEDULE_INPUT: Mapping[str, str] = {"source": "schedule"}

# Run summaries: s3://<final bucket>/<runs prefix><execution name>.json
DEFAULT_RUNS_PREFIX = documents.RUNS_PREFIX


def summary_key(runs_prefix: str, execution_name: str) -> str:
    """The key of a run's summary document in the final bucket."""
    return f"{runs_prefix}{execution_name}.json"


# The backlog, as the workflow counts it: visible + in flight + delayed.
BACKLOG_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def backlog_counts(attributes: Mapping[str, Any]) -> dict[str, int]:
    """visible / inFlight / delayed / total from GetQueueAttributes' Attributes, as the
    state machine's PollQueue computes them (absent counts are 0)."""
    visible, in_flight, delayed = (int(attributes.get(n, 0)) for n in BACKLOG_ATTRIBUTES)
    return {
        "visible": visible,
        "inFlight": in_flight,
        "delayed": delayed,
        "total": visible + in_flight + delayed,
    }


def notification_suffixes(suffixes: Sequence[str]) -> list[str]:
    """S3 suffix filters are case-sensitive: queue both letter cases of each suffix."""
    out: list[str] = []
    for suffix in suffixes:
        for variant in (suffix.lower(), suffix.upper()):
            if variant not in out:
                out.append(variant)
    return out
