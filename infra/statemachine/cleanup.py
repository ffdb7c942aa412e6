"""The one cleanup every path ends in (the drained one too): disable
the mapping and see it Disabled, stop the model per ownership (waiting out a
start in progress, bounded), recording errors as it goes, so the stop is
attempted even if the disable failed.

The mapping is confirmed Disabled (GetEventSourceMapping) before the model is
stopped: a disable refused while the mapping is Enabling or Updating is tried
again for up to mapping_wait_seconds, since a model stopped under an enabled
mapping makes every image fail "not ready" and walk to the DLQ. A stop refused
while the model is STARTING (AWS documents StopProjectVersion for a running
model only) waits for RUNNING, bounded by the start deadline, and stops it then.
"""

from __future__ import annotations

from infra.contract import OUTCOME_FAILED, OUTCOME_MAX_RUN
from infra.statemachine import asl, summary
from infra.statemachine import names as n
from infra.statemachine.errors import (
    ERROR_CLEANUP,
    LAMBDA_TRANSIENT,
    MODEL_RUNNING,
    MODEL_STARTING,
    REKOGNITION_IN_USE,
    REKOGNITION_TRANSIENT,
)
from infra.statemachine.params import OWNERSHIP_EXCLUSIVE, WorkflowParams
from infra.statemachine.tasks import (
    STATUS,
    describe_model,
    disable_mapping,
    model_is,
    model_is_any,
    retry,
)

ENTRY = n.DISABLE_MAPPING  # the run has its outcome: clean up
ON_ERROR = n.MARK_FAILED  # every Catch of a state that touched the model

MAPPING_DISABLED = "Disabled"
MAPPING_DISABLING = "Disabling"


def _toward_stop(p: WorkflowParams) -> str:
    """Exclusive ownership always stops the model: straight to the describe."""
    return (
        n.CLEANUP_DESCRIBE_MODEL
        if p.ownership == OWNERSHIP_EXCLUSIVE
        else n.DID_THIS_RUN_START_MODEL
    )


def _did_this_run_start_model(p: WorkflowParams) -> asl.States:
    if p.ownership == OWNERSHIP_EXCLUSIVE:
        return {}
    return {
        n.DID_THIS_RUN_START_MODEL: asl.choice(
            [asl.when("$.started.byThisRun", "BooleanEquals", True, n.CLEANUP_DESCRIBE_MODEL)],
            default=summary.ENTRY,
            comment="Shared ownership: stop the model only if this run started it.",
        )
    }


