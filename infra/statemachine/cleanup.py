"""Phase 5: the one cleanup every path ends in (the drained one too): disable
the mapping, stop the model per ownership (waiting out a start in progress,
bounded), recording errors as it goes, so the stop is attempted even if the
disable failed."""

from __future__ import annotations

from infra.contract import OUTCOME_FAILED, OUTCOME_MAX_RUN
from infra.statemachine import asl
from infra.statemachine import names as n
from infra.statemachine.errors import (
    ERROR_CLEANUP,
    MODEL_READY,
    REKOGNITION_IN_USE,
    REKOGNITION_TRANSIENT,
)
from infra.statemachine.params import OWNERSHIP_EXCLUSIVE, WorkflowParams
from infra.statemachine.tasks import STATUS, describe_model, model_is_any, retry, toggle_mapping


def _after_disable(p: WorkflowParams) -> str:
    """Exclusive ownership always stops the model: straight to the describe."""
    return n.CLEANUP_DESCRIBE_MODEL if p.ownership == OWNERSHIP_EXCLUSIVE else n.STOP_DECISION


def _stop_decision(p: WorkflowParams) -> asl.States:
    if p.ownership == OWNERSHIP_EXCLUSIVE:
        return {}
    return {
        n.STOP_DECISION: asl.choice(
            [asl.when("$.started.byThisRun", "BooleanEquals", True, n.CLEANUP_DESCRIBE_MODEL)],
            n.LAST_MODEL_STATUS_KNOWN,
            comment="Shared ownership: stop the model only if this run started it.",
        )
    }


def states(p: WorkflowParams) -> asl.States:
    return asl.merge(
        {
            n.FAILED: asl.set_outcome(OUTCOME_FAILED, n.CLEANUP),
            n.CLEANUP: toggle_mapping(
                p,
                False,
                "$.mapping.disabled",
                n.AFTER_DISABLE,
                asl.catch(n.AFTER_DISABLE, "$.cleanupErrors.mapping"),
                "Stop feeding the model before stopping it.",
            ),
            n.AFTER_DISABLE: asl.choice(
                [asl.when("$.outcome", "StringEquals", OUTCOME_MAX_RUN, n.GRACE_FOR_IN_FLIGHT)],
                _after_disable(p),
                comment="After max-run, in-flight batches may still be running: give them a grace period.",
            ),
            n.GRACE_FOR_IN_FLIGHT: asl.wait(p.disable_grace_seconds, _after_disable(p)),
        },
        _stop_decision(p),
        describe_model(
            p,
            n.CLEANUP_DESCRIBE_MODEL,
            n.CLEANUP_ROUTE,
            # Could not look: try the stop anyway (it is the safety action).
            asl.catch(n.STOP_MODEL, "$.lastDescribeError"),
            "Stop only what is running; wait out a start in progress.",
        ),
        {
            n.CLEANUP_ROUTE: asl.choice(
                [
                    # STARTING too: a start in progress is billed as soon as it is up.
                    {**model_is_any(MODEL_READY, "STARTING"), "Next": n.STOP_MODEL},
                ],
                n.LAST_MODEL_STATUS_KNOWN,
            ),
            n.COUNT_CLEANUP_WAIT: asl.pass_state(
                n.CLEANUP_DEADLINE,
                parameters={"polls.$": "States.MathAdd($.cleanupWait.polls, 1)"},
                result_path="$.cleanupWait",
            ),
            n.CLEANUP_DEADLINE: asl.choice(
                [
                    asl.when(
                        "$.cleanupWait.polls",
                        "NumericGreaterThan",
                        p.model_wait_polls,
                        n.CLEANUP_STUCK,
                    )
                ],
                n.CLEANUP_WAIT_MODEL,
            ),
            n.CLEANUP_WAIT_MODEL: asl.wait(p.model_poll_seconds, n.CLEANUP_DESCRIBE_MODEL),
            n.CLEANUP_STUCK: asl.set_error(
                ERROR_CLEANUP,
                n.LAST_MODEL_STATUS_KNOWN,
                "Model version {} could not be stopped during the cleanup (last status {}). "
                "Stop it by hand: it is billed while running.",
                "$.config.projectVersionArn",
                STATUS,
                result_path="$.cleanupErrors.model",
            ),
            n.STOP_MODEL: asl.sdk_task(
                "rekognition:stopProjectVersion",
                {"ProjectVersionArn": p.project_version_arn},
                {"status.$": "$.Status"},
                "$.stopResponse",
                n.MARK_STOPPED,
                [retry(p, *REKOGNITION_TRANSIENT)],
                [
                    # Not stoppable yet (e.g. still STARTING): wait and re-describe,
                    # bounded by the start deadline.
                    {
                        "ErrorEquals": list(REKOGNITION_IN_USE),
                        "ResultPath": "$.lastStopError",
                        "Next": n.COUNT_CLEANUP_WAIT,
                    },
                    *asl.catch(n.LAST_MODEL_STATUS_KNOWN, "$.cleanupErrors.model"),
                ],
                "Stop the model: billing ends.",
            ),
            n.MARK_STOPPED: asl.timestamp(n.LAST_MODEL_STATUS_KNOWN, "$.stopped", byThisRun=True),
        },
    )
