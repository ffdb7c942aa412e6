"""Phase 4: enable the mapping and poll the queue until it is drained (empty on
two consecutive polls, the second sooner than a full interval), the run
deadline passes, or the model is found no longer RUNNING."""

from __future__ import annotations

from typing import Any

from infra.contract import OUTCOME_DRAINED, OUTCOME_MAX_RUN
from infra.statemachine import asl
from infra.statemachine import names as n
from infra.statemachine.errors import ERROR_MODEL_STOPPED, MODEL_READY
from infra.statemachine.params import WorkflowParams
from infra.statemachine.tasks import describe_model, queue_counts, toggle_mapping


def _counters(zero_streak: str) -> dict[str, Any]:
    return {
        "polls.$": "States.MathAdd($.drain.polls, 1)",
        "zeroStreak.$": zero_streak,
        "sinceCheck.$": "States.MathAdd($.drain.sinceCheck, 1)",
    }


def _run_end(name: str, outcome_state: str, outcome: str) -> asl.States:
    # A Pass writes one place: the drain end time, then the outcome.
    return {
        name: asl.timestamp(outcome_state, "$.drainEnd"),
        outcome_state: asl.set_outcome(outcome, n.CLEANUP),
    }


def states(p: WorkflowParams) -> asl.States:
    return asl.merge(
        {
            n.ENABLE_MAPPING: toggle_mapping(
                p,
                True,
                "$.mapping.enabled",
                n.WAIT_FOR_QUEUE,
                asl.catch(n.FAILED),
                "Let the inference Lambda consume the queue.",
            ),
            n.WAIT_FOR_QUEUE: asl.wait(p.poll_interval_seconds, n.POLL_QUEUE),
            n.POLL_QUEUE: queue_counts(
                p,
                n.IS_QUEUE_EMPTY,
                "$.queue",
                "Drain check: all three counts, in-flight messages included.",
            ),
            n.IS_QUEUE_EMPTY: asl.choice(
                [asl.when("$.queue.total", "NumericEquals", 0, n.COUNT_EMPTY_POLL)],
                n.COUNT_BUSY_POLL,
            ),
            n.COUNT_EMPTY_POLL: asl.pass_state(
                n.DRAIN_DECISION,
                parameters=_counters("States.MathAdd($.drain.zeroStreak, 1)"),
                result_path="$.drain",
            ),
            n.COUNT_BUSY_POLL: asl.pass_state(
                n.DRAIN_DECISION,
                parameters=_counters("States.MathAdd(0, 0)"),
                result_path="$.drain",
            ),
            n.DRAIN_DECISION: asl.choice(
                [
                    asl.when("$.drain.zeroStreak", "NumericGreaterThanEquals", 2, n.DRAINED),
                    asl.when(
                        "$.drain.polls",
                        "NumericGreaterThanEquals",
                        p.max_drain_polls,
                        n.MAX_RUN_REACHED,
                    ),
                    # One empty poll: confirm sooner than a full interval, the
                    # model is idle from the drain until the confirmation.
                    asl.when("$.drain.zeroStreak", "NumericEquals", 1, n.WAIT_TO_CONFIRM_DRAIN),
                    asl.when(
                        "$.drain.sinceCheck",
                        "NumericGreaterThanEquals",
                        p.model_check_every_polls,
                        n.CHECK_MODEL,
                    ),
                ],
                n.WAIT_FOR_QUEUE,
            ),
            n.WAIT_TO_CONFIRM_DRAIN: asl.wait(p.confirm_seconds, n.POLL_QUEUE),
            n.CHECK_MODEL: describe_model(
                p,
                n.IS_MODEL_STILL_RUNNING,
                asl.catch(n.FAILED),
                "Someone may have stopped the model: do not feed a stopped model.",
            ),
            n.IS_MODEL_STILL_RUNNING: asl.choice(
                [
                    asl.when(
                        "$.model.current.status",
                        "StringEquals",
                        MODEL_READY,
                        n.RESET_MODEL_CHECK,
                    )
                ],
                n.MODEL_LOST,
            ),
            n.RESET_MODEL_CHECK: asl.pass_state(
                n.WAIT_FOR_QUEUE,
                parameters={
                    "polls.$": "$.drain.polls",
                    "zeroStreak.$": "$.drain.zeroStreak",
                    "sinceCheck": 0,
                },
                result_path="$.drain",
            ),
            n.MODEL_LOST: asl.set_error(
                ERROR_MODEL_STOPPED,
                n.FAILED,
                "Model version {} became {} while draining: someone else stopped it. "
                "The mapping is disabled; {} messages stay queued for the next run.",
                "$.config.projectVersionArn",
                "$.model.current.status",
                "$.queue.total",
            ),
        },
        _run_end(n.DRAINED, n.DRAINED_OUTCOME, OUTCOME_DRAINED),
        _run_end(n.MAX_RUN_REACHED, n.MAX_RUN_REACHED_OUTCOME, OUTCOME_MAX_RUN),
    )
