"""The run-end message reads as a person would write it: the cost in USD with four
decimals, and an error line only when the run has an error. The wording states
(infra/statemachine/notify.py) run in the emulator on chosen notices."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from infra.statemachine import build_definition, names
from infra.statemachine.errors import ERROR_MODEL_UNUSABLE
from infra.statemachine.params import MAX_RUN_COST_UNITS
from tests.workflow.test_definition import params

TOPIC = "arn:aws:sns:eu-west-1:111122223333:rekbatch-runs"


def words(aws: Any, notice: dict[str, Any]) -> str:
    """$.noticeText.text after the wording states, for this $.notice."""
    sm = build_definition(params(notification_topic_arn=TOPIC))["States"]
    wording = {
        name: dict(state)
        for name, state in sm.items()
        if state["Type"] in ("Pass", "Choice")
        and name in _reachable(sm, names.START_COST_WORDS, stop=names.PUBLISH_NOTICE)
    }
    for state in wording.values():
        if state.get("Next") == names.PUBLISH_NOTICE:
            state["Next"] = "Done"
    definition = {
        "StartAt": names.START_COST_WORDS,
        "States": {**wording, "Done": {"Type": "Succeed"}},
    }
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"words{time.monotonic_ns()}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
    )["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"notice": notice}))
    deadline = time.monotonic() + 30
    desc = sfn.describe_execution(executionArn=run["executionArn"])
    while desc["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
        desc = sfn.describe_execution(executionArn=run["executionArn"])
    assert desc["status"] == "SUCCEEDED", desc
    return str(json.loads(desc["output"])["noticeText"]["text"])


def _reachable(sm: dict[str, Any], start: str, stop: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name == stop:
            continue
        seen.add(name)
        state = sm[name]
        todo += [state[k] for k in ("Next", "Default") if k in state]
        todo += [c["Next"] for c in state.get("Choices", ())]
    return seen


def notice(cost: int, error: Any = None) -> dict[str, Any]:
    return {
        "executionName": "run-1",
        "outcome": "drained" if error is None else "failed",
        "error": error,
        "imagesAtStart": 12,
        "leftInQueue": 0,
        "inferenceUnits": 1,
        "drainSeconds": 80,
        "drainCostUsdE4": cost,
        "summary": "s3://final/runs/run-1.json",
        "console": "https://console",
    }


@pytest.mark.parametrize(
    ("cost", "usd"),
    [
        (0, "0.0000"),
        (88, "0.0088"),
        (1_234, "0.1234"),
        (10_000, "1.0000"),
        (1_234_507, "123.4507"),
        (MAX_RUN_COST_UNITS, "214748.3647"),
    ],
)
def test_the_cost_reads_in_usd(aws: Any, cost: int, usd: str) -> None:
    text = words(aws, notice(cost))
    assert f"cost about {usd} USD (estimate" in text


def test_a_run_without_error_has_no_error_line(aws: Any) -> None:
    text = words(aws, notice(88))
    assert text.startswith("Run run-1 ended: drained. Messages queued at the start: 12;")
    assert "Error" not in text and "null" not in text
    assert text.endswith("Summary: s3://final/runs/run-1.json. Console: https://console")


def test_a_failed_run_says_its_error(aws: Any) -> None:
    error = {"Error": ERROR_MODEL_UNUSABLE, "Cause": "TRAINING_FAILED"}
    text = words(aws, notice(88, error))
    assert "Error: " in text and ERROR_MODEL_UNUSABLE in text and "TRAINING_FAILED" in text


def test_the_cost_wording_fits_the_history_budget() -> None:
    from infra.statemachine.notify import E4_PER_USD, MAX_WHOLE_USD_ROUNDS
    from infra.statemachine.params import FIXED_EVENTS

    most_usd = MAX_RUN_COST_UNITS // E4_PER_USD
    assert max(sum(map(int, str(usd))) for usd in range(most_usd + 1)) == MAX_WHOLE_USD_ROUNDS
    sm = build_definition(params(notification_topic_arn=TOPIC))["States"]
    once = sum(5 if state["Type"] == "Task" else 2 for state in sm.values())
    assert once + 4 * MAX_WHOLE_USD_ROUNDS <= FIXED_EVENTS
