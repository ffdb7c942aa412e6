"""The workflow's parameters and their validation.

Everything a run's behaviour depends on is a field here: resources of the
stack, the ownership policy, and every wait, deadline and count. Validation
rejects values AWS would accept but that make a broken workflow, naming the
field, so a bad stack config fails at ``pulumi up`` (preview) instead of in
the first scheduled run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from infra.contract import DEFAULT_NOTIFY_OUTCOMES, OUTCOMES
from infra.sizing import DEFAULT_TPS_PER_UNIT, MAX_CONCURRENCY, MIN_CONCURRENCY, derive_concurrency

OWNERSHIP_EXCLUSIVE = "exclusive"  # always stop the model at the end of a run
OWNERSHIP_SHARED = "shared"  # stop it only if this run started it

SQS_MAX_RECEIVE = 10  # ReceiveMessage's MaxNumberOfMessages limit

# Step Functions fails an execution whose history reaches 25,000 events, and no
# Catch sees it: the run's loops are bounded to stay well below.
HISTORY_EVENT_BUDGET = 22_000
FIXED_EVENTS = 600  # every state outside the loops, entered once (peek included)
EVENTS_PER_DESCRIBE = 11  # Route, count, wait (2 each) + an SDK task (5)
EVENTS_PER_CLEANUP_WAIT = 13  # count, deadline, wait, route (2 each) + describe (5)
# A drain poll: decision, count, wait (2 each) + the queue count (5); a model
# check (a describe, a Choice, a Pass: 9 events) every model_check_seconds.
EVENTS_PER_DRAIN_POLL = 11
EVENTS_PER_MODEL_CHECK = 9
MIN_DRAIN_POLLS = 100
# The drain's cost estimate is kept in ten-thousandths of a USD: States.MathAdd
# adds integers, and a 32-bit one must not overflow in any run.
COST_UNIT_USD = 0.0001
MAX_RUN_COST_UNITS = 2**31 - 1

# The WorkflowParams fields that name the stack's resources (the rest are options).
RESOURCE_FIELDS = (
    "queue_url",
    "project_arn",
    "project_version_arn",
    "version_name",
    "event_source_mapping_uuid",
    "final_bucket",
)


@dataclass(frozen=True)
class WorkflowParams:
    queue_url: str
    project_arn: str
    project_version_arn: str
    version_name: str
    event_source_mapping_uuid: str
    final_bucket: str
    runs_prefix: str = "runs/"
    min_inference_units: int = 1
    max_inference_units: int | None = None  # None: omit MaxInferenceUnits (no auto-scaling)
    ownership: str = OWNERSHIP_EXCLUSIVE
    # The longest wait between queue polls while draining: used while the backlog
    # left would take longer than this to process at the planned throughput.
    poll_interval_seconds: int = 60
    # The shortest: once the rest would be done within a few seconds.
    fast_poll_seconds: int = 2
    # Wait before the poll that confirms an empty queue (None: the fast poll wait,
    # at least 5 s: SQS counts are approximate). The model idles, billed, until then.
    drain_confirm_seconds: int | None = None
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
    price_per_inference_unit_hour: float = 4.0
    model_start_timeout_seconds: int = 45 * 60
    max_run_seconds: int = 6 * 3600  # end the run (rest stays queued) after this
    # Re-check that the model is still RUNNING after this many seconds of drain
    # waits: a model stopped by someone else makes every image fail "not ready",
    # and those retries reach the DLQ within minutes.
    model_check_seconds: int = 60
    # After max-run: let in-flight batches finish (the program derives it from the
    # function timeout and batching window, infra/config.py).
    disable_grace_seconds: int = 30
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
    # Run-end notification (a final phase after the summary is written; a failure
    # to notify never fails the run). None: no SNS publish / no EventBridge event.
    notification_topic_arn: str | None = None
    event_bus_arn: str | None = None
    notify_outcomes: tuple[str, ...] = DEFAULT_NOTIFY_OUTCOMES

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
        return max(1, min(fastest, self.drain_poll_budget))

    @property
    def drain_poll_budget(self) -> int:
        """History events left for the drain once the worst-case start waits
        (every allowed start to its deadline) and the cleanup's wait are counted."""
        starts = self.max_start_attempts * (self.start_deadline_polls + 1) * EVENTS_PER_DESCRIBE
        cleanup = self.model_wait_polls * EVENTS_PER_CLEANUP_WAIT
        left = HISTORY_EVENT_BUDGET - FIXED_EVENTS - starts - cleanup
        checks_per_poll = min(1.0, self.fast_poll_seconds / self.model_check_seconds)
        per_poll = EVENTS_PER_DRAIN_POLL + math.ceil(EVENTS_PER_MODEL_CHECK * checks_per_poll)
        return left // per_poll

    @property
    def confirm_seconds(self) -> int:
        """Seconds between the first empty poll and the one that confirms the drain."""
        if self.drain_confirm_seconds is not None:
            return self.drain_confirm_seconds
        return min(self.poll_interval_seconds, max(5, self.fast_poll_seconds))

    @property
    def max_units(self) -> int:
        """The most units a run plans (and the bound of a model found RUNNING)."""
        if self.max_inference_units is not None:
            return self.max_inference_units
        return max(self.max_planned_units, self.min_inference_units)

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


