"""Reading a deployed state machine definition for ``rekbatch doctor``: pure,
no AWS and no state names.

The doctor never assumes what the states are called: it finds every Task of
the definition (nested Parallel branches and Map processors included), tells
from its ``Resource`` (``arn:aws:states:::aws-sdk:<service>:<action>``) what it
does, and derives the input the workflow gives it at that point from the
definition itself (:func:`input_at`): the schedule's input, then what each
state on a path to it writes at its ``ResultPath``.
"""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra.contract import SCHEDULE_INPUT

SDK_PREFIX = "arn:aws:states:::aws-sdk:"

KIND_READ = "read"  # only reads: executed with TestState
KIND_DISABLE = "disable-mapping"  # disables the mapping: executed when that changes nothing
KIND_CHANGE = "change"  # changes something: never executed
KIND_OTHER = "other"  # not an aws-sdk integration

# (service, action) as Step Functions spells them in the Resource.
READ_ONLY = frozenset(
    {
        ("sqs", "getQueueAttributes"),
        ("rekognition", "describeProjectVersions"),
        ("sfn", "listExecutions"),
        ("lambda", "getEventSourceMapping"),
    }
)

# The intrinsic functions, by the kind of value they give (a stand-in where the
# real value is only known at run time).
_INTRINSIC_PLACEHOLDERS: dict[str, Any] = {
    "States.ArrayLength": 0,
    "States.MathAdd": 0,
    "States.MathRandom": 0,
    "States.StringToJson": 0,
    "States.ArrayContains": False,
    "States.Array": [],
    "States.ArrayPartition": [],
    "States.ArrayRange": [],
    "States.ArrayUnique": [],
    "States.JsonMerge": {},
}
_JSON_PATH = re.compile(r"(?<![\w$])\$(?!\$)(?:\.[A-Za-z_][\w-]*|\[[^\]]*\])*")
_CONTEXT_PATH = re.compile(r"\$\$(?:\.[A-Za-z_][\w-]*)+")


@dataclass(frozen=True)
class TaskState:
    """One Task of the definition, where it sits and what it calls."""

    name: str
    parents: tuple[str, ...]  # enclosing Parallel/Map states, outermost first
    state: Mapping[str, Any]
    service: str  # "sqs" ("" when not an aws-sdk integration)
    action: str  # "getQueueAttributes"

    @property
    def label(self) -> str:
        return "/".join((*self.parents, self.name))

    @property
    def api(self) -> str:
        return f"{self.service}:{self.action}" if self.service else str(self.state.get("Resource"))

    @property
    def kind(self) -> str:
        if not self.service:
            return KIND_OTHER
        if (self.service, self.action) in READ_ONLY:
            return KIND_READ
        if is_disable_mapping(self):
            return KIND_DISABLE
        return KIND_CHANGE


def _sdk(resource: Any) -> tuple[str, str]:
    if not isinstance(resource, str) or not resource.startswith(SDK_PREFIX):
        return "", ""
    service, _, action = resource[len(SDK_PREFIX) :].partition(":")
    return service, action.split(".", 1)[0]  # ".waitForTaskToken" and friends


