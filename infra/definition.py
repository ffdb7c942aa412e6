"""The orchestration state machine, built by a pure function.

Plain values in, a plain dict (Amazon States Language, JSONPath, AWS SDK
service integrations only) out; no pulumi import. The Pulumi program calls
``build_definition`` inside ``Output.all(...).apply``; tests and the local
emulator call it with emulator ARNs and run the result.

Shape of a run (state names in brackets)::

    [Init] -> [Guard] another execution of this state machine is older -> skipped
           -> [GetBacklog] visible + in flight + delayed == 0 -> nothing-to-do
              (exclusive ownership: a model found RUNNING is stopped anyway)
           -> [DescribeModelFound] the model status this run starts from
           -> [PeekWorthIt] a small backlog (1..10 visible, none in flight or
              delayed) with a model this run could use is peeked once: S3's
              s3:TestEvent messages are deleted, and a backlog of test events
              only is nothing-to-do as well
           -> [Route] on the model status: RUNNING use it, STOPPED start it,
              STARTING/STOPPING wait (bounded by the start deadline), else fail
           -> [EnableMapping] -> poll the queue every poll interval until it is
              empty on two consecutive polls (drained) or the run deadline passes
           -> [Cleanup] disable the mapping, stop the model per ownership,
              write runs/<execution name>.json, succeed or fail.

Every Task after the guard catches ``States.ALL`` into the same cleanup, so no
error path leaves the model running or the mapping enabled. Waits, deadlines
and counts all come from :class:`WorkflowParams`; deadlines are counters
(``States.MathAdd``) because JSONPath has no clock arithmetic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from infra.contract import (
    BACKLOG_ATTRIBUTES,
    DEFAULT_NOTIFY_OUTCOMES,
    OUTCOME_DRAINED,
    OUTCOME_FAILED,
    OUTCOME_MAX_RUN,
    OUTCOME_NOTHING_TO_DO,
    OUTCOME_SKIPPED,
    OUTCOMES,
    SUMMARY_SCHEMA_VERSION,
)

OWNERSHIP_EXCLUSIVE = "exclusive"  # always stop the model at the end of a run
OWNERSHIP_SHARED = "shared"  # stop it only if this run started it


# Error names raised by the workflow itself (the Fail states' Error field).
ERROR_MODEL_UNUSABLE = "ModelUnusable"
ERROR_START_DEADLINE = "ModelStartTimeout"
ERROR_MODEL_STOPPED = "ModelStoppedExternally"
ERROR_CLEANUP = "CleanupFailed"
ERROR_SUMMARY = "RunSummaryNotWritten"

# AWS SDK integration error names: "<ServiceName>.<ExceptionName>", PascalCase,
# always with the "Exception" suffix (so InternalServerError becomes
# InternalServerErrorException). Unmodelled errors carry the SDK's base class name.
REKOGNITION_TRANSIENT = (
    "Rekognition.ThrottlingException",
    "Rekognition.ProvisionedThroughputExceededException",
    "Rekognition.InternalServerErrorException",
)
REKOGNITION_IN_USE = "Rekognition.ResourceInUseException"
REKOGNITION_LIMIT = "Rekognition.LimitExceededException"
LAMBDA_TRANSIENT = (
    "Lambda.ResourceConflictException",  # mapping is still Enabling/Disabling/Updating
    "Lambda.ResourceInUseException",
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
)
SQS_TRANSIENT = ("Sqs.RequestThrottledException", "Sqs.SqsException")
SFN_TRANSIENT = ("Sfn.SfnException",)
S3_TRANSIENT = ("S3.S3Exception",)

MODEL_READY = "RUNNING"
MODEL_STARTABLE = ("STOPPED", "TRAINING_COMPLETED")
MODEL_TRANSITIONAL = ("STARTING", "STOPPING")

_SDK = "arn:aws:states:::aws-sdk:"

SQS_MAX_RECEIVE = 10  # ReceiveMessage's MaxNumberOfMessages limit
S3_TEST_EVENT = "s3:TestEvent"
# Only bodies that look like a JSON object with this Event are parsed (States.StringToJson
# of a body that is not JSON is a States.Runtime error on AWS, which no Catch catches).
TEST_EVENT_BODY_PATTERN = '{*"Event":*"' + S3_TEST_EVENT + '"*}'


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
    # Added by the workflow builder (defaults keep existing callers valid):
    disable_grace_seconds: int = 30  # after max-run: let in-flight batches finish
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
    _validate_notification(params)
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
    """The run-end notification fields: an SNS topic ARN, an event bus ARN (each
    optional) and a non-empty set of known outcomes."""
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
        or len(set(outcomes)) != len(outcomes)
        or any(o not in OUTCOMES for o in outcomes)
    ):
        raise ValueError(
            "WorkflowParams.notify_outcomes must be a non-empty tuple of distinct outcomes "
            f"({', '.join(OUTCOMES)}), got {outcomes!r}"
        )


def _project_of(arn: str) -> str:
    """'arn:...:project/<name>/...' -> 'arn:...:project/<name>' (project and version ARNs)."""
    head, sep, rest = arn.partition(":project/")
    return head + sep + rest.split("/", 1)[0]


def build_definition(params: WorkflowParams) -> dict[str, Any]:
    """The state machine definition (ASL dict; ``json.dumps`` it for AWS)."""
    validate(params)
    return _Builder(params).build()


# --------------------------------------------------------------------------- builder


class _Builder:
    """Holds the params while the states are assembled; one method per phase."""

    def __init__(self, p: WorkflowParams) -> None:
        self.p = p
        self.states: dict[str, dict[str, Any]] = {}

    # -- helpers ----------------------------------------------------------------

    def add(self, name: str, state: dict[str, Any]) -> None:
        if name in self.states:
            raise AssertionError(f"duplicate state {name}")
        self.states[name] = state

    def retry(
        self,
        *errors: str,
        interval: int | None = None,
        attempts: int | None = None,
        backoff: float = 2.0,
    ) -> dict[str, Any]:
        interval = self.p.retry_interval_seconds if interval is None else interval
        return {
            "ErrorEquals": list(errors),
            "IntervalSeconds": interval,
            "MaxAttempts": self.p.retry_max_attempts if attempts is None else attempts,
            "BackoffRate": backoff,
            "MaxDelaySeconds": max(interval, 60),
            "JitterStrategy": "FULL",
        }

    @staticmethod
    def catch(next_state: str, result_path: str = "$.error") -> list[dict[str, Any]]:
        return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]

    def sdk(
        self,
        api: str,
        parameters: dict[str, Any],
        result_selector: dict[str, Any],
        result_path: str,
        next_state: str,
        retry: list[dict[str, Any]],
        catch: list[dict[str, Any]] | None,
        comment: str,
    ) -> dict[str, Any]:
        state: dict[str, Any] = {
            "Type": "Task",
            "Comment": comment,
            "Resource": _SDK + api,
            "Parameters": parameters,
            # Select fields: SDK responses carry timestamps and metadata that
            # would bloat (or, in some emulators, break) the state output.
            "ResultSelector": result_selector,
            "ResultPath": result_path,
            "Retry": retry,
            "Next": next_state,
        }
        if catch is not None:
            state["Catch"] = catch
        return state

    def queue_counts_task(self, next_state: str, result_path: str, comment: str) -> dict[str, Any]:
        attr = "States.StringToJson($.Attributes.{})".format
        names = BACKLOG_ATTRIBUTES
        return self.sdk(
            "sqs:getQueueAttributes",
            {"QueueUrl": self.p.queue_url, "AttributeNames": list(names)},
            {
                "visible.$": attr(names[0]),
                "inFlight.$": attr(names[1]),
                "delayed.$": attr(names[2]),
                "total.$": "States.MathAdd(States.MathAdd({}, {}), {})".format(
                    *(attr(n) for n in names)
                ),
                "at.$": "$$.State.EnteredTime",
            },
            result_path,
            next_state,
            [self.retry(*SQS_TRANSIENT)],
            self.catch("Failed"),
            comment,
        )

    def describe_model_task(
        self, next_state: str, catch: list[dict[str, Any]], comment: str
    ) -> dict[str, Any]:
        return self.sdk(
            "rekognition:describeProjectVersions",
            {"ProjectArn": self.p.project_arn, "VersionNames": [self.p.version_name]},
            # States.ArrayGetItem, not [0]: a missing version fails here, inside the Task's Catch.
            {"status.$": "States.ArrayGetItem($.ProjectVersionDescriptions[*].Status, 0)"},
            "$.model.current",
            next_state,
            [self.retry(*REKOGNITION_TRANSIENT)],
            catch,
            comment,
        )

    def mapping_task(
        self,
        enabled: bool,
        result_path: str,
        next_state: str,
        catch: list[dict[str, Any]],
        comment: str,
    ) -> dict[str, Any]:
        return self.sdk(
            "lambda:updateEventSourceMapping",
            {"Uuid": self.p.event_source_mapping_uuid, "Enabled": enabled},
            {"state.$": "$.State", "at.$": "$$.State.EnteredTime"},
            result_path,
            next_state,
            [self.retry(*LAMBDA_TRANSIENT)],
            catch,
            comment,
        )

    def set_error(self, name: str, error: str, cause_format: str, *cause_args: str) -> None:
        """A Pass that records a workflow-detected failure, then joins the cleanup."""
        args = "".join(", " + a for a in cause_args)
        self.add(
            name,
            {
                "Type": "Pass",
                "Parameters": {"Error": error, "Cause.$": f"States.Format('{cause_format}'{args})"},
                "ResultPath": "$.error",
                "Next": "Failed",
            },
        )

    def set_outcome(self, name: str, outcome: str, next_state: str) -> None:
        self.add(
            name, {"Type": "Pass", "Result": outcome, "ResultPath": "$.outcome", "Next": next_state}
        )

    # -- phases -----------------------------------------------------------------

    def build(self) -> dict[str, Any]:
        self.init_and_guard()
        self.backlog()
        self.model()
        self.drain()
        self.cleanup()
        self.summary()
        return {
            "Comment": (
                "Batch inference for Rekognition Custom Labels: start the model only when "
                "the queue has work, drain it at full throughput, always clean up."
            ),
            "StartAt": "Init",
            "TimeoutSeconds": self._execution_timeout(),
            "States": self.states,
        }

    def _execution_timeout(self) -> int:
        """A backstop far beyond every bounded loop: the counters end runs first."""
        p = self.p
        bounded = (
            2 * p.model_wait_polls * p.model_poll_seconds  # start wait + cleanup wait
            + p.max_drain_polls * p.poll_interval_seconds
            + p.disable_grace_seconds
            + p.guard_settle_seconds
            + 3600
        )
        return bounded * 2

    def init_and_guard(self) -> None:
        p = self.p
        null_counts = {
            "visible": None,
            "inFlight": None,
            "delayed": None,
            "total": None,
            "at": None,
        }
        self.add(
            "Init",
            {
                "Type": "Pass",
                "Comment": "Every field the summary and the Choices read exists from the start.",
                "Parameters": {
                    "self": {
                        "executionArn.$": "$$.Execution.Id",
                        "startedAt.$": "$$.State.EnteredTime",
                    },
                    "config": {
                        "projectVersionArn": p.project_version_arn,
                        "ownership": p.ownership,
                        "minInferenceUnits": p.min_inference_units,
                        "maxInferenceUnits": p.max_inference_units,
                        "pollIntervalSeconds": p.poll_interval_seconds,
                        "drainConfirmSeconds": p.confirm_seconds,
                        "modelStartTimeoutSeconds": p.model_start_timeout_seconds,
                        "maxRunSeconds": p.max_run_seconds,
                        "runsPrefix": p.runs_prefix,
                    },
                    "outcome": "running",
                    "error": None,
                    "backlog": dict(null_counts),
                    "queue": dict(null_counts),
                    "model": {"found": None, "current": {"status": None}},
                    "modelReady": {"at": None},
                    "drainEnd": {"at": None},
                    "started": {"byThisRun": False, "at": None},
                    "stopped": {"byThisRun": False, "at": None},
                    "mapping": {
                        "enabled": {"state": None, "at": None},
                        "disabled": {"state": None, "at": None},
                    },
                    "modelWait": {"polls": 0},
                    "drain": {"polls": 0, "zeroStreak": 0, "sinceCheck": 0},
                    "cleanupWait": {"polls": 0},
                    "cleanupErrors": {},
                    "peek": self.peek_record(0, 0, dict(null_counts)),
                    "peekWork": {},  # the peek's scratch space, emptied after it
                },
                "Next": "SettleBeforeGuard" if p.guard_settle_seconds else "Guard",
            },
        )
        if p.guard_settle_seconds:
            self.add(
                "SettleBeforeGuard",
                {
                    "Type": "Wait",
                    "Comment": (
                        "ListExecutions is eventually consistent: let a run started "
                        "moments apart become visible before deciding which is older."
                    ),
                    "Seconds": p.guard_settle_seconds,
                    "Next": "Guard",
                },
            )
        self.add(
            "Guard",
            self.sdk(
                "sfn:listExecutions",
                {
                    "StateMachineArn.$": "$$.StateMachine.Id",
                    "StatusFilter": "RUNNING",
                    "MaxResults": 100,
                },
                {
                    "arns.$": "$.Executions[*].ExecutionArn",
                    "count.$": "States.ArrayLength($.Executions)",
                },
                "$.guard",
                "GuardChoice",
                [self.retry(*SFN_TRANSIENT)],
                None,  # nothing touched yet, and another run may own the model: just fail
                "No double runs: only the oldest RUNNING execution proceeds.",
            ),
        )
        self.add(
            "GuardChoice",
            {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.guard.count", "NumericEquals": 0, "Next": "GetBacklog"}
                ],
                "Default": "FindOldest",
            },
        )
        self.add(
            "FindOldest",
            {
                "Type": "Pass",
                "Comment": "ListExecutions is newest first: the last item is the oldest run.",
                "Parameters": {
                    "oldest.$": "States.ArrayGetItem($.guard.arns, States.MathAdd($.guard.count, -1))"
                },
                "ResultPath": "$.guardOldest",
                "Next": "IsOldest",
            },
        )
        self.add(
            "IsOldest",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.guardOldest.oldest",
                        "StringEqualsPath": "$.self.executionArn",
                        "Next": "GetBacklog",
                    }
                ],
                "Default": "Skipped",
            },
        )
        self.set_outcome("Skipped", OUTCOME_SKIPPED, "BuildSummary")

    def backlog(self) -> None:
        self.add(
            "GetBacklog",
            self.queue_counts_task(
                "DescribeModelFound",
                "$.backlog",
                "Backlog = visible + in flight + delayed messages.",
            ),
        )
        self.add(
            "DescribeModelFound",
            self.describe_model_task(
                "RecordModelFound",
                self.catch("Failed"),
                "The model status as this run found it.",
            ),
        )
        self.add(
            "RecordModelFound",
            {
                "Type": "Pass",
                "Parameters": {"found.$": "$.model.current.status", "current.$": "$.model.current"},
                "ResultPath": "$.model",
                "Next": "PeekWorthIt" if self.p.test_event_peek_max else "HasBacklog",
            },
        )
        if self.p.test_event_peek_max:
            self.test_event_peek()
        empty_next = (
            "IdleModelRunning" if self.p.ownership == OWNERSHIP_EXCLUSIVE else "NothingToDo"
        )
        choices: list[dict[str, Any]] = [
            {"Variable": "$.backlog.total", "NumericEquals": 0, "Next": empty_next}
        ]
        if self.p.test_event_peek_max:
            choices.append(
                {"Variable": "$.peek.dropped", "NumericGreaterThan": 0, "Next": "AfterPeek"}
            )
            self.add(
                "AfterPeek",
                {
                    "Type": "Choice",
                    "Comment": (
                        "Only test events? The recount says so, or (SQS counts lag behind "
                        "deletes by up to a minute) every message counted was dropped."
                    ),
                    "Choices": [
                        {
                            "Or": [
                                {"Variable": "$.peek.recount.total", "NumericEquals": 0},
                                {
                                    "Variable": "$.backlog.total",
                                    "NumericLessThanEqualsPath": "$.peek.dropped",
                                },
                            ],
                            "Next": empty_next,
                        }
                    ],
                    "Default": "Route",
                },
            )
        self.add(
            "HasBacklog",
            {"Type": "Choice", "Choices": choices, "Default": "Route"},
        )
        if self.p.ownership == OWNERSHIP_EXCLUSIVE:
            # Safety net: with exclusive ownership, a RUNNING model with nothing to do
            # is always stopped, whoever left it running.
            self.add(
                "IdleModelRunning",
                {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Variable": "$.model.found",
                            "StringEquals": MODEL_READY,
                            "Next": "StopIdleModel",
                        }
                    ],
                    "Default": "NothingToDo",
                },
            )
            self.set_outcome("StopIdleModel", OUTCOME_NOTHING_TO_DO, "Cleanup")
        self.set_outcome("NothingToDo", OUTCOME_NOTHING_TO_DO, "BuildSummary")

    @staticmethod
    def peek_record(peeked: Any, dropped: Any, recount: Any) -> dict[str, Any]:
        """$.peek as the summary shows it (values, or '$...' paths as `key.$`)."""
        record: dict[str, Any] = {}
        for key, value in (("peeked", peeked), ("dropped", dropped), ("recount", recount)):
            if isinstance(value, str) and value.startswith(("$", "States.")):
                record[f"{key}.$"] = value
            else:
                record[key] = value
        return record

    def test_event_peek(self) -> None:
        """S3 sends one s3:TestEvent message when the bucket notification is set up
        (each `pulumi up` that changes it): without this, the first run after a
        deploy started the model for it. At most one ReceiveMessage per run: the
        messages kept become visible again after the short visibility timeout, with
        their receive count one higher (the DLQ's maxReceiveCount counts it)."""
        p = self.p
        self.add(
            "PeekWorthIt",
            {
                "Type": "Choice",
                "Comment": (
                    "Only a small, idle backlog can be test events only; peeked only "
                    "when the model found is one this run could use."
                ),
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.backlog.visible", "NumericGreaterThan": 0},
                            {
                                "Variable": "$.backlog.visible",
                                "NumericLessThanEquals": p.test_event_peek_max,
                            },
                            {"Variable": "$.backlog.inFlight", "NumericEquals": 0},
                            {"Variable": "$.backlog.delayed", "NumericEquals": 0},
                            {
                                # A model this run can not use (FAILED, ...) ends the
                                # run anyway: no receive that would only age the images.
                                "Or": [
                                    {"Variable": "$.model.found", "StringEquals": status}
                                    for status in (
                                        MODEL_READY,
                                        *MODEL_STARTABLE,
                                        *MODEL_TRANSITIONAL,
                                    )
                                ]
                            },
                        ],
                        "Next": "PeekQueue",
                    }
                ],
                "Default": "HasBacklog",
            },
        )
        self.add(
            "PeekQueue",
            {
                "Type": "Task",
                "Comment": "Receive (not consume) the small backlog once, to find S3 test events.",
                "Resource": _SDK + "sqs:receiveMessage",
                "Parameters": {
                    "QueueUrl": p.queue_url,
                    "MaxNumberOfMessages": p.test_event_peek_max,
                    "VisibilityTimeout": p.peek_visibility_timeout_seconds,
                    "WaitTimeSeconds": 0,
                },
                # No ResultSelector: "Messages" is absent when nothing was received.
                "ResultPath": "$.peekWork.received",
                "Retry": [self.retry(*SQS_TRANSIENT)],
                # The peek is an optimisation: if it fails, the run goes on as before.
                "Catch": self.catch("HasBacklog", "$.peek.error"),
                "Next": "PeekReceivedAny",
            },
        )
        self.add(
            "PeekReceivedAny",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.peekWork.received.Messages",
                        "IsPresent": True,
                        "Next": "PeekInit",
                    }
                ],
                "Default": "HasBacklog",
            },
        )

        def loop_state(index: str, dropped: str) -> dict[str, Any]:
            return {
                "bodies.$": "$.peekWork.loop.bodies",
                "handles.$": "$.peekWork.loop.handles",
                "count.$": "$.peekWork.loop.count",
                "index.$": index,
                "dropped.$": dropped,
            }

        self.add(
            "PeekInit",
            {
                "Type": "Pass",
                "Parameters": {
                    "bodies.$": "$.peekWork.received.Messages[*].Body",
                    "handles.$": "$.peekWork.received.Messages[*].ReceiptHandle",
                    "count.$": "States.ArrayLength($.peekWork.received.Messages)",
                    "index": 0,
                    "dropped": 0,
                },
                "ResultPath": "$.peekWork.loop",
                "Next": "PeekNext",
            },
        )
        self.add(
            "PeekNext",
            {
                "Type": "Choice",
                "Comment": "A bounded loop over the received messages (at most 10).",
                "Choices": [
                    {
                        "Variable": "$.peekWork.loop.index",
                        "NumericLessThanPath": "$.peekWork.loop.count",
                        "Next": "PeekItem",
                    }
                ],
                "Default": "PeekDone",
            },
        )
        self.add(
            "PeekItem",
            {
                "Type": "Pass",
                "Parameters": {
                    "body.$": "States.ArrayGetItem($.peekWork.loop.bodies, $.peekWork.loop.index)",
                    "receiptHandle.$": "States.ArrayGetItem($.peekWork.loop.handles, $.peekWork.loop.index)",
                },
                "ResultPath": "$.peekWork.item",
                "Next": "PeekLooksLikeTestEvent",
            },
        )
        self.add(
            "PeekLooksLikeTestEvent",
            {
                "Type": "Choice",
                "Comment": "Parse only what looks like a test event: other bodies may not be JSON.",
                "Choices": [
                    {
                        "Variable": "$.peekWork.item.body",
                        "StringMatches": TEST_EVENT_BODY_PATTERN,
                        "Next": "PeekParse",
                    }
                ],
                "Default": "PeekKeep",
            },
        )
        self.add(
            "PeekParse",
            {
                "Type": "Pass",
                "Parameters": {"message.$": "States.StringToJson($.peekWork.item.body)"},
                "ResultPath": "$.peekWork.parsed",
                "Next": "PeekHasEvent",
            },
        )
        self.add(
            "PeekHasEvent",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.peekWork.parsed.message.Event",
                        "IsPresent": True,
                        "Next": "PeekEventIsString",
                    }
                ],
                "Default": "PeekKeep",
            },
        )
        # One test per Choice (present, a string, equal): no comparison ever sees a
        # missing path or a value of another type.
        self.add(
            "PeekEventIsString",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.peekWork.parsed.message.Event",
                        "IsString": True,
                        "Next": "PeekIsTestEvent",
                    }
                ],
                "Default": "PeekKeep",
            },
        )
        self.add(
            "PeekIsTestEvent",
            {
                "Type": "Choice",
                "Comment": "A top-level Event == s3:TestEvent, exactly: only then delete.",
                "Choices": [
                    {
                        "Variable": "$.peekWork.parsed.message.Event",
                        "StringEquals": S3_TEST_EVENT,
                        "Next": "DeleteTestEvent",
                    }
                ],
                "Default": "PeekKeep",
            },
        )
        self.add(
            "DeleteTestEvent",
            {
                "Type": "Task",
                "Comment": "A test event is not work: delete it so it never starts the model.",
                "Resource": _SDK + "sqs:deleteMessage",
                "Parameters": {
                    "QueueUrl": p.queue_url,
                    "ReceiptHandle.$": "$.peekWork.item.receiptHandle",
                },
                "ResultPath": None,
                "Retry": [self.retry(*SQS_TRANSIENT)],
                # Not deleted: it stays counted, and the run goes on as before.
                "Catch": self.catch("PeekKeep", "$.peekWork.deleteError"),
                "Next": "PeekDropped",
            },
        )
        self.add(
            "PeekDropped",
            {
                "Type": "Pass",
                "Parameters": loop_state(
                    "States.MathAdd($.peekWork.loop.index, 1)",
                    "States.MathAdd($.peekWork.loop.dropped, 1)",
                ),
                "ResultPath": "$.peekWork.loop",
                "Next": "PeekNext",
            },
        )
        self.add(
            "PeekKeep",
            {
                "Type": "Pass",
                "Parameters": loop_state(
                    "States.MathAdd($.peekWork.loop.index, 1)", "$.peekWork.loop.dropped"
                ),
                "ResultPath": "$.peekWork.loop",
                "Next": "PeekNext",
            },
        )
        self.add(
            "PeekDone",
            {
                "Type": "Pass",
                "Comment": "Keep the counts, drop the bodies and receipt handles.",
                "Parameters": self.peek_record(
                    "$.peekWork.loop.count", "$.peekWork.loop.dropped", "$.peek.recount"
                ),
                "ResultPath": "$.peek",
                "Next": "PeekDroppedAny",
            },
        )
        self.add(
            "PeekDroppedAny",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.peek.dropped",
                        "NumericGreaterThan": 0,
                        "Next": "RecountBacklog",
                    }
                ],
                "Default": "PeekCleared",
            },
        )
        self.add(
            "RecountBacklog",
            self.queue_counts_task(
                "PeekCleared",
                "$.peek.recount",
                "The backlog without the test events (approximate: SQS counts lag).",
            ),
        )
        self.add(
            "PeekCleared",
            {
                "Type": "Pass",
                "Comment": "The received messages are not carried through the rest of the run.",
                "Result": {},
                "ResultPath": "$.peekWork",
                "Next": "HasBacklog",
            },
        )

    def model(self) -> None:
        p = self.p
        status = "$.model.current.status"
        self.add(
            "Route",
            {
                "Type": "Choice",
                "Comment": "Use a RUNNING model, start a stopped one, wait out transitions, refuse the rest.",
                "Choices": [
                    {"Variable": status, "StringEquals": MODEL_READY, "Next": "ModelReady"},
                    {
                        "And": [
                            {
                                "Or": [
                                    {"Variable": status, "StringEquals": s} for s in MODEL_STARTABLE
                                ]
                            },
                            {"Variable": "$.started.byThisRun", "BooleanEquals": True},
                        ],
                        "Next": "ModelStoppedWhileStarting",
                    },
                    {
                        "Or": [{"Variable": status, "StringEquals": s} for s in MODEL_STARTABLE],
                        "Next": "StartModel",
                    },
                    {
                        "Or": [{"Variable": status, "StringEquals": s} for s in MODEL_TRANSITIONAL],
                        "Next": "CountModelWait",
                    },
                ],
                "Default": "ModelUnusable",
            },
        )
        start_params: dict[str, Any] = {
            "ProjectVersionArn": p.project_version_arn,
            "MinInferenceUnits": p.min_inference_units,
        }
        if p.max_inference_units is not None:
            start_params["MaxInferenceUnits"] = p.max_inference_units
        self.add(
            "StartModel",
            self.sdk(
                "rekognition:startProjectVersion",
                start_params,
                {"status.$": "$.Status"},
                "$.model.current",
                "MarkStarted",
                [
                    self.retry(*REKOGNITION_TRANSIENT),
                    # still STOPPING from someone else's stop, or a concurrent start
                    self.retry(
                        REKOGNITION_IN_USE, interval=p.model_poll_seconds, attempts=3, backoff=1.5
                    ),
                    # running-model quota of the account: worth a few patient tries
                    self.retry(
                        REKOGNITION_LIMIT, interval=p.model_poll_seconds, attempts=3, backoff=2.0
                    ),
                ],
                self.catch("Failed"),
                "Start the model with the configured inference units (billing starts).",
            ),
        )
        self.add(
            "MarkStarted",
            {
                "Type": "Pass",
                "Parameters": {"byThisRun": True, "at.$": "$$.State.EnteredTime"},
                "ResultPath": "$.started",
                "Next": "CountModelWait",
            },
        )
        self.add(
            "CountModelWait",
            {
                "Type": "Pass",
                "Parameters": {"polls.$": "States.MathAdd($.modelWait.polls, 1)"},
                "ResultPath": "$.modelWait",
                "Next": "StartDeadline",
            },
        )
        self.add(
            "StartDeadline",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.modelWait.polls",
                        "NumericGreaterThan": p.model_wait_polls,
                        "Next": "StartDeadlinePassed",
                    }
                ],
                "Default": "WaitForModel",
            },
        )
        self.add(
            "WaitForModel",
            {"Type": "Wait", "Seconds": p.model_poll_seconds, "Next": "DescribeModel"},
        )
        self.add(
            "DescribeModel",
            self.describe_model_task(
                "Route",
                self.catch("Failed"),
                "Re-describe while the model is STARTING or STOPPING.",
            ),
        )
        self.add(
            "ModelReady",
            {
                "Type": "Pass",
                "Parameters": {"at.$": "$$.State.EnteredTime"},
                "ResultPath": "$.modelReady",
                "Next": "EnableMapping",
            },
        )
        self.set_error(
            "ModelUnusable",
            ERROR_MODEL_UNUSABLE,
            "Model version {} is {}: it can not serve requests. Fix or retrain it; the queue is kept.",
            "$.config.projectVersionArn",
            status,
        )
        self.set_error(
            "ModelStoppedWhileStarting",
            ERROR_MODEL_STOPPED,
            "Model version {} went {} while this run was starting it: someone stopped it. The queue is kept.",
            "$.config.projectVersionArn",
            status,
        )
        self.set_error(
            "StartDeadlinePassed",
            ERROR_START_DEADLINE,
            "Model version {} was still {} after {} seconds (modelStartTimeout). The queue is kept.",
            "$.config.projectVersionArn",
            status,
            "$.config.modelStartTimeoutSeconds",
        )

    def drain(self) -> None:
        p = self.p
        self.add(
            "EnableMapping",
            self.mapping_task(
                True,
                "$.mapping.enabled",
                "WaitForQueue",
                self.catch("Failed"),
                "Let the inference Lambda consume the queue.",
            ),
        )
        self.add(
            "WaitForQueue",
            {"Type": "Wait", "Seconds": p.poll_interval_seconds, "Next": "PollQueue"},
        )
        self.add(
            "PollQueue",
            self.queue_counts_task(
                "IsQueueEmpty",
                "$.queue",
                "Drain check: all three counts, in-flight messages included.",
            ),
        )

        def counters(zero_streak: str) -> dict[str, Any]:
            return {
                "polls.$": "States.MathAdd($.drain.polls, 1)",
                "zeroStreak.$": zero_streak,
                "sinceCheck.$": "States.MathAdd($.drain.sinceCheck, 1)",
            }

        self.add(
            "IsQueueEmpty",
            {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.queue.total", "NumericEquals": 0, "Next": "CountEmptyPoll"}
                ],
                "Default": "CountBusyPoll",
            },
        )
        self.add(
            "CountEmptyPoll",
            {
                "Type": "Pass",
                "Parameters": counters("States.MathAdd($.drain.zeroStreak, 1)"),
                "ResultPath": "$.drain",
                "Next": "DrainDecision",
            },
        )
        self.add(
            "CountBusyPoll",
            {
                "Type": "Pass",
                "Parameters": counters("States.MathAdd(0, 0)"),
                "ResultPath": "$.drain",
                "Next": "DrainDecision",
            },
        )
        self.add(
            "DrainDecision",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.drain.zeroStreak",
                        "NumericGreaterThanEquals": 2,
                        "Next": "Drained",
                    },
                    {
                        "Variable": "$.drain.polls",
                        "NumericGreaterThanEquals": p.max_drain_polls,
                        "Next": "MaxRunReached",
                    },
                    {
                        # One empty poll: confirm sooner than a full interval, the
                        # model is idle from the drain until the confirmation.
                        "Variable": "$.drain.zeroStreak",
                        "NumericEquals": 1,
                        "Next": "WaitToConfirmDrain",
                    },
                    {
                        "Variable": "$.drain.sinceCheck",
                        "NumericGreaterThanEquals": p.model_check_every_polls,
                        "Next": "CheckModel",
                    },
                ],
                "Default": "WaitForQueue",
            },
        )
        self.add(
            "WaitToConfirmDrain",
            {"Type": "Wait", "Seconds": p.confirm_seconds, "Next": "PollQueue"},
        )
        self.add(
            "CheckModel",
            self.describe_model_task(
                "IsModelStillRunning",
                self.catch("Failed"),
                "Someone may have stopped the model: do not feed a stopped model.",
            ),
        )
        self.add(
            "IsModelStillRunning",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.model.current.status",
                        "StringEquals": MODEL_READY,
                        "Next": "ResetModelCheck",
                    }
                ],
                "Default": "ModelLost",
            },
        )
        self.add(
            "ResetModelCheck",
            {
                "Type": "Pass",
                "Parameters": {
                    "polls.$": "$.drain.polls",
                    "zeroStreak.$": "$.drain.zeroStreak",
                    "sinceCheck": 0,
                },
                "ResultPath": "$.drain",
                "Next": "WaitForQueue",
            },
        )
        self.set_error(
            "ModelLost",
            ERROR_MODEL_STOPPED,
            "Model version {} became {} while draining: someone else stopped it. "
            "The mapping is disabled; {} messages stay queued for the next run.",
            "$.config.projectVersionArn",
            "$.model.current.status",
            "$.queue.total",
        )
        for name, outcome in (("Drained", OUTCOME_DRAINED), ("MaxRunReached", OUTCOME_MAX_RUN)):
            # A Pass writes one place: the drain end time, then the outcome.
            self.add(
                name,
                {
                    "Type": "Pass",
                    "Parameters": {"at.$": "$$.State.EnteredTime"},
                    "ResultPath": "$.drainEnd",
                    "Next": f"{name}Outcome",
                },
            )
            self.set_outcome(f"{name}Outcome", outcome, "Cleanup")

    def cleanup(self) -> None:
        p = self.p
        # Errors inside the cleanup are recorded and the cleanup goes on: the model
        # stop must be attempted even if disabling the mapping failed.
        self.set_outcome("Failed", OUTCOME_FAILED, "Cleanup")
        self.add(
            "Cleanup",
            self.mapping_task(
                False,
                "$.mapping.disabled",
                "AfterDisable",
                self.catch("AfterDisable", "$.cleanupErrors.mapping"),
                "Stop feeding the model before stopping it.",
            ),
        )
        self.add(
            "AfterDisable",
            {
                "Type": "Choice",
                "Comment": "After max-run, in-flight batches may still be running: give them a grace period.",
                "Choices": [
                    {
                        "Variable": "$.outcome",
                        "StringEquals": OUTCOME_MAX_RUN,
                        "Next": "GraceForInFlight",
                    }
                ],
                "Default": "StopDecision",
            },
        )
        self.add(
            "GraceForInFlight",
            {"Type": "Wait", "Seconds": p.disable_grace_seconds, "Next": "StopDecision"},
        )
        if p.ownership == OWNERSHIP_EXCLUSIVE:
            self.add(
                "StopDecision",
                {
                    "Type": "Pass",
                    "Comment": "Exclusive ownership: the model is always stopped at the end of a run.",
                    "Next": "CleanupDescribeModel",
                },
            )
        else:
            self.add(
                "StopDecision",
                {
                    "Type": "Choice",
                    "Comment": "Shared ownership: stop the model only if this run started it.",
                    "Choices": [
                        {
                            "Variable": "$.started.byThisRun",
                            "BooleanEquals": True,
                            "Next": "CleanupDescribeModel",
                        }
                    ],
                    "Default": "BuildSummary",
                },
            )
        self.add(
            "CleanupDescribeModel",
            self.describe_model_task(
                "CleanupRoute",
                # Could not look: try the stop anyway (it is the safety action).
                self.catch("StopModel", "$.lastDescribeError"),
                "Stop only what is running; wait out a start in progress.",
            ),
        )
        self.add(
            "CleanupRoute",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        # STARTING too: a start in progress is billed as soon as it is up.
                        "Or": [
                            {"Variable": "$.model.current.status", "StringEquals": s}
                            for s in (MODEL_READY, "STARTING")
                        ],
                        "Next": "StopModel",
                    },
                ],
                "Default": "BuildSummary",
            },
        )
        self.add(
            "CountCleanupWait",
            {
                "Type": "Pass",
                "Parameters": {"polls.$": "States.MathAdd($.cleanupWait.polls, 1)"},
                "ResultPath": "$.cleanupWait",
                "Next": "CleanupDeadline",
            },
        )
        self.add(
            "CleanupDeadline",
            {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.cleanupWait.polls",
                        "NumericGreaterThan": p.model_wait_polls,
                        "Next": "CleanupStuck",
                    }
                ],
                "Default": "CleanupWaitModel",
            },
        )
        self.add(
            "CleanupWaitModel",
            {"Type": "Wait", "Seconds": p.model_poll_seconds, "Next": "CleanupDescribeModel"},
        )
        self.add(
            "CleanupStuck",
            {
                "Type": "Pass",
                "Parameters": {
                    "Error": ERROR_CLEANUP,
                    "Cause.$": "States.Format('Model version {} could not be stopped during the "
                    "cleanup (last status {}). Stop it by hand: it is billed while running.', "
                    "$.config.projectVersionArn, $.model.current.status)",
                },
                "ResultPath": "$.cleanupErrors.model",
                "Next": "BuildSummary",
            },
        )
        self.add(
            "StopModel",
            self.sdk(
                "rekognition:stopProjectVersion",
                {"ProjectVersionArn": p.project_version_arn},
                {"status.$": "$.Status"},
                "$.model.current",
                "MarkStopped",
                [self.retry(*REKOGNITION_TRANSIENT)],
                [
                    # Not stoppable yet (e.g. still STARTING): wait and re-describe,
                    # bounded by the start deadline.
                    {
                        "ErrorEquals": [REKOGNITION_IN_USE],
                        "ResultPath": "$.lastStopError",
                        "Next": "CountCleanupWait",
                    },
                    *self.catch("BuildSummary", "$.cleanupErrors.model"),
                ],
                "Stop the model: billing ends.",
            ),
        )
        self.add(
            "MarkStopped",
            {
                "Type": "Pass",
                "Parameters": {"byThisRun": True, "at.$": "$$.State.EnteredTime"},
                "ResultPath": "$.stopped",
                "Next": "BuildSummary",
            },
        )

    def summary(self) -> None:
        self.add(
            "BuildSummary",
            {
                "Type": "Pass",
                "Comment": "The run summary document (schemaVersion 1).",
                "Parameters": {
                    "schemaVersion": SUMMARY_SCHEMA_VERSION,
                    "execution.$": "$.self.executionArn",
                    "executionName.$": "$$.Execution.Name",
                    "stateMachine.$": "$$.StateMachine.Id",
                    "outcome.$": "$.outcome",
                    "error.$": "$.error",
                    "config.$": "$.config",
                    "backlogAtStart.$": "$.backlog",
                    "testEventsDropped.$": "$.peek.dropped",
                    "testEventPeek.$": "$.peek",
                    "queueAtEnd.$": "$.queue",
                    "modelStatusFound.$": "$.model.found",
                    "modelStatusLast.$": "$.model.current.status",
                    "startedByThisRun.$": "$.started.byThisRun",
                    "stoppedByThisRun.$": "$.stopped.byThisRun",
                    "polls.$": "$.drain.polls",
                    "modelWaitPolls.$": "$.modelWait.polls",
                    "cleanupErrors.$": "$.cleanupErrors",
                    "timestamps": {
                        "executionStarted.$": "$.self.startedAt",
                        "modelStartRequested.$": "$.started.at",
                        "modelRunning.$": "$.modelReady.at",
                        "mappingEnabled.$": "$.mapping.enabled.at",
                        "drainEnded.$": "$.drainEnd.at",
                        "mappingDisabled.$": "$.mapping.disabled.at",
                        "modelStopRequested.$": "$.stopped.at",
                        "summaryWritten.$": "$$.State.EnteredTime",
                    },
                },
                "ResultPath": "$.summary",
                "Next": "WriteSummary",
            },
        )
        self.add(
            "WriteSummary",
            self.sdk(
                "s3:putObject",
                {
                    "Bucket": self.p.final_bucket,
                    "Key.$": "States.Format('{}{}.json', $.config.runsPrefix, $$.Execution.Name)",
                    "ContentType": "application/json",
                    "Body.$": "States.JsonToString($.summary)",
                },
                {"etag.$": "$.ETag"},
                "$.summaryObject",
                "Finish",
                [self.retry(*S3_TRANSIENT)],
                self.catch("Finish", "$.cleanupErrors.summary"),
                "runs/<execution name>.json in the final bucket.",
            ),
        )
        self.add(
            "Finish",
            {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.outcome", "StringEquals": OUTCOME_FAILED, "Next": "RunFailed"},
                    {
                        "Or": [
                            {"Variable": "$.cleanupErrors.mapping", "IsPresent": True},
                            {"Variable": "$.cleanupErrors.model", "IsPresent": True},
                        ],
                        "Next": "CleanupFailedCause",
                    },
                    {
                        "Variable": "$.cleanupErrors.summary",
                        "IsPresent": True,
                        "Next": "SummaryFailed",
                    },
                ],
                "Default": "Done",
            },
        )
        self.add(
            "RunFailed",
            {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        )
        self.add(
            "CleanupFailedCause",
            {
                "Type": "Pass",
                "Parameters": {"cause.$": "States.JsonToString($.cleanupErrors)"},
                "ResultPath": "$.failure",
                "Next": "CleanupFailed",
            },
        )
        self.add(
            "CleanupFailed",
            {"Type": "Fail", "Error": ERROR_CLEANUP, "CausePath": "$.failure.cause"},
        )
        self.add(
            "SummaryFailed",
            {
                "Type": "Fail",
                "Error": ERROR_SUMMARY,
                "CausePath": "$.cleanupErrors.summary.Cause",
            },
        )
        self.add("Done", {"Type": "Succeed", "OutputPath": "$.summary"})
