"""No path in the definition can fail on a response AWS may legally return.

On AWS a path that fails to resolve in a ResultSelector or Parameters, or a
Choice on a missing variable, is States.Runtime: no Catch catches it, so the
run would end without cleanup or summary. Proven on the definition itself:
every ResultSelector is evaluated against the leanest legal response of its
API (empty lists, optional fields absent), every States.ArrayGetItem is only
reachable behind a Choice that proves its list non-empty, and every Choice
variable is one the run has written before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from infra.statemachine import OWNERSHIP_SHARED, build_definition
from tests.workflow.test_definition import params, predecessors, states

# The leanest responses AWS may return for the calls the workflow makes (per the
# botocore service models nothing in an output shape is required; these keep only
# what the service always sends).
LEGAL_RESPONSES: dict[str, list[dict[str, Any]]] = {
    "rekognition:describeProjectVersions": [
        {"ProjectVersionDescriptions": []},
        {"ProjectVersionDescriptions": [{"Status": "RUNNING"}]},
        {
            "ProjectVersionDescriptions": [
                {"Status": "FAILED", "StatusMessage": "m", "MinInferenceUnits": 2}
            ]
        },
    ],
    "rekognition:startProjectVersion": [{"Status": "STARTING"}],
    "rekognition:stopProjectVersion": [{"Status": "STOPPING"}],
    "lambda:updateEventSourceMapping": [{"State": "Enabling"}],
    "lambda:getEventSourceMapping": [{"State": "Disabled"}],
    "sqs:getQueueAttributes": [
        {
            "Attributes": {
                "ApproximateNumberOfMessages": "0",
                "ApproximateNumberOfMessagesNotVisible": "0",
                "ApproximateNumberOfMessagesDelayed": "0",
            }
        }
    ],
    "sfn:listExecutions": [{"Executions": []}, {"Executions": [{"ExecutionArn": "a"}]}],
    "s3:putObject": [{"ETag": '"e"'}],
    "sns:publish": [{"MessageId": "m"}],
    "eventbridge:putEvents": [{"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}],
}

VARIANTS = [
    params(),
    params(ownership=OWNERSHIP_SHARED, min_inference_units=2, max_inference_units=4),
    params(test_event_peek_max=0, target_run_minutes=30),
    params(
        notification_topic_arn="arn:aws:sns:eu-west-1:111122223333:t",
        event_bus_arn="arn:aws:events:eu-west-1:111122223333:event-bus/default",
    ),
]


class PathMissing(Exception):
    pass


def _lookup(document: Any, path: str) -> Any:
    """JSONPath subset the definition uses: $.a.b and $.a[*].b (wildcards yield [])."""
    if path.startswith("$$."):
        return "context"
    parts = path.removeprefix("$").lstrip(".").split(".") if path != "$" else []
    values: list[Any] = [document]
    wildcard = False
    for part in parts:
        key, star = (part[:-3], True) if part.endswith("[*]") else (part, False)
        found = []
        for value in values:
            if not isinstance(value, dict) or key not in value:
                if wildcard:
                    continue
                raise PathMissing(path)
            found.append(value[key])
        values = found
        if star:
            values = [item for value in values for item in value]
            wildcard = True
    return values if wildcard else values[0]


_CALL = re.compile(r"^(States\.\w+)\((.*)\)$")


def _split_args(text: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char in "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            yield text[start:i].strip()
            start = i + 1
    if text.strip():
        yield text[start:].strip()


def evaluate(expression: str, document: Any) -> Any:
    """Evaluate a path or intrinsic call; raises PathMissing where AWS would fail."""
    if expression.startswith("'"):
        return expression.strip("'")
    if re.fullmatch(r"-?\d+(\.\d+)?", expression):
        return float(expression)
    call = _CALL.match(expression)
    if call is None:
        return _lookup(document, expression)
    name, args = call[1], [evaluate(a, document) for a in _split_args(call[2])]
    if name == "States.ArrayGetItem":
        items, index = args
        if not isinstance(items, list) or not 0 <= int(index) < len(items):
            raise PathMissing(f"{expression}: index {index} of {items!r}")
        return items[int(index)]
    if name == "States.ArrayLength":
        return len(args[0])
    if name == "States.ArrayContains":
        return args[1] in args[0]
    if name == "States.StringToJson":
        return float(args[0]) if str(args[0]).isdigit() else args[0]
    if name == "States.MathAdd":
        return args[0] + args[1]
    if name in ("States.JsonToString", "States.Format"):
        return "text"
    raise AssertionError(f"the test does not know {name}")


def _selected(template: Any) -> Iterator[str]:
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                yield value
            else:
                yield from _selected(value)


@pytest.mark.parametrize("variant", range(len(VARIANTS)))
def test_every_result_selector_survives_every_legal_response(variant: int) -> None:
    sm = states(build_definition(VARIANTS[variant]))
    checked = 0
    for name, state in sm.items():
        if state["Type"] != "Task" or "ResultSelector" not in state:
            continue
        api = state["Resource"].removeprefix("arn:aws:states:::aws-sdk:")
        assert api in LEGAL_RESPONSES, f"{name}: add {api}'s legal responses to this test"
        for response in LEGAL_RESPONSES[api]:
            for expression in _selected(state["ResultSelector"]):
                try:
                    evaluate(expression, response)
                except PathMissing as missing:
                    pytest.fail(f"{name}: {expression} fails on {response}: {missing}")
                checked += 1
    assert checked > 30


def test_the_evaluator_catches_an_unguarded_index() -> None:
    """The check above can fail: indexing a list AWS may return empty does."""
    with pytest.raises(PathMissing):
        evaluate(
            "States.ArrayGetItem($.ProjectVersionDescriptions[*].Status, 0)",
            {"ProjectVersionDescriptions": []},
        )
    with pytest.raises(PathMissing):
        evaluate("$.ProjectVersionDescriptions", {})


# The Choice rules that prove a list non-empty before a state indexes it.
GUARDS = {
    "$.model.current.versions": "$.model.current.count",
    "$.guard.executions": "$.guard.count",
    "$.peekWork.received.Messages": "$.peekWork.loop.index",
}
# What an item taken with States.ArrayGetItem always holds, so a Choice may read
# it: ExecutionListItem's executionArn is required in botocore's model; SQS's
# Message marks nothing required, but a received message always has its Body
# and ReceiptHandle (DeleteMessage could not work without one).
ITEM_FIELDS = {
    "$.guard.oldest": ("ExecutionArn",),
    "$.peekWork.item.message": ("Body", "ReceiptHandle"),
}
_INDEXED = re.compile(r"States\.ArrayGetItem\((\$[\w.\[\]*]+)")


def _proves(rule: dict[str, Any], guard: str) -> bool:
    """Does reaching this rule's Next imply the guard holds?"""
    tests = rule.get("And", [rule])
    return any(
        t.get("Variable") == guard
        and (t.get("NumericGreaterThan") == 0 or "NumericLessThanPath" in t)
        for t in tests
    )


