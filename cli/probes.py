"""Probes of the interpreter constructs the workflow must not depend on.

infra/statemachine/portability.py lists the constructs on which AWS's
documentation is silent or the emulators disagree, each with a minimal example
state. ``rekbatch doctor`` runs each example that changes nothing (Pass,
Choice, Fail, Succeed, or a read-only aws-sdk Task) with TestState on the
account and compares AWS's answer with the one moto's interpreter gives
(``EMULATOR_ANSWERS``, recorded here and kept true by
tests/cli/test_doctor.py, which runs the probes on the emulator): a difference
is a WARN that prints what AWS answered, so the list stays true.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .aslwalk import READ_ONLY, SDK_PREFIX
from .checkrows import NOT_CHECKABLE, PASS, WARN, Row, aws_failure

PORTABILITY_MODULE = "infra.statemachine.portability"
SIDE_EFFECT_FREE = {"Pass", "Choice", "Fail", "Succeed"}

# What moto 5.2.5's interpreter (with the emulator's shims) answers for each
# runnable example of the portability list (status, error, output), by rule code.
EMULATOR_ANSWERS: dict[str, dict[str, Any]] = {
    # States.ArrayLength($.items[*].id) over one item: moto keeps a one-element list.
    "wildcard-path": {"status": "SUCCEEDED", "output": {"n": 1}},
    # A Fail whose ErrorPath resolves to States.TaskFailed: moto refuses the name.
    "fail-states-error": {"status": "FAILED", "error": "States.Runtime"},
    # GetQueueAttributes on a queue that does not exist: the SDK's PascalCase prefix.
    "one-error-spelling": {"status": "FAILED", "error": "Sqs.QueueDoesNotExistException"},
}


def rules() -> tuple[Any, ...]:
    """The portability list (empty when this version of the project has none)."""
    try:
        module = importlib.import_module(PORTABILITY_MODULE)
    except ImportError:
        return ()
    return tuple(getattr(module, "RULES", ()))


def runnable(state: Mapping[str, Any]) -> bool:
    """Whether running the example with TestState can change nothing."""
    if state.get("Type") in SIDE_EFFECT_FREE:
        return True
    resource = str(state.get("Resource", ""))
    if state.get("Type") == "Task" and resource.startswith(SDK_PREFIX):
        service, _, action = resource[len(SDK_PREFIX) :].partition(":")
        return (service, action) in READ_ONLY
    return False


def answer_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable part of a TestState answer."""
    output = raw.get("output")
    try:
        parsed = json.loads(output) if isinstance(output, str) else output
    except ValueError:
        parsed = output
    found: dict[str, Any] = {"status": raw.get("status")}
    if raw.get("error"):
        found["error"] = raw.get("error")
    if parsed is not None:
        found["output"] = parsed
    return found


def run_probe(sfn: Any, role_arn: str, example: Mapping[str, Any]) -> dict[str, Any]:
    state = dict(example["state"])
    raw = sfn.test_state(
        definition=json.dumps(state),
        roleArn=role_arn,
        input=json.dumps(example.get("input") or {}),
        inspectionLevel="DEBUG",
    )
    return answer_of(raw)


def probe_rows(aws: Any, role_arn: str) -> list[Row]:
    found = rules()
    if not found:
        return [
            Row(
                "interpreter probes",
                NOT_CHECKABLE,
                f"no portability list ({PORTABILITY_MODULE}) in this version",
                "update the project",
            )
        ]
    sfn = aws.client("stepfunctions")
    rows = []
    for rule in found:
        check = f"probe {rule.code}"
        example = getattr(rule, "example", None) or {}
        if "state" not in example:
            rows.append(Row(check, NOT_CHECKABLE, "the rule has no example state", ""))
            continue
        if not runnable(example["state"]):
            rows.append(Row(check, NOT_CHECKABLE, "its example changes something: not run", ""))
            continue
        try:
            answer = run_probe(sfn, role_arn, example)
        except (ClientError, BotoCoreError) as exc:
            rows.append(Row(check, NOT_CHECKABLE, aws_failure(exc, "TestState"), ""))
            continue
        expected = EMULATOR_ANSWERS.get(rule.code)
        said = json.dumps(answer, sort_keys=True)
        if expected is None:
            rows.append(
                Row(
                    check,
                    WARN,
                    f"AWS answered {said}; no emulator answer recorded",
                    f"record it in cli/probes.py EMULATOR_ANSWERS ({rule.construct})",
                )
            )
        elif answer == expected:
            rows.append(Row(check, PASS, f"AWS answers as moto: {said}"))
        else:
            rows.append(
                Row(
                    check,
                    WARN,
                    f"AWS answered {said}; moto answers {json.dumps(expected, sort_keys=True)}",
                    f"the definition must not use {rule.construct}; keep "
                    f"{PORTABILITY_MODULE} true to this answer",
                )
            )
    return rows
