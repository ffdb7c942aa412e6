"""Get the model RUNNING: use it if it is, start it if it can be
(with the plan's units), describe a STARTING model on a ladder of intervals
(often at first, less often as a long start goes on) within the start
deadline, start again after a start that ended FAILED (bounded per run),
refuse the rest with the status and AWS's StatusMessage."""

from __future__ import annotations

from typing import Any

from infra.statemachine import asl, cleanup, drain
from infra.statemachine import names as n
from infra.statemachine.errors import (
    ERROR_MODEL_NOT_FOUND,
    ERROR_MODEL_STOPPED,
    ERROR_MODEL_UNUSABLE,
    ERROR_START_DEADLINE,
    ERROR_START_FAILED,
    MODEL_RUNNING,
    MODEL_START_FAILED,
    MODEL_STARTABLE,
    MODEL_STARTING,
    MODEL_TRANSITIONAL,
    REKOGNITION_IN_USE,
    REKOGNITION_LIMIT,
    REKOGNITION_TRANSIENT,
)
from infra.statemachine.params import WorkflowParams
from infra.statemachine.tasks import (
    STATUS,
    STATUS_MESSAGE,
    describe_model,
    model_is,
    model_is_any,
    retry,
)

ENTRY = n.ACT_ON_MODEL_STATUS
# Where the backlog phase sends a run whose model version does not exist.
VERSION_NOT_FOUND = n.MODEL_NOT_FOUND


def start_parameters(p: WorkflowParams) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ProjectVersionArn": p.project_version_arn,
        "MinInferenceUnits.$": "$.plan.units",
    }
    if p.max_inference_units is not None:
        params["MaxInferenceUnits"] = p.max_inference_units
    return params


def _ladder(p: WorkflowParams) -> tuple[list[dict[str, Any]], asl.States]:
    """ActOnModelStatus's rules for a model in transition (the start deadline first, then one
    rule per rung of the describe ladder) and, per rung, the Pass that counts the
    describe and the Wait before it: 4 transitions per describe (ActOnModelStatus, count,
    wait, describe), the fewest a bounded loop can have."""
    rungs = p.start_polls()
    transitional = model_is_any(*MODEL_TRANSITIONAL)
    polls = "$.modelWait.polls"
    rules: list[asl.Condition] = [
        asl.rule(
            asl.all_of(
                transitional, asl.cond(polls, "NumericGreaterThanEquals", p.start_deadline_polls)
            ),
            n.START_DEADLINE_PASSED,
        )
    ]
    for upto, seconds in rungs[:-1]:
        rules.append(
            asl.rule(
                asl.all_of(transitional, asl.cond(polls, "NumericLessThan", upto)),
                n.count_model_wait(seconds),
            )
        )
    rules.append(asl.rule(transitional, n.count_model_wait(rungs[-1][1])))
    loop: asl.States = {}
    for _upto, seconds in rungs:
        loop.setdefault(
            n.count_model_wait(seconds),
            asl.pass_state(
                n.wait_for_model(seconds),
                parameters={"polls.$": "States.MathAdd($.modelWait.polls, 1)"},
                result_path="$.modelWait",
            ),
        )
        loop.setdefault(
            n.wait_for_model(seconds), asl.wait(seconds=seconds, next_state=n.DESCRIBE_MODEL)
        )
    return rules, loop


