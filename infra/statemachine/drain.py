"""Enable the mapping and poll the queue until it is drained.

Polls adapt to the backlog left: the drain waits w seconds (poll_interval
halving down to fast_poll) only while what is left would take longer than
that at the planned throughput (see plan.DRAIN_MARGIN), so long backlogs cost
few transitions and the end of the work is noticed within seconds. An empty
queue (visible + in flight + delayed, so never while messages are in flight)
is confirmed by a second poll after confirm_seconds, since SQS counts are
approximate. The run also ends at max_run_seconds of drain waits, at the poll
budget that keeps the execution below Step Functions' history limit, or when
the model is found no longer RUNNING (checked every model_check_seconds).
"""

from __future__ import annotations

from infra.contract import OUTCOME_DRAINED, OUTCOME_MAX_RUN
from infra.statemachine import asl, cleanup
from infra.statemachine import names as n
from infra.statemachine.errors import ERROR_MODEL_STOPPED, MODEL_RUNNING
from infra.statemachine.params import WorkflowParams
from infra.statemachine.tasks import (
    STATUS,
    describe_model,
    enable_mapping,
    model_is,
    queue_counts,
)

ENTRY = n.ENABLE_MAPPING


def _count_poll(wait: int, next_state: str = n.WAIT_FOR_QUEUE) -> asl.State:
    """Count a poll and the wait after it: polls (the history budget), seconds
    (the run deadline and the model check) and the wait's model cost."""
    return asl.pass_state(
        next_state,
        parameters={
            "polls.$": "States.MathAdd($.drain.polls, 1)",
            "sinceCheck.$": f"States.MathAdd($.drain.sinceCheck, {wait})",
            "elapsed.$": f"States.MathAdd($.drain.elapsed, {wait})",
            "cost.$": f"States.MathAdd($.drain.cost, $.plan.cost.w{wait})",
            "wait": wait,
        },
        result_path="$.drain",
    )


def _run_end(name: str, outcome_state: str, outcome: str) -> asl.States:
    # A Pass writes one place: the drain end time, then the outcome.
    return {
        name: asl.timestamp(outcome_state, "$.drainEnd"),
        outcome_state: asl.set_outcome(outcome, cleanup.ENTRY),
    }


def states(p: WorkflowParams) -> asl.States:
    waits = p.drain_waits()
    by_backlog = [
        asl.when(
            "$.queue.total",
            "NumericGreaterThanPath",
            f"$.plan.drainAbove.w{wait}",
            n.count_poll(wait),
        )
        for wait in waits[:-1]
    ]
    return asl.merge(
        {
            n.ENABLE_MAPPING: enable_mapping(
                p,
                result_path="$.mapping.enabled",
                next_state=n.POLL_QUEUE,
                catch=asl.catch(cleanup.ON_ERROR),
                comment="Let the inference Lambda consume the queue at the planned concurrency.",
            ),
            n.POLL_QUEUE: queue_counts(
                p,
                next_state=n.DRAIN_DECISION,
                result_path="$.queue",
                catch=asl.catch(cleanup.ON_ERROR),
                comment="Drain check: all three counts, in-flight messages included.",
            ),
            n.DRAIN_DECISION: asl.choice(
                [
                    # The deadlines first: every loop of the drain passes here, so
                    # no queue (not even one that empties and fills again on every
                    # confirmation) can keep a run past them.
                    asl.when(
                        "$.drain.elapsed",
                        "NumericGreaterThanEquals",
                        p.max_run_seconds,
                        n.MAX_RUN_REACHED,
                    ),
                    # Step Functions' history limit: end cleanly long before it.
                    asl.when(
                        "$.drain.polls",
                        "NumericGreaterThanEquals",
                        p.max_drain_polls,
                        n.MAX_RUN_REACHED,
                    ),
                    asl.when("$.queue.total", "NumericEquals", 0, n.COUNT_CONFIRMATION),
                    asl.when(
                        "$.drain.sinceCheck",
                        "NumericGreaterThanEquals",
                        p.model_check_seconds,
                        n.CHECK_MODEL,
                    ),
                    *by_backlog,
                ],
                default=n.count_poll(waits[-1]),
                comment="Wait long only while the backlog left would outlast the wait.",
            ),
        },
        {n.count_poll(wait): _count_poll(wait) for wait in waits},
        {
            n.COUNT_CONFIRMATION: _count_poll(p.confirm_seconds, n.WAIT_TO_CONFIRM_DRAIN),
            n.WAIT_FOR_QUEUE: asl.wait(seconds_path="$.drain.wait", next_state=n.POLL_QUEUE),
            n.WAIT_TO_CONFIRM_DRAIN: asl.wait(
                seconds=p.confirm_seconds,
                next_state=n.CONFIRM_DRAIN,
                comment="SQS counts are approximate: an empty queue is confirmed once more.",
            ),
            n.CONFIRM_DRAIN: queue_counts(
                p,
                next_state=n.IS_STILL_EMPTY,
                result_path="$.queue",
                catch=asl.catch(cleanup.ON_ERROR),
                comment="The poll that confirms the drain.",
            ),
            n.IS_STILL_EMPTY: asl.choice(
                [asl.when("$.queue.total", "NumericEquals", 0, n.DRAINED)],
                default=n.count_poll(waits[-1]),
            ),
        },
        describe_model(
            p,
            n.CHECK_MODEL,
            next_state=n.IS_MODEL_STILL_RUNNING,
            catch=asl.catch(cleanup.ON_ERROR),
            comment="Someone may have stopped the model: do not feed a stopped model.",
        ),
        {
            n.IS_MODEL_STILL_RUNNING: asl.choice(
                [asl.rule(model_is(MODEL_RUNNING), n.RESET_MODEL_CHECK)],
                default=n.MODEL_LOST,
            ),
            n.RESET_MODEL_CHECK: asl.pass_state(
                n.DRAIN_DECISION,
                parameters={
                    "polls.$": "$.drain.polls",
                    "sinceCheck": 0,
                    "elapsed.$": "$.drain.elapsed",
                    "cost.$": "$.drain.cost",
                    "wait.$": "$.drain.wait",
                },
                result_path="$.drain",
            ),
            n.MODEL_LOST: asl.set_error(
                ERROR_MODEL_STOPPED,
                cleanup.ON_ERROR,
                "Model version {} became {} while draining: someone else stopped it. "
                "The mapping is disabled; {} messages stay queued for the next run.",
                "$.config.projectVersionArn",
                STATUS,
                "$.queue.total",
            ),
        },
        _run_end(n.DRAINED, n.DRAINED_OUTCOME, OUTCOME_DRAINED),
        _run_end(n.MAX_RUN_REACHED, n.MAX_RUN_REACHED_OUTCOME, OUTCOME_MAX_RUN),
    )
