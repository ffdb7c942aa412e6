"""The orchestration state machine, built by a pure function.

Plain values in, a plain dict (Amazon States Language, JSONPath, AWS SDK
service integrations only) out; no pulumi import. The Pulumi program calls
:func:`build_definition` inside ``Output.all(...).apply``; tests and the local
emulator call it with emulator ARNs and run the result.

A run, phase by phase (one module each, listed in order in :data:`PHASES`)::

    guard    Init; only the oldest RUNNING execution proceeds, others: skipped
    backlog  visible + in flight + delayed == 0 -> nothing-to-do (exclusive
             ownership: a model found RUNNING is stopped anyway); the model as
             found; peek: a small backlog of S3 test events only is nothing-to-do
    plan     the inference units (from the backlog when sizing is on, or the
             RUNNING model's), the mapping concurrency, the drain thresholds
    model    RUNNING: use it; STOPPED/FAILED/...: start it (FAILED: bounded per
             run); STARTING/STOPPING: wait on a describe ladder within the start
             deadline; anything else (or no such version): fail
    drain    enable the mapping; poll with waits that shrink with the backlog left
             until empty twice (the second a short confirmation), the run
             deadline, or the model lost
    cleanup  disable the mapping, stop the model per ownership
    summary  runs/<execution name>.json; succeed or fail with the cause
    notify   (optional) the essentials to the SNS topic and the default event bus

Every Task from the backlog count to the end of the drain catches
``States.ALL`` into the cleanup, so no error path leaves the model running or
the mapping enabled. The Tasks that can not fail into the cleanup catch into
their own next step: the cleanup's (a failed disable still stops the model, a
failed stop is recorded), the summary's (into the notification) and the
peek's (a failed receive or delete leaves the messages queued and the run
goes on as if there had been no peek). Waits, deadlines
and counts all come from :class:`WorkflowOptions` (with the stack's resources,
:class:`WorkflowParams`); deadlines are counters
(``States.MathAdd``) because JSONPath has no clock arithmetic. State names
live in :mod:`infra.statemachine.names`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.statemachine import backlog, cleanup, drain, guard, model, notify, plan, summary
from infra.statemachine.asl import States, check_graph, merge
from infra.statemachine.params import (
    DEFAULT_CONFIRM_SECONDS,
    DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR,
    OWNERSHIP_EXCLUSIVE,
    OWNERSHIP_SHARED,
    StackResources,
    WorkflowOptions,
    WorkflowParams,
)
from infra.statemachine.validation import OptionError

__all__ = [
    "DEFAULT_CONFIRM_SECONDS",
    "DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR",
    "OWNERSHIP_EXCLUSIVE",
    "OWNERSHIP_SHARED",
    "PHASES",
    "OptionError",
    "StackResources",
    "WorkflowOptions",
    "WorkflowParams",
    "build_definition",
    "execution_timeout",
]

PHASES: tuple[Callable[[WorkflowParams], States], ...] = (
    guard.states,
    backlog.states,
    plan.states,
    model.states,
    drain.states,
    cleanup.states,
    summary.states,
    notify.states,
)


def execution_timeout(p: WorkflowParams) -> int:
    """A backstop far beyond every bounded loop (the counters end runs first): an
    execution stopped by it gets no cleanup, so it must never come first."""
    bounded = (
        p.model_start_timeout_seconds * p.max_start_attempts  # start waits
        + p.model_wait_polls * p.model_poll_seconds  # cleanup wait
        + p.max_run_seconds  # drain waits, confirmations included
        + p.max_drain_polls * 5  # the drain's own calls, generously
        + p.disable_grace_seconds
        + p.guard_settle_seconds
        + 3600
    )
    return bounded * 2


def build_definition(params: WorkflowParams) -> dict[str, Any]:
    """The state machine definition (ASL dict; ``json.dumps`` it for AWS). The
    parameters were validated when they were made; the graph is checked here (every
    transition names a state, every state is reachable)."""
    states = merge(*(phase(params) for phase in PHASES))
    check_graph(guard.ENTRY, states)
    return {
        "Comment": (
            "Batch inference for Rekognition Custom Labels: start the model only when "
            "the queue has work, drain it at full throughput, always clean up."
        ),
        "StartAt": guard.ENTRY,
        "TimeoutSeconds": execution_timeout(params),
        "States": states,
    }
