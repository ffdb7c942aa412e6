"""Count the backlog, see the model as found, and decide whether
there is work: nothing to do ends the run without touching the model (with
exclusive ownership a model found RUNNING is stopped anyway: the safety net)."""

from __future__ import annotations

from typing import Any

from infra.contract import OUTCOME_NOTHING_TO_DO
from infra.statemachine import asl, cleanup, model, peek, plan, summary
from infra.statemachine import names as n
from infra.statemachine.errors import MODEL_RUNNING
from infra.statemachine.params import OWNERSHIP_EXCLUSIVE, WorkflowParams
from infra.statemachine.tasks import STATUS, UNITS, describe_model, model_is, queue_counts

ENTRY = n.GET_BACKLOG


def states(p: WorkflowParams) -> asl.States:
    peeking = bool(p.test_event_peek_max)
    exclusive = p.ownership == OWNERSHIP_EXCLUSIVE
    empty_next = n.IDLE_MODEL_RUNNING if exclusive else n.NOTHING_TO_DO

    choices: list[dict[str, Any]] = [asl.when("$.backlog.total", "NumericEquals", 0, empty_next)]
    after_peek: asl.States = {}
    if peeking:
        choices.append(asl.when("$.peek.dropped", "NumericGreaterThan", 0, n.IS_ONLY_TEST_EVENTS))
        after_peek[n.IS_ONLY_TEST_EVENTS] = asl.choice(
            [
                asl.rule(
                    asl.any_of(
                        asl.cond("$.peek.recount.total", "NumericEquals", 0),
                        # every message counted was a dropped test event, and
                        # the peek kept nothing (no image arrived meanwhile)
                        asl.all_of(
                            asl.cond(
                                "$.backlog.total", "NumericLessThanEqualsPath", "$.peek.dropped"
                            ),
                            asl.cond("$.peek.peeked", "NumericEqualsPath", "$.peek.dropped"),
                        ),
                    ),
                    empty_next,
                )
            ],
            default=plan.ENTRY,
            comment=(
                "Only test events? The recount says so, or (SQS counts lag behind "
                "deletes by up to a minute) every message counted was dropped."
            ),
        )
    safety_net: asl.States = {}
    if exclusive:
        # Safety net: with exclusive ownership, a RUNNING model with nothing to do
        # is always stopped, whoever left it running.
        safety_net = {
            n.IDLE_MODEL_RUNNING: asl.choice(
                [asl.rule(model_is(MODEL_RUNNING), n.STOP_IDLE_MODEL)],
                default=n.NOTHING_TO_DO,
            ),
            n.STOP_IDLE_MODEL: asl.set_outcome(OUTCOME_NOTHING_TO_DO, cleanup.ENTRY),
        }
    return asl.merge(
        {
            n.GET_BACKLOG: queue_counts(
                p,
                next_state=n.DESCRIBE_MODEL_FOUND,
                result_path="$.backlog",
                catch=asl.catch(cleanup.ON_ERROR),
                comment="Backlog = visible + in flight + delayed messages.",
            ),
        },
        describe_model(
            p,
            n.DESCRIBE_MODEL_FOUND,
            next_state=n.MODEL_VERSION_FOUND,
            catch=asl.catch(cleanup.ON_ERROR),
            comment="The model status as this run found it.",
        ),
        {
            n.MODEL_VERSION_FOUND: asl.choice(
                [asl.when("$.model.current.count", "NumericEquals", 0, model.VERSION_NOT_FOUND)],
                default=n.RECORD_MODEL_FOUND,
                comment="A version that is gone fails the run (after cleanup and a summary).",
            ),
            n.RECORD_MODEL_FOUND: asl.pass_state(
                n.PEEK_WORTH_IT if peeking else n.HAS_BACKLOG,
                parameters={
                    "found.$": STATUS,
                    "unitsFound.$": UNITS,
                    "current.$": "$.model.current",
                },
                result_path="$.model",
            ),
        },
        peek.states(p),
        after_peek,
        {n.HAS_BACKLOG: asl.choice(choices, default=plan.ENTRY)},
        safety_net,
        {n.NOTHING_TO_DO: asl.set_outcome(OUTCOME_NOTHING_TO_DO, summary.ENTRY)},
    )
