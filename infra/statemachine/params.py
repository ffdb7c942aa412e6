"""What a definition is built from: the stack's resources and the workflow's options.

:class:`WorkflowOptions` is everything a run's behaviour depends on (the
ownership policy, every wait, deadline and count); the Pulumi program builds
it once from the stack configuration (infra/config) and hands it on whole.
:class:`StackResources` names what the stack created (known once deployed).
:class:`WorkflowParams` is both, one flat record the phases read.

Each is validated when it is made (validation.py): values AWS would accept but
that make a broken workflow are refused naming the field, so a bad stack
config fails at ``pulumi up`` (preview) instead of in the first scheduled run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from infra.contract import DEFAULT_NOTIFY_OUTCOMES, DEFAULT_RUNS_PREFIX
from infra.sizing import DEFAULT_TPS_PER_UNIT, derive_concurrency, planned_units_bound

OWNERSHIP_EXCLUSIVE = "exclusive"  # always stop the model at the end of a run
OWNERSHIP_SHARED = "shared"  # stop it only if this run started it

SQS_MAX_RECEIVE = 10  # ReceiveMessage's MaxNumberOfMessages limit

# Step Functions fails an execution whose history reaches 25,000 events, and no
# Catch sees it: every loop of the run is bounded, and the worst case of all of
# them together stays below HISTORY_EVENT_BUDGET (the rest is room for retries,
# 3 events per retried call). A Task writes 5 events (entered, scheduled,
# started, succeeded or failed, exited), any other state 2; a describe is a Task
# and the Choice and Pass that read its one item (9). The figures are the costliest
# pass round each loop of the rendered definition (tests/workflow/test_history.py
# walks the graph and holds them to it).
HISTORY_EVENT_BUDGET = 22_000
# Every state entered once, and the small loops: the peek (at most 10 messages)
# and the notice's cost in whole USD (notify.MAX_WHOLE_USD_ROUNDS).
FIXED_EVENTS = 800
# The describe ladder: ActOnModelStatus, the count, the wait (2 each) + the describe (9). Up
# to start_deadline_polls per start, and as many again for a model found STOPPING
# that is waited out before the first start.
EVENTS_PER_DESCRIBE = 15
# A start: ActOnModelStatus, the start (5), mark, reset, the first wait + the describe (9).
EVENTS_PER_START = 22
# A drain poll: decision, count, wait (2 each) + the queue count (5).
EVENTS_PER_DRAIN_POLL = 11
# A model check: the describe (9), its Choice and the reset (2 each), and the
# decision entered again (2); one per model_check_seconds of drain waits, at most
# one per poll (every poll when the waits are as long as the check interval).
EVENTS_PER_MODEL_CHECK = 15
# The cleanup's mapping wait: count, deadline, wait, the Choice after it, the
# disable and the look (5 each), the Choice after the look.
EVENTS_PER_MAPPING_WAIT = 20
# The cleanup's model wait: count, deadline, wait (2 each), the describe (9), the
# route, the refused stop (5) and the Choice on the refusal.
EVENTS_PER_CLEANUP_WAIT = 24
MIN_DRAIN_POLLS = 100
# The drain's cost estimate is kept in ten-thousandths of a USD: States.MathAdd
# adds integers, and a 32-bit one must not overflow in any run.
COST_UNIT_USD = 0.0001
MAX_RUN_COST_UNITS = 2**31 - 1

# USD per inference-unit hour, Custom Labels' list price in us-east-1 (cost estimates).
DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR = 4.0
# drainConfirmSeconds 0: wait this long (SQS counts are approximate), or the
# longest drain poll wait when that is shorter.
DEFAULT_CONFIRM_SECONDS = 5


@dataclass(frozen=True, kw_only=True)
class StackResources:
    """What the stack created, as the definition names it."""

    queue_url: str
    project_arn: str
    project_version_arn: str
    version_name: str
    event_source_mapping_uuid: str
    final_bucket: str
    # Run-end notification (a final phase after the summary is written; a failure
    # to notify never fails the run). None: no SNS publish / no EventBridge event.
    notification_topic_arn: str | None = None
    event_bus_arn: str | None = None

    def __post_init__(self) -> None:
        # Imported here: validation.py reads this module's constants.
        from infra.statemachine.validation import validate_resources

        validate_resources(self)


@dataclass(frozen=True, kw_only=True)
class WorkflowOptions:
    """How runs behave; every field has its production default."""

    runs_prefix: str = DEFAULT_RUNS_PREFIX
    min_inference_units: int = 1
    max_inference_units: int | None = None  # None: omit MaxInferenceUnits (no auto-scaling)
    ownership: str = OWNERSHIP_EXCLUSIVE
    # The longest wait between queue polls while draining: used while the backlog
    # left would take longer than this to process at the planned throughput.
    poll_interval_seconds: int = 60
    # The shortest: once the rest would be done within a few seconds.
    fast_poll_seconds: int = 2
    # Wait before the poll that confirms an empty queue (0: DEFAULT_CONFIRM_SECONDS,
    # see confirm_seconds). The model idles, billed, until then.
    drain_confirm_seconds: int = 0
    # Describe a STARTING model every `seconds` until `elapsed` seconds of waiting,
    # then every model_poll_seconds. A short start is noticed within seconds; a long
    # one (AWS: 10-30 minutes) at 15 s, about the cheapest interval for 1 unit: half
    # of it is billed lateness, and each describe costs 4 transitions.
    model_poll_ladder: tuple[tuple[int, int], ...] = ((30, 3), (120, 6))
    model_poll_seconds: int = 15  # re-describe while STARTING / STOPPING (after the ladder)
    # Backlog-aware sizing (0: off, start with min_inference_units): plan the units so
    # the backlog takes about this long at tps_per_unit images/s per unit.
    target_run_minutes: int = 0
    tps_per_unit: float = DEFAULT_TPS_PER_UNIT
    # The most units a plan starts when max_inference_units is None.
    max_planned_units: int = 4
    # The mapping's MaximumConcurrency for a plan of 1, 2, ... units (empty: derived
    # with infra.sizing.derive_concurrency's defaults).
    concurrency_by_units: tuple[int, ...] = ()
    # Starts of the model per run (a start ending FAILED may be transient).
    max_start_attempts: int = 2
    # For the run-end notice's cost estimate (USD per inference-unit hour).
    price_per_inference_unit_hour: float = DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR
    model_start_timeout_seconds: int = 45 * 60
    max_run_seconds: int = 6 * 3600  # end the run (rest stays queued) after this
    # Re-check that the model is still RUNNING after this many seconds of drain
    # waits: a model stopped by someone else makes every image fail "not ready",
    # and those retries reach the DLQ within minutes.
    model_check_seconds: int = 60
    # After max-run: let in-flight batches finish (the program derives it from the
    # function timeout and batching window, infra/config/stack.py).
    disable_grace_seconds: int = 30
    # The cleanup sees the mapping Disabled before it stops the model: a mapping
    # still Enabling or Updating refuses the disable, so it is disabled (or, while
    # Disabling, looked at) again every mapping_poll_seconds for up to
    # mapping_wait_seconds (Lambda's own state changes take seconds).
    mapping_poll_seconds: int = 5
    mapping_wait_seconds: int = 120
    retry_interval_seconds: int = 2  # first back-off of SDK retries (throttling etc.)
    retry_max_attempts: int = 6  # SDK retries per call before the error is caught
    # s3:TestEvent peek: a backlog of at most this many visible messages (and none in
    # flight or delayed) is received once, test events deleted; 0 turns the peek off.
    test_event_peek_max: int = 10
    # How long the peeked messages that are kept stay invisible (their receive count
    # grows by one); short, so the Lambda gets them soon after the model is up.
    peek_visibility_timeout_seconds: int = 30
    # Wait before the guard lists the running executions: ListExecutions is
    # eventually consistent, so two runs started moments apart (the hourly tick
    # and an on-demand start) could each miss the other and both proceed. After
    # this wait each sees the other and only the older goes on. 0: no wait.
    guard_settle_seconds: int = 10
    # The run outcomes that send the run-end notification (when the stack has a topic).
    notify_outcomes: tuple[str, ...] = DEFAULT_NOTIFY_OUTCOMES

    def __post_init__(self) -> None:
        # Imported here: validation.py reads this module's constants.
        from infra.statemachine.validation import validate_options

        validate_options(self)

    @property
    def mapping_wait_polls(self) -> int:
        """Disables (and looks) the cleanup tries before it gives up on the mapping."""
        return max(1, math.ceil(self.mapping_wait_seconds / self.mapping_poll_seconds))

    @property
    def model_wait_polls(self) -> int:
        """How many model re-describes fit in the start deadline (cleanup's wait)."""
        return max(1, math.ceil(self.model_start_timeout_seconds / self.model_poll_seconds))

    def start_polls(self) -> list[tuple[int, int]]:
        """The describe cadence while starting: (up to this many polls, wait seconds),
        the last rung ending at the start deadline."""
        rungs: list[tuple[int, int]] = []
        polls = elapsed = 0
        for until, seconds in self.model_poll_ladder:
            until = min(until, self.model_start_timeout_seconds)
            if until <= elapsed:
                continue
            polls += math.ceil((until - elapsed) / seconds)
            elapsed = until
            rungs.append((polls, seconds))
        rest = self.model_start_timeout_seconds - elapsed
        polls += max(0, math.ceil(rest / self.model_poll_seconds))
        rungs.append((max(polls, 1), self.model_poll_seconds))
        return rungs

    @property
    def start_deadline_polls(self) -> int:
        """Describes of a STARTING model that fit in the start deadline."""
        return self.start_polls()[-1][0]

    @property
    def max_drain_polls(self) -> int:
        """Drain polls a run may make: max_run_seconds at the fastest poll, bounded
        so the whole execution stays below Step Functions' 25,000 history events
        (an execution that reaches them fails with no cleanup at all)."""
        fastest = math.ceil(self.max_run_seconds / self.fast_poll_seconds) + 1
        # - 1: a failed confirmation counts two polls between two decisions
        return max(1, min(fastest, self.drain_poll_budget - 1))

    @property
    def model_checks_bound(self) -> int:
        """Model checks a run can make: one per model_check_seconds of drain waits
        (the waits end within one wait of max_run_seconds)."""
        longest = max(self.poll_interval_seconds, self.confirm_seconds)
        return (self.max_run_seconds + longest) // self.model_check_seconds + 1

    @property
    def history_events_outside_drain(self) -> int:
        """The worst case of every state once and every loop but the drain's."""
        describes = (self.max_start_attempts + 1) * self.start_deadline_polls
        return (
            FIXED_EVENTS
            + describes * EVENTS_PER_DESCRIBE
            + self.max_start_attempts * EVENTS_PER_START
            + (self.mapping_wait_polls + 1) * EVENTS_PER_MAPPING_WAIT
            + (self.model_wait_polls + 1) * EVENTS_PER_CLEANUP_WAIT
        )

    @property
    def drain_poll_budget(self) -> int:
        """The most drain polls that fit in the history events the rest leaves: P
        polls and min(P, model_checks_bound) checks. The decision ends the drain at
        this many polls before any other rule, so it holds whatever the queue does."""
        left = HISTORY_EVENT_BUDGET - self.history_events_outside_drain
        with_checks = left // (EVENTS_PER_DRAIN_POLL + EVENTS_PER_MODEL_CHECK)
        if with_checks <= self.model_checks_bound:
            return max(0, with_checks)
        return (left - self.model_checks_bound * EVENTS_PER_MODEL_CHECK) // EVENTS_PER_DRAIN_POLL

    @property
    def confirm_seconds(self) -> int:
        """Seconds between the first empty poll and the one that confirms the drain."""
        if self.drain_confirm_seconds:
            return self.drain_confirm_seconds
        return min(self.poll_interval_seconds, max(DEFAULT_CONFIRM_SECONDS, self.fast_poll_seconds))

    @property
    def max_units(self) -> int:
        """The most units a run plans (and the bound of a model found RUNNING)."""
        return planned_units_bound(
            self.min_inference_units, self.max_inference_units, self.max_planned_units
        )

    def concurrency_for(self, units: int) -> int:
        """The mapping's MaximumConcurrency for a plan of ``units``."""
        if len(self.concurrency_by_units) >= units:
            return self.concurrency_by_units[units - 1]
        return derive_concurrency(units, self.tps_per_unit)

    def drain_waits(self) -> list[int]:
        """The drain poll waits, longest first: poll_interval halving to fast_poll."""
        waits = [self.poll_interval_seconds]
        while waits[-1] // 2 > self.fast_poll_seconds:
            waits.append(waits[-1] // 2)
        if waits[-1] != self.fast_poll_seconds:
            waits.append(self.fast_poll_seconds)
        return waits


@dataclass(frozen=True, kw_only=True)
class WorkflowParams(StackResources, WorkflowOptions):
    """The stack's resources and the workflow's options in one flat record: a phase
    reads ``p.queue_url`` and ``p.poll_interval_seconds`` alike."""

    def __post_init__(self) -> None:
        StackResources.__post_init__(self)
        WorkflowOptions.__post_init__(self)

    @classmethod
    def of(cls, resources: StackResources, options: WorkflowOptions) -> WorkflowParams:
        return cls(**_fields_of(resources), **_fields_of(options))


def _fields_of(record: StackResources | WorkflowOptions) -> dict[str, Any]:
    """A dataclass's fields, unconverted (``dataclasses.asdict`` would copy tuples)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