def _rules_out(rule: dict[str, Any], guard: str) -> bool:
    """Does this rule send every run where the guard fails elsewhere?"""
    return rule.get("Variable") == guard and rule.get("NumericEquals") == 0


def _guarded(choice: dict[str, Any], target: str, guard: str) -> bool:
    rules = choice["Choices"]
    for index, rule in enumerate(rules):
        if rule["Next"] == target and not (
            _proves(rule, guard) or any(_rules_out(r, guard) for r in rules[:index])
        ):
            return False
    if choice.get("Default") == target:
        return any(_rules_out(r, guard) for r in rules)
    return True


@pytest.mark.parametrize("variant", range(len(VARIANTS)))
def test_every_array_index_is_behind_a_choice_that_proves_the_list_non_empty(
    variant: int,
) -> None:
    sm = states(build_definition(VARIANTS[variant]))
    indexed = 0
    for name, state in sm.items():
        text = str(state.get("Parameters", ""))
        for array in _INDEXED.findall(text):
            assert array in GUARDS, f"{name} indexes {array}: add its guard to GUARDS"
            for before in predecessors(sm, name):
                assert sm[before]["Type"] == "Choice", f"{name} is reached from {before}"
                assert _guarded(sm[before], name, GUARDS[array]), (
                    f"{before} may reach {name} with {array} empty"
                )
            indexed += 1
    assert indexed >= 5


def _written_paths(sm: dict[str, dict[str, Any]]) -> set[str]:
    """Every path a state may write: Init's document, and each ResultPath's keys."""
    written: set[str] = set()

    def walk(prefix: str, value: Any) -> None:
        written.add(prefix)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key.removesuffix('.$')}", item)

    for item, fields in ITEM_FIELDS.items():
        written.update(f"{item}.{field}" for field in fields)
    for state in sm.values():
        result_path = state.get("ResultPath")
        if result_path is None and state["Type"] == "Pass" and "Parameters" in state:
            result_path = "$"
        if not result_path:
            continue
        fields = ("ResultSelector",) if state["Type"] == "Task" else ("Parameters", "Result")
        for field in fields:
            if field in state:
                walk(result_path if result_path != "$" else "$", state[field])
    return written


def _variables(rule: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    for key in ("And", "Or"):
        for nested in rule.get(key, []):
            yield from _variables(nested)
    if "Not" in rule:
        yield from _variables(rule["Not"])
    if "Variable" in rule:
        yield rule["Variable"], "IsPresent" in rule


@pytest.mark.parametrize("variant", range(len(VARIANTS)))
def test_every_choice_reads_a_variable_the_run_has_written(variant: int) -> None:
    sm = states(build_definition(VARIANTS[variant]))
    written = _written_paths(sm)
    for name, state in sm.items():
        for rule in state.get("Choices", []):
            for variable, presence_test in _variables(rule):
                if presence_test or _tested_present_before(sm, name, variable):
                    continue  # IsPresent is how a Choice may test a path that can miss
                assert variable in written, f"{name} reads {variable}, which nothing writes"


def _tested_present_before(sm: dict[str, dict[str, Any]], name: str, variable: str) -> bool:
    """Every way into this state is a rule that found the variable present."""
    entries = [
        rule
        for before in predecessors(sm, name)
        for rule in sm[before].get("Choices", [])
        if rule["Next"] == name
    ]
    sources = predecessors(sm, name)
    return (
        bool(entries)
        and all(sm[b]["Type"] == "Choice" for b in sources)
        and all(any(v == variable for v, _ in _variables(rule)) for rule in entries)
    )
