"""The workflow's parameters and their validation.

Everything a run's behaviour depends on is a field here: resources of the
stack, the ownership policy, and every wait, deadline and count. Validation
rejects values AWS would accept but that make a broken workflow, naming the
field, so a bad stack config fails at ``pulumi up`` (preview) instead of in
the first scheduled run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OWNERSHIP_EXCLUSIVE = "exclusive"  # always stop the model at the end of a run
OWNERSHIP_SHARED = "shared"  # stop it only if this run started it

SQS_MAX_RECEIVE = 10  # ReceiveMessage's MaxNumberOfMessages limit

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
    poll_interval_seconds: int = 60  # queue polls while draining
    # Wait before the poll that confirms an empty queue (None: half the poll interval,
    # at least 1 s). The model idles, billed, from the drain to the confirmation.
    drain_confirm_seconds: int | None = None
    model_poll_seconds: int = 30  # re-describe while STARTING / STOPPING
    model_start_timeout_seconds: int = 45 * 60
    max_run_seconds: int = 6 * 3600  # end the run (rest stays queued) after this
    model_check_every_polls: int = 5  # re-check the model is RUNNING every N polls
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

    @property
    def model_wait_polls(self) -> int:
        """How many model re-describes fit in the start deadline."""
        return max(1, math.ceil(self.model_start_timeout_seconds / self.model_poll_seconds))

    @property
    def confirm_seconds(self) -> int:
        """Seconds between the first empty poll and the one that confirms the drain."""
        if self.drain_confirm_seconds is not None:
            return self.drain_confirm_seconds
        return max(1, self.poll_interval_seconds // 2)

    @property
    def max_drain_polls(self) -> int:
        """How many queue polls fit in the run deadline (the drain phase)."""
        return max(1, math.ceil(self.max_run_seconds / self.poll_interval_seconds))


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
        "model_check_every_polls",
        "retry_interval_seconds",
        "retry_max_attempts",
    )
    for name in positive:
        value = getattr(params, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"WorkflowParams.{name} must be an integer >= 1, got {value!r}")
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


def _project_of(arn: str) -> str:
    """'arn:...:project/<name>/...' -> 'arn:...:project/<name>' (project and version ARNs)."""
    head, sep, rest = arn.partition(":project/")
    return head + sep + rest.split("/", 1)[0]
