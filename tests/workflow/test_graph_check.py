"""build_definition checks the graph: a transition to no state, or a state no path
reaches, fails the build naming the state."""

from __future__ import annotations

import pytest

import infra.statemachine as statemachine
from infra.statemachine import asl, build_definition
from tests.workflow.test_definition import params


def test_a_transition_to_no_state_fails_naming_it() -> None:
    states = {
        "Start": asl.pass_state("Decide"),
        "Decide": asl.choice([asl.when("$.x", "IsPresent", True, "Done")], default="Gone"),
        "Done": {"Type": "Succeed"},
    }
    with pytest.raises(ValueError, match="state 'Decide': Default 'Gone' is not a state"):
        asl.check_graph("Start", states)


def test_a_catch_to_no_state_fails_naming_it() -> None:
    task = {"Type": "Task", "Resource": "r", "Catch": asl.catch("Cleanup"), "End": True}
    with pytest.raises(ValueError, match=r"state 'Call': Catch\[0\] 'Cleanup'"):
        asl.check_graph("Call", {"Call": task})


def test_a_state_no_path_reaches_fails_naming_it() -> None:
    states = {"Start": {"Type": "Succeed"}, "Forgotten": {"Type": "Succeed"}}
    with pytest.raises(ValueError, match="no path reaches: Forgotten"):
        asl.check_graph("Start", states)


def test_the_builder_checks_its_own_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    def orphan(_p: object) -> asl.States:
        return {"Orphan": {"Type": "Succeed"}}

    monkeypatch.setattr(statemachine, "PHASES", (*statemachine.PHASES, orphan))
    with pytest.raises(ValueError, match="Orphan"):
        build_definition(params())


def test_every_shipped_variant_passes_the_check() -> None:
    for variant in (params(), params(test_event_peek_max=0), params(ownership="shared")):
        build_definition(variant)  # raises if a state dangles or is unreachable
