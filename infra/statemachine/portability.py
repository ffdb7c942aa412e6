"""Constructs on which AWS Step Functions and the emulators may disagree.

The definition is run on moto's interpreter (the tests), on LocalStack's, and
on AWS. Where AWS's documentation is silent and two of them behave
differently, a definition that depends on either behaviour is fragile, so the
definition avoids the construct altogether. Each :class:`Rule` names one such
construct, why it is refused (who disagrees), how the definition is written
instead, and a minimal state that shows it (for probing AWS itself, e.g. with
the TestState API). :func:`check` lists every use in a rendered definition,
naming the state; the tests run it over every variant.

Pure data and functions: no pulumi, no AWS calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.statemachine.errors import SERVICE_ERROR_PREFIXES

State = Mapping[str, Any]

# Fields whose string value is a path (besides the `<key>.$` fields and the
# Choice comparisons ending in "Path").
PATH_FIELDS = frozenset(
    {
        "Variable",
        "InputPath",
        "OutputPath",
        "ResultPath",
        "ItemsPath",
        "ErrorPath",
        "CausePath",
        "SecondsPath",
        "TimestampPath",
    }
)
# Indefinite JSONPath: wildcards, recursive descent, filters, slices, unions.
_INDEFINITE = re.compile(r"\[\s*\*\s*\]|\.\*|\.\.|\[\s*\?|\[[^\]]*:[^\]]*\]|\[[^\]]*,[^\]]*\]")
# Intrinsics whose result is a string (a putObject Body built with one is a string).
_STRING_INTRINSICS = (
    "States.Format(",
    "States.JsonToString(",
    "States.Base64Encode(",
    "States.Base64Decode(",
    "States.Hash(",
    "States.UUID(",
)
_SDK = "arn:aws:states:::aws-sdk:"


@dataclass(frozen=True)
class Rule:
    """One construct the definition does not use."""

    code: str
    construct: str  # what is refused
    why: str  # who disagrees, and what AWS documents
    instead: str  # how the definition is written so it does not matter
    find: Callable[[str, State], Iterator[str]]  # (state name, state) -> details
    # A minimal state (and its input) using the construct: what to ask AWS.
    example: Mapping[str, Any] = field(default_factory=dict)


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, string) pair inside a state's fields, nested ones too."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if k in ("States", "Branches", "Iterator", "ItemProcessor"):
                continue  # nested machines are checked as states of their own
            yield from _strings(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)


def _is_path_field(key: str) -> bool:
    return key.endswith(".$") or key in PATH_FIELDS or key.endswith("Path")


def _wildcard_paths(name: str, state: State) -> Iterator[str]:
    for key, value in _strings(state):
        is_path = _is_path_field(key) and value.startswith(("$", "States."))
        if is_path and _INDEFINITE.search(value):
            yield f"{key}: {value}"


def _string_bodies(name: str, state: State) -> Iterator[str]:
    if state.get("Type") != "Task" or state.get("Resource") != _SDK + "s3:putObject":
        return
    parameters = state.get("Parameters") or {}
    if isinstance(parameters.get("Body"), str):
        yield f"Body: {parameters['Body']!r}"
    body_path = parameters.get("Body.$")
    if isinstance(body_path, str) and body_path.startswith(_STRING_INTRINSICS):
        yield f"Body.$: {body_path}"


def _fail_errors(name: str, state: State) -> Iterator[str]:
    if state.get("Type") != "Fail":
        return
    if "ErrorPath" in state:
        yield f"ErrorPath: {state['ErrorPath']} (may carry a caught States.* error)"
    error = state.get("Error")
    if isinstance(error, str) and error.startswith("States."):
        yield f"Error: {error}"


def _spellings(error: str) -> set[str] | None:
    """Every spelling in use of an SDK error name; None if its prefix is unknown."""
    prefix, _, rest = error.partition(".")
    for spellings in SERVICE_ERROR_PREFIXES.values():
        if prefix in spellings:
            base = rest.removesuffix("Exception") == prefix
            return {f"{p}.{p}Exception" if base else f"{p}.{rest}" for p in spellings}
    return None


def _one_spelling(name: str, state: State) -> Iterator[str]:
    for kind in ("Retry", "Catch"):
        for index, rule in enumerate(state.get(kind) or ()):
            names = set(rule.get("ErrorEquals") or ())
            for error in sorted(names):
                if error.startswith("States."):
                    continue
                wanted = _spellings(error)
                if wanted is None:
                    yield f"{kind}[{index}]: {error} (a service prefix with no known spellings)"
                elif not wanted <= names:
                    missing = ", ".join(sorted(wanted - names))
                    yield f"{kind}[{index}]: {error} without {missing}"


RULES: tuple[Rule, ...] = (
    Rule(
        code="s3-string-body",
        construct="a string Body in an aws-sdk s3:putObject task",
        why=(
            "AWS serializes the blob Body as JSON: a string is stored as a JSON string "
            "literal, quotes and escapes included (LocalStack's parity snapshots, recorded "
            "against AWS); moto 5.2.5 stores the string raw and fails on an object Body"
        ),
        instead="pass the object itself (`Body.$: $.summary`): AWS stores it as compact JSON",
        find=_string_bodies,
        example={
            "state": {
                "Type": "Task",
                "Resource": _SDK + "s3:putObject",
                "Parameters": {"Bucket": "<bucket>", "Key": "probe.json", "Body": "text data"},
                "End": True,
            },
            "input": {},
        },
    ),
    Rule(
        code="wildcard-path",
        construct="an indefinite path ([*], .., filters, slices) feeding a field",
        why=(
            "a wildcard that matches one element yields the bare value in LocalStack and a "
            "one-element list in moto (getmoto/moto#7825); AWS does not document it, and an "
            "intrinsic given the wrong type fails with States.Runtime"
        ),
        instead=(
            "whole-array functions (States.ArrayLength($.X)), States.ArrayGetItem($.X, i) "
            "behind a Choice that proves the length, then definite paths"
        ),
        find=_wildcard_paths,
        example={
            "state": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.ArrayLength($.items[*].id)"},
                "End": True,
            },
            "input": {"items": [{"id": "one"}]},
        },
    ),
    Rule(
        code="fail-states-error",
        construct="a Fail state whose error is, or may resolve to, States.*",
        why=(
            "a Fail may not raise a States.* error: AWS documents the prefix as reserved, and "
            "moto and LocalStack end such an execution with States.Runtime, losing the cause"
        ),
        instead="the project's own error name, the original error and cause in the Cause",
        find=_fail_errors,
        example={
            "state": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
            "input": {"error": {"Error": "States.TaskFailed", "Cause": "probe"}},
        },
    ),
    Rule(
        code="one-error-spelling",
        construct="a service error prefix spelt one way only in Retry/Catch",
        why=(
            "AWS documents ServiceName.ErrorName in PascalCase (its SDK's service name: "
            "Sqs, Sns) but not every service's casing; LocalStack uses botocore's service "
            "id (SQS, SNS); moto lower-cases it (the emulator's shims give it the SDK's)"
        ),
        instead="every spelling in use (errors.SERVICE_ERROR_PREFIXES, errors.sdk_errors)",
        find=_one_spelling,
        example={
            "state": {
                "Type": "Task",
                "Resource": _SDK + "sqs:getQueueAttributes",
                "Parameters": {
                    "QueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/no-such-queue",
                    "AttributeNames": ["All"],
                },
                "End": True,
            },
            "input": {},
        },
    ),
)


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, State]]:
    """Every state, those of nested machines (Map, Parallel) too."""
    for name, state in (definition.get("States") or {}).items():
        yield name, state
        for nested in (state.get("Iterator"), state.get("ItemProcessor")):
            if isinstance(nested, Mapping):
                yield from _states(nested)
        for branch in state.get("Branches") or ():
            yield from _states(branch)


def check(definition: Mapping[str, Any], rules: tuple[Rule, ...] = RULES) -> list[str]:
    """Every use of a refused construct: "<state>: <code>: <detail> (<why>)"."""
    found: list[str] = []
    for name, state in _states(definition):
        for rule in rules:
            for detail in rule.find(name, state):
                found.append(f"{name}: {rule.code}: {detail} ({rule.construct}: {rule.why})")
    return found
