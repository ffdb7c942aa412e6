"""A small vocabulary of Amazon States Language (JSONPath) building blocks.

Each helper returns a plain ASL dict with its keys in one fixed order, so a
state reads in one line where it would take nine and the rendered JSON (the
golden snapshots) only changes when a state does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

State = dict[str, Any]
States = dict[str, State]
Condition = dict[str, Any]  # a Choice condition; with "Next", a Choice rule

SDK = "arn:aws:states:::aws-sdk:"
_UNSET: Any = object()


def merge(*parts: Mapping[str, State]) -> States:
    """Concatenate groups of states in order; a name defined twice is a bug."""
    states: States = {}
    for part in parts:
        for name, state in part.items():
            if name in states:
                raise AssertionError(f"duplicate state {name}")
            states[name] = state
    return states


def retry(
    *errors: str,
    interval: int,
    attempts: int,
    backoff: float = 2.0,
) -> dict[str, Any]:
    """A Retrier with full jitter; the delay between tries is capped at a minute."""
    return {
        "ErrorEquals": list(errors),
        "IntervalSeconds": interval,
        "MaxAttempts": attempts,
        "BackoffRate": backoff,
        "MaxDelaySeconds": max(interval, 60),
        "JitterStrategy": "FULL",
    }


def catch(
    next_state: str,
    result_path: str = "$.error",
    *,
    errors: tuple[str, ...] = ("States.ALL",),
) -> list[dict[str, Any]]:
    """Catch ``errors`` (every error by default) into ``next_state``, keeping the
    error at ``result_path``."""
    return [{"ErrorEquals": list(errors), "ResultPath": result_path, "Next": next_state}]


def sdk_task(
    api: str,
    *,
    parameters: dict[str, Any],
    result_selector: dict[str, Any],
    result_path: str,
    next_state: str,
    retry: list[dict[str, Any]],
    catch: list[dict[str, Any]] | None,
    comment: str,
) -> State:
    """An AWS SDK integration Task (``arn:aws:states:::aws-sdk:<service>:<action>``)."""
    state: State = {
        "Type": "Task",
        "Comment": comment,
        "Resource": SDK + api,
        "Parameters": parameters,
        # Select fields: SDK responses carry timestamps and metadata that
        # would bloat (or, in some emulators, break) the state output.
        "ResultSelector": result_selector,
        "ResultPath": result_path,
        "Retry": retry,
        "Next": next_state,
    }
    if catch is not None:
        state["Catch"] = catch
    return state


def cond(variable: str, test: str, value: Any) -> Condition:
    """One comparison: ``cond("$.x", "NumericEquals", 0)``."""
    return {"Variable": variable, test: value}


def all_of(*conditions: Condition) -> Condition:
    """Every condition holds (``And``)."""
    return {"And": list(conditions)}


def any_of(*conditions: Condition) -> Condition:
    """At least one condition holds (``Or``)."""
    return {"Or": list(conditions)}


def rule(condition: Condition, next_state: str) -> Condition:
    """A Choice rule: go to ``next_state`` when ``condition`` holds."""
    return {**condition, "Next": next_state}


def when(variable: str, test: str, value: Any, next_state: str) -> Condition:
    """One comparison as a Choice rule: ``when("$.x", "NumericEquals", 0, "Next")``."""
    return rule(cond(variable, test, value), next_state)


def choice(choices: list[Condition], *, default: str, comment: str | None = None) -> State:
    state: State = {"Type": "Choice"}
    if comment is not None:
        state["Comment"] = comment
    state["Choices"] = choices
    state["Default"] = default
    return state


def wait(
    *,
    seconds: int | None = None,
    seconds_path: str | None = None,
    next_state: str,
    comment: str | None = None,
) -> State:
    """A Wait of ``seconds``, or of the number at ``seconds_path``."""
    if (seconds is None) == (seconds_path is None):
        raise ValueError("a Wait takes seconds or seconds_path")
    state: State = {"Type": "Wait"}
    if comment is not None:
        state["Comment"] = comment
    if seconds is not None:
        state["Seconds"] = seconds
    else:
        state["SecondsPath"] = seconds_path
    state["Next"] = next_state
    return state


def pass_state(
    next_state: str,
    *,
    parameters: dict[str, Any] | None = None,
    result: Any = _UNSET,
    result_path: str | None = _UNSET,
    comment: str | None = None,
) -> State:
    """A Pass: Parameters (computed) or Result (constant) written to ResultPath."""
    state: State = {"Type": "Pass"}
    if comment is not None:
        state["Comment"] = comment
    if parameters is not None:
        state["Parameters"] = parameters
    if result is not _UNSET:
        state["Result"] = result
    if result_path is not _UNSET:
        state["ResultPath"] = result_path
    state["Next"] = next_state
    return state


def timestamp(next_state: str, result_path: str, **fields: Any) -> State:
    """A Pass recording when it was entered (``at``), plus constant fields."""
    return pass_state(
        next_state,
        parameters={**fields, "at.$": "$$.State.EnteredTime"},
        result_path=result_path,
    )


def set_outcome(outcome: str, next_state: str) -> State:
    """A Pass that sets the run's ``$.outcome``."""
    return pass_state(next_state, result=outcome, result_path="$.outcome")


def set_error(
    error: str,
    next_state: str,
    cause_format: str,
    *cause_args: str,
    result_path: str = "$.error",
) -> State:
    """A Pass that records a workflow-detected failure in ``result_path``.

    ``cause_format`` is a States.Format template: ``{}`` takes the next path of
    ``cause_args`` in order.
    """
    args = "".join(", " + a for a in cause_args)
    return pass_state(
        next_state,
        parameters={"Error": error, "Cause.$": f"States.Format('{cause_format}'{args})"},
        result_path=result_path,
    )


def fail(*, error: str | None = None, error_path: str | None = None, cause_path: str) -> State:
    state: State = {"Type": "Fail"}
    if error_path is not None:
        state["ErrorPath"] = error_path
    if error is not None:
        state["Error"] = error
    state["CausePath"] = cause_path
    return state


def _targets(state: State) -> list[tuple[str, str]]:
    """(where, target) for every transition out of ``state``."""
    found = [("Next", state["Next"])] if "Next" in state else []
    if "Default" in state:
        found.append(("Default", state["Default"]))
    found += [(f"Choices[{i}]", c["Next"]) for i, c in enumerate(state.get("Choices", ()))]
    found += [(f"Catch[{i}]", c["Next"]) for i, c in enumerate(state.get("Catch", ()))]
    return found


def check_graph(start: str, states: States) -> None:
    """Every transition names a state, and every state is reachable from ``start``:
    a broken graph fails the build naming the state, before AWS (or a run) sees it."""
    if start not in states:
        raise ValueError(f"StartAt {start!r} is not a state")
    for name, state in states.items():
        for where, target in _targets(state):
            if target not in states:
                raise ValueError(f"state {name!r}: {where} {target!r} is not a state")
    seen, todo = {start}, [start]
    while todo:
        for _, target in _targets(states[todo.pop()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    orphans = [name for name in states if name not in seen]
    if orphans:
        raise ValueError(f"state(s) no path reaches: {', '.join(orphans)}")
