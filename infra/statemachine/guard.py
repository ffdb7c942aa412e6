"""The run's initial document, then no double runs.

Init writes every field the summary and the Choices read, so no later path
can miss. The guard lets only the oldest RUNNING execution of this state
machine go on; the others end ``skipped`` without touching anything.
"""

from __future__ import annotations

from typing import Any

from infra.contract import OUTCOME_SKIPPED
from infra.statemachine import asl, backlog, summary
from infra.statemachine import names as n
from infra.statemachine.errors import SFN_TRANSIENT
from infra.statemachine.params import WorkflowParams
from infra.statemachine.peek import peek_record
from infra.statemachine.tasks import VERSION_DEFAULTS, retry

ENTRY = n.INIT  # the first state of the execution

NULL_COUNTS: dict[str, Any] = {
    "visible": None,
    "inFlight": None,
    "delayed": None,
    "total": None,
    "at": None,
}


def initial_document(p: WorkflowParams) -> dict[str, Any]:
    """The Init state's Parameters: the run's configuration and empty records."""
    return {
        "self": {
            "executionArn.$": "$$.Execution.Id",
            "startedAt.$": "$$.State.EnteredTime",
        },
        "config": {
            "projectVersionArn": p.project_version_arn,
            "projectArn": p.project_arn,
            "versionName": p.version_name,
            "ownership": p.ownership,
            "minInferenceUnits": p.min_inference_units,
            "maxInferenceUnits": p.max_inference_units,
            "pollIntervalSeconds": p.poll_interval_seconds,
            "drainConfirmSeconds": p.confirm_seconds,
            "modelStartTimeoutSeconds": p.model_start_timeout_seconds,
            "maxRunSeconds": p.max_run_seconds,
            "runsPrefix": p.runs_prefix,
            "targetRunMinutes": p.target_run_minutes,
            "tpsPerUnit": p.tps_per_unit,
            "maxStartAttempts": p.max_start_attempts,
            "pricePerInferenceUnitHour": p.price_per_inference_unit_hour,
        },
        "outcome": "running",
        "error": None,
        "backlog": dict(NULL_COUNTS),
        "queue": dict(NULL_COUNTS),
        "model": {
            "found": None,
            "unitsFound": None,
            "current": {"count": 0, "version": dict(VERSION_DEFAULTS)},
            "last": {"status": None},
        },
        "plan": {"units": None, "concurrency": None, "tpsPlanned": None},
        "modelReady": {"at": None},
        "drainEnd": {"at": None},
        "started": {"byThisRun": False, "attempts": 0, "at": None},
        "startResponse": {"status": ""},
        "stopped": {"byThisRun": False, "at": None},
        "mapping": {
            "enabled": {"state": None, "at": None},
            "disabled": {"state": "", "at": None},
        },
        "modelWait": {"polls": 0},
        "drain": {
            "polls": 0,
            "sinceCheck": 0,
            "elapsed": 0,
            "cost": 0,
            "wait": p.fast_poll_seconds,
        },
        "cleanupWait": {"polls": 0},
        "mappingWait": {"polls": 0},
        "cleanupErrors": {},
        "peek": peek_record(0, 0, dict(NULL_COUNTS)),
        "peekWork": {},  # the peek's scratch space, emptied after it
    }


def states(p: WorkflowParams) -> asl.States:
    settle: asl.States = {}
    if p.guard_settle_seconds:
        settle[n.SETTLE_BEFORE_GUARD] = asl.wait(
            seconds=p.guard_settle_seconds,
            next_state=n.GUARD,
            comment=(
                "ListExecutions is eventually consistent: let a run started "
                "moments apart become visible before deciding which is older."
            ),
        )
    return asl.merge(
        {
            n.INIT: asl.pass_state(
                n.SETTLE_BEFORE_GUARD if p.guard_settle_seconds else n.GUARD,
                parameters=initial_document(p),
                comment="Every field the summary and the Choices read exists from the start.",
            )
        },
        settle,
        {
            n.GUARD: asl.sdk_task(
                "sfn:listExecutions",
                parameters={
                    "StateMachineArn.$": "$$.StateMachine.Id",
                    "StatusFilter": "RUNNING",
                    "MaxResults": 100,
                },
                # The list whole: a wildcard projection of a one-element list is
                # a list for moto and the bare value for LocalStack.
                result_selector={
                    "count.$": "States.ArrayLength($.Executions)",
                    "executions.$": "$.Executions",
                },
                result_path="$.guard",
                next_state=n.ANY_RUN_LISTED,
                retry=[retry(p, *SFN_TRANSIENT)],
                catch=None,  # nothing touched yet, and another run may own the model: just fail
                comment="No double runs: only the oldest RUNNING execution proceeds.",
            ),
            n.ANY_RUN_LISTED: asl.choice(
                [asl.when("$.guard.count", "NumericEquals", 0, backlog.ENTRY)],
                default=n.FIND_OLDEST,
            ),
            n.FIND_OLDEST: asl.pass_state(
                n.IS_OLDEST,
                parameters={
                    "count.$": "$.guard.count",
                    "oldest.$": (
                        "States.ArrayGetItem($.guard.executions, States.MathAdd($.guard.count, -1))"
                    ),
                },
                result_path="$.guard",
                comment=(
                    "ListExecutions is newest first: the last item is the oldest run "
                    "(count > 0 here). The rest of the list is dropped."
                ),
            ),
            n.IS_OLDEST: asl.choice(
                [
                    asl.when(
                        "$.guard.oldest.ExecutionArn",
                        "StringEqualsPath",
                        "$.self.executionArn",
                        backlog.ENTRY,
                    )
                ],
                default=n.SKIPPED,
            ),
            n.SKIPPED: asl.set_outcome(OUTCOME_SKIPPED, summary.ENTRY),
        },
    )