def validate(params: WorkflowParams) -> None:
    """Reject parameters AWS would accept but that make a broken workflow.

    Raises ValueError naming the field, so a bad stack config fails at
    ``pulumi up`` (preview) instead of in the first scheduled run.
    """
    for name in RESOURCE_FIELDS:
        value = getattr(params, name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"WorkflowParams.{name} must be a non-empty string, got {value!r}")
    if _project_of(params.project_version_arn) != _project_of(params.project_arn):
        raise ValueError(
            "WorkflowParams.project_version_arn must belong to project_arn: "
            f"{params.project_version_arn!r} vs {params.project_arn!r}"
        )
    if params.ownership not in (OWNERSHIP_EXCLUSIVE, OWNERSHIP_SHARED):
        raise ValueError(
            f"WorkflowParams.ownership must be {OWNERSHIP_EXCLUSIVE!r} or "
            f"{OWNERSHIP_SHARED!r}, got {params.ownership!r}"
        )
    prefix = params.runs_prefix
    if not prefix.endswith("/") or prefix.startswith("/"):
        raise ValueError(
            f"WorkflowParams.runs_prefix must be a key prefix ending in '/', got {prefix!r}"
        )
    positive = (
        "min_inference_units",
        "poll_interval_seconds",
        "model_poll_seconds",
        "model_start_timeout_seconds",
        "max_run_seconds",
        "model_check_seconds",
        "retry_interval_seconds",
        "retry_max_attempts",
        "fast_poll_seconds",
        "max_planned_units",
        "max_start_attempts",
    )
    for name in positive:
        value = getattr(params, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"WorkflowParams.{name} must be an integer >= 1, got {value!r}")
    if params.fast_poll_seconds > params.poll_interval_seconds:
        raise ValueError(
            "WorkflowParams.fast_poll_seconds must be <= poll_interval_seconds "
            f"({params.poll_interval_seconds}), got {params.fast_poll_seconds!r}"
        )
    ladder = params.model_poll_ladder
    if not isinstance(ladder, tuple) or any(
        not (isinstance(rung, tuple) and len(rung) == 2)
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in rung)
        for rung in ladder
    ):
        raise ValueError(
            "WorkflowParams.model_poll_ladder must be a tuple of (until seconds, every "
            f"seconds) pairs of integers >= 1, got {ladder!r}"
        )
    if [until for until, _ in ladder] != sorted({until for until, _ in ladder}):
        raise ValueError(
            f"WorkflowParams.model_poll_ladder must be in increasing `until` order, got {ladder!r}"
        )
    target = params.target_run_minutes
    if not isinstance(target, int) or isinstance(target, bool) or target < 0:
        raise ValueError(
            f"WorkflowParams.target_run_minutes must be an integer >= 0 (0: off), got {target!r}"
        )
    tps = params.tps_per_unit
    if isinstance(tps, bool) or not isinstance(tps, (int, float)) or not 0 < tps <= 1000:
        raise ValueError(f"WorkflowParams.tps_per_unit must be a number in (0, 1000], got {tps!r}")
    for index, value in enumerate(params.concurrency_by_units):
        if not isinstance(value, int) or not MIN_CONCURRENCY <= value <= MAX_CONCURRENCY:
            raise ValueError(
                f"WorkflowParams.concurrency_by_units[{index}] must be an integer "
                f"{MIN_CONCURRENCY}..{MAX_CONCURRENCY}, got {value!r}"
            )
    price = params.price_per_inference_unit_hour
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not 0 <= price <= 1000:
        raise ValueError(
            f"WorkflowParams.price_per_inference_unit_hour must be a number 0..1000, got {price!r}"
        )
    _validate_notification(params)
    if params.drain_poll_budget < MIN_DRAIN_POLLS:
        raise ValueError(
            "WorkflowParams.model_start_timeout_seconds (with max_start_attempts and the "
            "describe ladder) leaves the drain fewer than "
            f"{MIN_DRAIN_POLLS} polls within Step Functions' history limit: "
            f"{params.drain_poll_budget}"
        )
    worst_cost = (
        params.max_units
        * params.price_per_inference_unit_hour
        * (params.max_run_seconds + params.max_drain_polls * params.confirm_seconds)
        / 3600
    )
    if worst_cost / COST_UNIT_USD > MAX_RUN_COST_UNITS:
        raise ValueError(
            "WorkflowParams.price_per_inference_unit_hour x units x max_run_seconds: a run "
            f"could cost {worst_cost:,.0f} USD, more than the cost estimate can count"
        )
    confirm = params.drain_confirm_seconds
    if confirm is not None and (
        not isinstance(confirm, int)
        or isinstance(confirm, bool)
        or not 1 <= confirm <= params.poll_interval_seconds
    ):
        raise ValueError(
            "WorkflowParams.drain_confirm_seconds must be an integer from 1 to "
            f"poll_interval_seconds ({params.poll_interval_seconds}), got {confirm!r}"
        )
    if not isinstance(params.disable_grace_seconds, int) or params.disable_grace_seconds < 0:
        raise ValueError(
            f"WorkflowParams.disable_grace_seconds must be an integer >= 0, "
            f"got {params.disable_grace_seconds!r}"
        )
    if (
        not isinstance(params.test_event_peek_max, int)
        or isinstance(params.test_event_peek_max, bool)
        or not 0 <= params.test_event_peek_max <= SQS_MAX_RECEIVE
    ):
        raise ValueError(
            f"WorkflowParams.test_event_peek_max must be an integer 0..{SQS_MAX_RECEIVE}, "
            f"got {params.test_event_peek_max!r}"
        )
    settle = params.guard_settle_seconds
    if not isinstance(settle, int) or isinstance(settle, bool) or settle < 0:
        raise ValueError(
            f"WorkflowParams.guard_settle_seconds must be an integer >= 0, got {settle!r}"
        )
    visibility = params.peek_visibility_timeout_seconds
    if not isinstance(visibility, int) or isinstance(visibility, bool) or visibility < 0:
        raise ValueError(
            "WorkflowParams.peek_visibility_timeout_seconds must be an integer >= 0, "
            f"got {visibility!r}"
        )
    if params.max_inference_units is not None and (
        not isinstance(params.max_inference_units, int)
        or params.max_inference_units < params.min_inference_units
    ):
        raise ValueError(
            "WorkflowParams.max_inference_units must be None or an integer >= "
            f"min_inference_units ({params.min_inference_units}), got {params.max_inference_units!r}"
        )


_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_EVENT_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]+$")


def _validate_notification(params: WorkflowParams) -> None:
    """An SNS topic ARN and an event bus ARN (each optional), and a non-empty set
    of known outcomes."""
    for name, pattern in (
        ("notification_topic_arn", _TOPIC_ARN),
        ("event_bus_arn", _EVENT_BUS_ARN),
    ):
        value = getattr(params, name)
        if value is not None and (not isinstance(value, str) or not pattern.match(value)):
            raise ValueError(f"WorkflowParams.{name} must be None or an ARN, got {value!r}")
    outcomes = params.notify_outcomes
    if (
        not isinstance(outcomes, tuple)
        or not outcomes
        or any(outcome not in OUTCOMES for outcome in outcomes)
        or len(set(outcomes)) != len(outcomes)
    ):
        raise ValueError(
            f"WorkflowParams.notify_outcomes must be a non-empty tuple of distinct outcomes "
            f"from {OUTCOMES}, got {outcomes!r}"
        )


def _project_of(arn: str) -> str:
    """'arn:...:project/<name>/...' -> 'arn:...:project/<name>' (project and version ARNs)."""
    head, sep, rest = arn.partition(":project/")
    return head + sep + rest.split("/", 1)[0]