def _graphs(
    definition: Mapping[str, Any], parents: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """The definition and every nested graph (Parallel branch, Map processor)."""
    yield parents, definition
    for name, state in (definition.get("States") or {}).items():
        for branch in state.get("Branches") or []:
            yield from _graphs(branch, (*parents, name))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _graphs(processor, (*parents, name))


def task_states(definition: Mapping[str, Any]) -> list[TaskState]:
    """Every Task, in the order of the definition (nested graphs after their parent's)."""
    found = []
    for parents, graph in _graphs(definition):
        for name, state in (graph.get("States") or {}).items():
            if state.get("Type") == "Task":
                service, action = _sdk(state.get("Resource"))
                found.append(TaskState(name, parents, state, service, action))
    return found


def is_disable_mapping(task: TaskState) -> bool:
    """An UpdateEventSourceMapping that only sets Enabled to false (so executing it
    on a Disabled mapping changes nothing)."""
    if (task.service, task.action) != ("lambda", "updateEventSourceMapping"):
        return False
    params = task.state.get("Parameters") or {}
    keys = {key.lower() for key in params}
    return params.get("Enabled") is False and keys <= {"uuid", "enabled"}


def standalone(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state as TestState takes it: its own JSON, ``Next`` replaced by ``End``."""
    alone = copy.deepcopy(dict(state))
    if alone.pop("Next", None) is not None:
        alone["End"] = True
    return alone


# ----------------------------------------------------------------- context object


def context_values(
    *, state_machine_arn: str, role_arn: str, state_name: str, now_iso: str
) -> dict[str, Any]:
    """The context object (``$$``) of an execution the doctor stands in for.

    TestState (in the API version the pinned SDK knows) takes no context: the
    doctor writes the values a scheduled execution would see into the state.
    """
    machine_name = state_machine_arn.rsplit(":", 1)[-1]
    execution_arn = state_machine_arn.replace(":stateMachine:", ":execution:", 1)
    return {
        "$$.Execution.Id": f"{execution_arn}:rekbatch-doctor",
        "$$.Execution.Name": "rekbatch-doctor",
        "$$.Execution.StartTime": now_iso,
        "$$.Execution.RoleArn": role_arn,
        "$$.Execution.Input": dict(SCHEDULE_INPUT),
        "$$.StateMachine.Id": state_machine_arn,
        "$$.StateMachine.Name": machine_name,
        "$$.State.Name": state_name,
        "$$.State.EnteredTime": now_iso,
        "$$.State.RetryCount": 0,
    }


def _literal(value: Any) -> str:
    """A value as an intrinsic function argument."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return json.dumps(value)


def fill_context(value: Any, context: Mapping[str, Any], unknown: set[str]) -> Any:
    """``value`` (a state or a template) with every ``$$`` path it reads replaced
    by its value from ``context``; paths not in ``context`` are left and added to
    ``unknown``."""
    if isinstance(value, list):
        return [fill_context(item, context, unknown) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, str) and key.endswith(".$") and isinstance(item, str):
            if item in context:
                result[key[:-2]] = context[item]
                continue
            if item.startswith("States."):

                def replace(match: re.Match[str]) -> str:
                    if match.group(0) in context:
                        return _literal(context[match.group(0)])
                    unknown.add(match.group(0))
                    return match.group(0)

                result[key] = _CONTEXT_PATH.sub(replace, item)
                continue
            if item.startswith("$$"):
                unknown.add(item)
        result[key] = fill_context(item, context, unknown) if key != "Catch" else item
    return result


# ------------------------------------------------------------------- input shape


def json_paths(expression: str) -> list[str]:
    """The ``$``-rooted JSONPaths an expression reads (a path, or an intrinsic's
    arguments); context paths (``$$``) are not among them."""
    if expression.startswith("$$"):
        return []
    if expression.startswith("$") and not expression.startswith("$$"):
        return [expression]
    return [m.group(0) for m in _JSON_PATH.finditer(_strip_literals(expression))]


def _strip_literals(expression: str) -> str:
    return re.sub(r"'(?:\\.|[^'\\])*'", "''", expression)


def path_steps(path: str) -> list[str]:
    """``$.a.b[*].c`` -> ``["a", "b", "[*]", "c"]``."""
    steps: list[str] = []
    for name, bracket in re.findall(r"\.([A-Za-z_][\w-]*)|(\[[^\]]*\])", path[1:]):
        if name:
            steps.append(name)
        elif bracket.startswith("['") or bracket.startswith('["'):
            steps.append(bracket[2:-2])
        else:
            steps.append(bracket)
    return steps


def lookup(document: Any, path: str) -> Any:
    """A plain path in a document; ``None`` when it does not resolve."""
    value = document
    for step in path_steps(path):
        if step.startswith("["):
            if not isinstance(value, list):
                return None
            if step == "[*]":
                return value
            try:
                value = value[int(step[1:-1])]
            except (ValueError, IndexError):
                return None
        elif isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def evaluate_template(template: Any, document: Any) -> Any:
    """A Parameters/ResultSelector template applied to ``document``: paths are
    looked up, intrinsic functions give a stand-in of their kind (their real
    value is the interpreter's business: the doctor asks TestState for it)."""
    if isinstance(template, list):
        return [evaluate_template(item, document) for item in template]
    if not isinstance(template, dict):
        return template
    result: dict[str, Any] = {}
    for key, item in template.items():
        if isinstance(key, str) and key.endswith(".$") and isinstance(item, str):
            result[key[:-2]] = _expression_value(item, document)
        else:
            result[key] = evaluate_template(item, document)
    return result


def _expression_value(expression: str, document: Any) -> Any:
    if expression.startswith("$$"):
        return ""
    if expression.startswith("$"):
        found = lookup(document, expression)
        if found is None and "[*]" in expression:
            return []
        return copy.deepcopy(found)
    function = expression.split("(", 1)[0]
    arguments = [lookup(document, path) for path in json_paths(expression)]
    if function == "States.ArrayGetItem" and arguments and isinstance(arguments[0], list):
        # an item of the list where the document has one (the definition indexes
        # only behind a Choice that proves the list non-empty)
        return copy.deepcopy(arguments[0][0]) if arguments[0] else ""
    if function == "States.JsonMerge":
        merged: dict[str, Any] = {}
        for argument in arguments[:2]:
            if isinstance(argument, list) and argument:  # a nested ArrayGetItem's list
                argument = argument[0]
            merged.update(copy.deepcopy(argument) if isinstance(argument, dict) else {})
        return merged
    return copy.deepcopy(_INTRINSIC_PLACEHOLDERS.get(function, ""))


def set_path(document: Any, path: str | None, value: Any) -> Any:
    """``document`` with ``value`` at a ResultPath (``None``: discarded)."""
    if path is None:
        return document
    steps = path_steps(path)
    if not steps:
        return value
    root = document if isinstance(document, dict) else {}
    node = root
    for step in steps[:-1]:
        child = node.get(step)
        if not isinstance(child, dict):
            child = node[step] = {}
        node = child
    node[steps[-1]] = value
    return root


def _successors(state: Mapping[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [choice.get("Next") for choice in state.get("Choices") or []]
    found += [catcher.get("Next") for catcher in state.get("Catch") or []]
    return [name for name in found if isinstance(name, str)]


def _apply(state: Mapping[str, Any], document: Any) -> Any:
    """What a state does to the document on its ordinary (not error) path."""
    kind = state.get("Type")
    if kind == "Pass":
        if "Result" in state:
            value = copy.deepcopy(state["Result"])
        elif "Parameters" in state:
            value = evaluate_template(state["Parameters"], document)
        else:
            value = copy.deepcopy(document)
    elif kind == "Task":
        from .awsmodel import sample_output  # awsmodel imports this module

        service, action = _sdk(state.get("Resource"))
        response = sample_output(service, action) if service else {}
        selector = state.get("ResultSelector")
        value = response if selector is None else evaluate_template(selector, response)
    elif kind in {"Parallel", "Map"}:
        value = []
    else:
        return document
    return set_path(document, state.get("ResultPath", "$"), value)


def input_at(definition: Mapping[str, Any], target: str) -> Any:
    """The input the workflow gives state ``target``: the schedule's input, then
    what every state with a path to ``target`` writes at its ResultPath, in
    breadth-first order from the start. A state reached on several paths sees
    everything written on any of them (what a reader of a path can find there,
    not one run's exact values)."""
    return _input_in_graph(definition, target, dict(SCHEDULE_INPUT))


def _input_in_graph(graph: Mapping[str, Any], target: str, start_input: Any) -> Any:
    states: Mapping[str, Any] = graph.get("States") or {}
    order: list[str] = []
    seen = set()
    queue = deque([graph.get("StartAt")])
    while queue:
        name = queue.popleft()
        if not isinstance(name, str) or name in seen or name not in states:
            continue
        seen.add(name)
        order.append(name)
        queue.extend(_successors(states[name]))
    reaches = _reaching(states, target)
    document = copy.deepcopy(start_input)
    for name in order:
        if name in reaches and name != target:
            document = _apply(states[name], document)
    return document


def input_for(definition: Mapping[str, Any], task: TaskState) -> Any:
    """:func:`input_at` for a Task, nested graphs included (a branch starts with
    its Parallel/Map state's input)."""
    graph: Mapping[str, Any] = definition
    document: Any = dict(SCHEDULE_INPUT)
    names = (*task.parents, task.name)
    for depth, parent in enumerate(task.parents):
        document = _input_in_graph(graph, parent, document)
        state = (graph.get("States") or {})[parent]
        if "Parameters" in state:
            document = evaluate_template(state["Parameters"], document)
        graph = _graph_holding(state, names[depth + 1])
    return _input_in_graph(graph, task.name, document)


def _graph_holding(state: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    graphs = list(state.get("Branches") or [])
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if processor:
        graphs.append(processor)
    for graph in graphs:
        if name in (graph.get("States") or {}):
            return graph
    return {}


def _reaching(states: Mapping[str, Any], target: str) -> set[str]:
    """Every state with a path to ``target``."""
    predecessors: dict[str, set[str]] = {}
    for name, state in states.items():
        for successor in _successors(state):
            predecessors.setdefault(successor, set()).add(name)
    found: set[str] = set()
    stack = [target]
    while stack:
        for before in predecessors.get(stack.pop(), set()):
            if before not in found:
                found.add(before)
                stack.append(before)
    return found
