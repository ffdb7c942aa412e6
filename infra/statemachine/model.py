"""Phase 3: get the model RUNNING: use it if it is, start it if it can be,
wait out STARTING/STOPPING within the start deadline, refuse the rest."""

from __future__ import annotations

from typing import Any

from infra.statemachine import asl
from infra.statemachine import names as n
from infra.statemachine.errors import (
    ERROR_MODEL_STOPPED,
    ERROR_MODEL_UNUSABLE,
    ERROR_START_DEADLINE,
    MODEL_READY,
    MODEL_STARTABLE,
    MODEL_TRANSITIONAL,
    REKOGNITION_IN_USE,
    REKOGNITION_LIMIT,
    REKOGNITION_TRANSIENT,
)
from infra.statemachine.params import WorkflowParams
from infra.statemachine.tasks import describe_model, retry

STATUS = "$.model.current.status"


def start_parameters(p: WorkflowParams) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ProjectVersionArn": p.project_version_arn,
        "MinInferenceUnits": p.min_inference_units,
    }
    if p.max_inference_units is not None:
        params["MaxInferenceUnits"] = p.max_inference_units
    return params


def states(p: WorkflowParams) -> asl.States:
    startable = asl.any_of(STATUS, "StringEquals", MODEL_STARTABLE)
    return {
        n.ROUTE: asl.choice(
            [
                asl.when(STATUS, "StringEquals", MODEL_READY, n.MODEL_READY),
                {
                    "And": [
                        startable,
                        {"Variable": "$.started.byThisRun", "BooleanEquals": True},
                    ],
                    "Next": n.MODEL_STOPPED_WHILE_STARTING,
                },
                {**startable, "Next": n.START_MODEL},
                {
                    **asl.any_of(STATUS, "StringEquals", MODEL_TRANSITIONAL),
                    "Next": n.COUNT_MODEL_WAIT,
                },
            ],
            n.MODEL_UNUSABLE,
            comment=(
                "Use a RUNNING model, start a stopped one, wait out transitions, refuse the rest."
            ),
        ),
        n.START_MODEL: asl.sdk_task(
            "rekognition:startProjectVersion",
            start_parameters(p),
            {"status.$": "$.Status"},
            "$.model.current",
            n.MARK_STARTED,
            [
                retry(p, *REKOGNITION_TRANSIENT),
                # still STOPPING from someone else's stop, or a concurrent start
                retry(
                    p, REKOGNITION_IN_USE, interval=p.model_poll_seconds, attempts=3, backoff=1.5
                ),
                # running-model quota of the account: worth a few patient tries
                retry(p, REKOGNITION_LIMIT, interval=p.model_poll_seconds, attempts=3, backoff=2.0),
            ],
            asl.catch(n.FAILED),
            "Start the model with the configured inference units (billing starts).",
        ),
        n.MARK_STARTED: asl.timestamp(n.COUNT_MODEL_WAIT, "$.started", byThisRun=True),
        n.COUNT_MODEL_WAIT: asl.pass_state(
            n.START_DEADLINE,
            parameters={"polls.$": "States.MathAdd($.modelWait.polls, 1)"},
            result_path="$.modelWait",
        ),
        n.START_DEADLINE: asl.choice(
            [
                asl.when(
                    "$.modelWait.polls",
                    "NumericGreaterThan",
                    p.model_wait_polls,
                    n.START_DEADLINE_PASSED,
                )
            ],
            n.WAIT_FOR_MODEL,
        ),
        n.WAIT_FOR_MODEL: asl.wait(p.model_poll_seconds, n.DESCRIBE_MODEL),
        n.DESCRIBE_MODEL: describe_model(
            p, n.ROUTE, asl.catch(n.FAILED), "Re-describe while the model is STARTING or STOPPING."
        ),
        n.MODEL_READY: asl.timestamp(n.ENABLE_MAPPING, "$.modelReady"),
        n.MODEL_UNUSABLE: asl.set_error(
            ERROR_MODEL_UNUSABLE,
            n.FAILED,
            "Model version {} is {}: it can not serve requests. Fix or retrain it; the queue is kept.",
            "$.config.projectVersionArn",
            STATUS,
        ),
        n.MODEL_STOPPED_WHILE_STARTING: asl.set_error(
            ERROR_MODEL_STOPPED,
            n.FAILED,
            "Model version {} went {} while this run was starting it: someone stopped it. The queue is kept.",
            "$.config.projectVersionArn",
            STATUS,
        ),
        n.START_DEADLINE_PASSED: asl.set_error(
            ERROR_START_DEADLINE,
            n.FAILED,
            "Model version {} was still {} after {} seconds (modelStartTimeout). The queue is kept.",
            "$.config.projectVersionArn",
            STATUS,
            "$.config.modelStartTimeoutSeconds",
        ),
    }