def states(p: WorkflowParams) -> asl.States:
    startable = model_is_any(*MODEL_STARTABLE)
    started_by_this_run = asl.cond("$.started.byThisRun", "BooleanEquals", True)
    waiting_rules, loop = _ladder(p)
    first_wait = n.wait_for_model(p.start_polls()[0][1])
    return asl.merge(
        {
            n.ACT_ON_MODEL_STATUS: asl.choice(
                [
                    asl.when("$.model.current.count", "NumericEquals", 0, n.MODEL_NOT_FOUND),
                    asl.rule(model_is(MODEL_RUNNING), n.MODEL_READY),
                    # DescribeProjectVersions is eventually consistent: the first
                    # describe after a start that answered STARTING may still say
                    # STOPPED (or the FAILED of an earlier start). Describe once more.
                    asl.rule(
                        asl.all_of(
                            model_is_any(*MODEL_STARTABLE, MODEL_START_FAILED),
                            started_by_this_run,
                            asl.cond("$.modelWait.polls", "NumericEquals", 1),
                            asl.cond("$.startResponse.status", "StringEquals", MODEL_STARTING),
                        ),
                        n.count_model_wait(p.start_polls()[0][1]),
                    ),
                    asl.rule(
                        asl.all_of(startable, started_by_this_run), n.MODEL_STOPPED_WHILE_STARTING
                    ),
                    asl.rule(
                        asl.all_of(
                            model_is(MODEL_START_FAILED),
                            asl.cond(
                                "$.started.attempts",
                                "NumericGreaterThanEquals",
                                p.max_start_attempts,
                            ),
                        ),
                        n.START_FAILED,
                    ),
                    asl.rule(model_is_any(*MODEL_STARTABLE, MODEL_START_FAILED), n.START_MODEL),
                    *waiting_rules,
                ],
                default=n.MODEL_UNUSABLE,
                comment=(
                    "Use a RUNNING model, start a stopped one (or one whose start failed, "
                    "bounded), wait out transitions, refuse the rest."
                ),
            ),
            n.START_MODEL: asl.sdk_task(
                "rekognition:startProjectVersion",
                parameters=start_parameters(p),
                result_selector={"status.$": "$.Status"},
                result_path="$.startResponse",
                next_state=n.MARK_STARTED,
                retry=[
                    retry(p, *REKOGNITION_TRANSIENT),
                    # still STOPPING from someone else's stop, or a concurrent start
                    retry(
                        p,
                        *REKOGNITION_IN_USE,
                        interval=p.model_poll_seconds,
                        attempts=3,
                        backoff=1.5,
                    ),
                    # running-model quota of the account: worth a few patient tries
                    retry(
                        p,
                        *REKOGNITION_LIMIT,
                        interval=p.model_poll_seconds,
                        attempts=3,
                        backoff=2.0,
                    ),
                ],
                catch=asl.catch(cleanup.ON_ERROR),
                comment="Start the model with the planned inference units (billing starts).",
            ),
            n.MARK_STARTED: asl.pass_state(
                n.RESET_MODEL_WAIT,
                parameters={
                    "byThisRun": True,
                    "attempts.$": "States.MathAdd($.started.attempts, 1)",
                    "at.$": "$$.State.EnteredTime",
                },
                result_path="$.started",
            ),
            # Each start gets the whole start deadline (a restart after FAILED too).
            n.RESET_MODEL_WAIT: asl.pass_state(
                first_wait, result={"polls": 1}, result_path="$.modelWait"
            ),
        },
        loop,
        describe_model(
            p,
            n.DESCRIBE_MODEL,
            next_state=n.ACT_ON_MODEL_STATUS,
            catch=asl.catch(cleanup.ON_ERROR),
            comment="Re-describe while the model is STARTING or STOPPING.",
        ),
        {
            n.MODEL_READY: asl.timestamp(drain.ENTRY, "$.modelReady"),
            n.MODEL_NOT_FOUND: asl.set_error(
                ERROR_MODEL_NOT_FOUND,
                cleanup.ON_ERROR,
                "model version not found: {} (no version {} in project {}). The queue is kept.",
                "$.config.projectVersionArn",
                "$.config.versionName",
                "$.config.projectArn",
            ),
            n.MODEL_UNUSABLE: asl.set_error(
                ERROR_MODEL_UNUSABLE,
                cleanup.ON_ERROR,
                "Model version {} is {} (StatusMessage: {}): it can not serve requests. "
                "Fix or retrain it; the queue is kept.",
                "$.config.projectVersionArn",
                STATUS,
                STATUS_MESSAGE,
            ),
            n.START_FAILED: asl.set_error(
                ERROR_START_FAILED,
                cleanup.ON_ERROR,
                "Model version {} ended FAILED after {} starts in this run (StatusMessage: {}). "
                "The queue is kept; the next run starts it again.",
                "$.config.projectVersionArn",
                "$.started.attempts",
                STATUS_MESSAGE,
            ),
            n.MODEL_STOPPED_WHILE_STARTING: asl.set_error(
                ERROR_MODEL_STOPPED,
                cleanup.ON_ERROR,
                "Model version {} went {} while this run was starting it: someone stopped it. "
                "The queue is kept.",
                "$.config.projectVersionArn",
                STATUS,
            ),
            n.START_DEADLINE_PASSED: asl.set_error(
                ERROR_START_DEADLINE,
                cleanup.ON_ERROR,
                "Model version {} was still {} after {} seconds (modelStartTimeout). "
                "The queue is kept.",
                "$.config.projectVersionArn",
                STATUS,
                "$.config.modelStartTimeoutSeconds",
            ),
        },
    )