def states(p: WorkflowParams) -> asl.States:
    return asl.merge(
        {
            n.MARK_FAILED: asl.set_outcome(OUTCOME_FAILED, n.DISABLE_MAPPING),
            n.DISABLE_MAPPING: disable_mapping(
                p,
                result_path="$.mapping.disabled",
                next_state=n.READ_MAPPING,
                # Refused (still Enabling/Updating past the retries): try again.
                catch=asl.catch(n.COUNT_MAPPING_WAIT, "$.mappingWait.error"),
                comment="Stop feeding the model before stopping it.",
            ),
            n.READ_MAPPING: asl.sdk_task(
                "lambda:getEventSourceMapping",
                parameters={"Uuid": p.event_source_mapping_uuid},
                result_selector={"state.$": "$.State", "at.$": "$$.State.EnteredTime"},
                result_path="$.mapping.disabled",
                next_state=n.IS_MAPPING_DISABLED,
                retry=[retry(p, *LAMBDA_TRANSIENT)],
                catch=asl.catch(n.COUNT_MAPPING_WAIT, "$.mappingWait.error"),
                comment="See the mapping Disabled before the model is stopped.",
            ),
            n.IS_MAPPING_DISABLED: asl.choice(
                [
                    asl.when(
                        "$.mapping.disabled.state",
                        "StringEquals",
                        MAPPING_DISABLED,
                        n.WAS_MAX_RUN_REACHED,
                    )
                ],
                default=n.COUNT_MAPPING_WAIT,
            ),
            n.COUNT_MAPPING_WAIT: asl.pass_state(
                n.MAPPING_DEADLINE,
                parameters={"polls.$": "States.MathAdd($.mappingWait.polls, 1)"},
                result_path="$.mappingWait",
            ),
            n.MAPPING_DEADLINE: asl.choice(
                [
                    asl.when(
                        "$.mappingWait.polls",
                        "NumericGreaterThan",
                        p.mapping_wait_polls,
                        n.MAPPING_NOT_DISABLED,
                    )
                ],
                default=n.WAIT_FOR_MAPPING,
            ),
            n.WAIT_FOR_MAPPING: asl.wait(
                seconds=p.mapping_poll_seconds, next_state=n.MAPPING_NEEDS_DISABLE
            ),
            n.MAPPING_NEEDS_DISABLE: asl.choice(
                [
                    asl.when(
                        "$.mapping.disabled.state",
                        "StringEquals",
                        MAPPING_DISABLING,
                        n.READ_MAPPING,
                    )
                ],
                default=n.DISABLE_MAPPING,
                comment="Disabling: look again; Enabled, Enabling, Updating: disable again.",
            ),
            n.MAPPING_NOT_DISABLED: asl.set_error(
                ERROR_CLEANUP,
                n.WAS_MAX_RUN_REACHED,
                f"The event source mapping {p.event_source_mapping_uuid} was not Disabled "
                "after {} tries (last state: {}). The model is stopped anyway (it is billed "
                "while running); disable the mapping by hand or images will fail until the "
                "next run.",
                "$.mappingWait.polls",
                "$.mapping.disabled.state",
                result_path="$.cleanupErrors.mapping",
            ),
            n.WAS_MAX_RUN_REACHED: asl.choice(
                [asl.when("$.outcome", "StringEquals", OUTCOME_MAX_RUN, n.GRACE_FOR_IN_FLIGHT)],
                default=_toward_stop(p),
                comment="After max-run, in-flight batches may still be running: give them a grace period.",
            ),
            n.GRACE_FOR_IN_FLIGHT: asl.wait(
                seconds=p.disable_grace_seconds, next_state=_toward_stop(p)
            ),
        },
        _did_this_run_start_model(p),
        describe_model(
            p,
            n.CLEANUP_DESCRIBE_MODEL,
            next_state=n.SHOULD_STOP_MODEL,
            # Could not look: try the stop anyway (it is the safety action).
            catch=asl.catch(n.STOP_MODEL, "$.lastDescribeError"),
            comment="Stop only what is running; wait out a start in progress.",
        ),
        {
            n.SHOULD_STOP_MODEL: asl.choice(
                [
                    asl.rule(model_is(MODEL_RUNNING), n.STOP_MODEL),
                    # A stop of this STARTING model was refused: wait for RUNNING.
                    asl.rule(
                        asl.all_of(
                            model_is(MODEL_STARTING),
                            asl.cond("$.lastStopError", "IsPresent", True),
                        ),
                        n.COUNT_CLEANUP_WAIT,
                    ),
                    # STARTING too: a start in progress is billed as soon as it is up.
                    asl.rule(model_is_any(MODEL_STARTING), n.STOP_MODEL),
                ],
                default=summary.ENTRY,
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
                default=n.CLEANUP_WAIT_MODEL,
            ),
            n.CLEANUP_WAIT_MODEL: asl.wait(
                seconds=p.model_poll_seconds, next_state=n.CLEANUP_DESCRIBE_MODEL
            ),
            n.CLEANUP_STUCK: asl.set_error(
                ERROR_CLEANUP,
                summary.ENTRY,
                "Model version {} could not be stopped during the cleanup (last status {}). "
                "Stop it by hand: it is billed while running.",
                "$.config.projectVersionArn",
                STATUS,
                result_path="$.cleanupErrors.model",
            ),
            n.STOP_MODEL: asl.sdk_task(
                "rekognition:stopProjectVersion",
                parameters={"ProjectVersionArn": p.project_version_arn},
                result_selector={"status.$": "$.Status"},
                result_path="$.stopResponse",
                next_state=n.MARK_STOPPED,
                retry=[retry(p, *REKOGNITION_TRANSIENT)],
                catch=[
                    # Not stoppable yet (e.g. still STARTING): wait and re-describe,
                    # bounded by the start deadline.
                    *asl.catch(n.COUNT_CLEANUP_WAIT, "$.lastStopError", errors=REKOGNITION_IN_USE),
                    *asl.catch(n.STOP_REFUSED, "$.lastStopError"),
                ],
                comment="Stop the model: billing ends.",
            ),
            n.STOP_REFUSED: asl.choice(
                [asl.rule(model_is(MODEL_STARTING), n.COUNT_CLEANUP_WAIT)],
                default=n.RECORD_STOP_ERROR,
                comment=(
                    "A STARTING model goes on to RUNNING, billed: whatever the refusal, "
                    "wait for RUNNING and stop it then."
                ),
            ),
            n.RECORD_STOP_ERROR: asl.pass_state(
                summary.ENTRY,
                parameters={"Error.$": "$.lastStopError.Error", "Cause.$": "$.lastStopError.Cause"},
                result_path="$.cleanupErrors.model",
            ),
            n.MARK_STOPPED: asl.timestamp(summary.ENTRY, "$.stopped", byThisRun=True),
        },
    )
