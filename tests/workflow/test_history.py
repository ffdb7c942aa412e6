"""No execution can reach Step Functions' 25,000 history events (an execution
that does fails with no Catch and no cleanup: the model keeps running).

Proven on the rendered definition itself: every loop is a strongly connected
part of the graph; each must pass through the state that holds its bound, and
its costliest pass (a Task writes 5 events, any other state 2) times its bound,
plus every state once, is the worst case of a run. It must stay under
HISTORY_EVENT_BUDGET (22,000: the rest is room for retries) for every variant,
and the figures params.py budgets with must be at least what the graph costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from infra.statemachine import OWNERSHIP_SHARED, WorkflowParams, build_definition, names
from infra.statemachine import params as budget
from infra.statemachine.notify import MAX_WHOLE_USD_ROUNDS
from tests.workflow.golden import _RESOURCES, CONFIGURATIONS
from tests.workflow.test_definition import params, successors

States = dict[str, dict[str, Any]]


def events(sm: States, names: list[str]) -> int:
    return sum(5 if sm[name]["Type"] == "Task" else 2 for name in names)


def components(sm: States) -> list[set[str]]:
    """The graph's loops: strongly connected sets of more than one state (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for nxt in successors(sm[name]):
            if nxt not in index:
                visit(nxt)
                low[name] = min(low[name], low[nxt])
            elif nxt in on_stack:
                low[name] = min(low[name], index[nxt])
        if low[name] == index[name]:
            part = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.add(top)
                if top == name:
                    break
            if len(part) > 1 or name in set(successors(sm[name])):
                found.append(part)

    for name in sm:
        if name not in index:
            visit(name)
    return found


def cycles(sm: States, head: str, part: set[str]) -> Iterator[list[str]]:
    """Every simple pass round a loop, from its head back to it."""

    def walk(path: list[str]) -> Iterator[list[str]]:
        for nxt in sorted(set(successors(sm[path[-1]]))):
            if nxt == head:
                yield path
            elif nxt in part and nxt not in path:
                yield from walk([*path, nxt])

    yield from walk([head])


def acyclic_without(sm: States, part: set[str], head: str) -> bool:
    rest = {name: sm[name] for name in part - {head}}
    trimmed = {
        name: {"Type": s["Type"], "Next": None, "_next": [n for n in successors(s) if n in rest]}
        for name, s in rest.items()
    }

    def nexts(name: str) -> list[str]:
        return trimmed[name]["_next"]

    seen: dict[str, int] = {}

    def has_cycle(name: str) -> bool:
        seen[name] = 1
        for nxt in nexts(name):
            if seen.get(nxt) == 1 or (nxt not in seen and has_cycle(nxt)):
                return True
        seen[name] = 2
        return False

    return not any(name not in seen and has_cycle(name) for name in trimmed)


def counts(state: dict[str, Any], counter: str) -> bool:
    """Does this state add 1 to the counter (a Pass writing MathAdd(counter, 1))?"""
    return f"States.MathAdd({counter}, 1)" in str(state.get("Parameters", ""))


# Each loop's head: the state whose Choice ends it at its bound.
HEADS = {
    names.ACT_ON_MODEL_STATUS,
    names.DRAIN_DECISION,
    names.CLEANUP_DEADLINE,
    names.MAPPING_DEADLINE,
    names.PEEK_NEXT,
    names.FIND_WHOLE_USD,
}


def worst_case(p: WorkflowParams, sm: States | None = None) -> tuple[int, dict[str, int]]:
    """The most history events a run of this variant can write, and per loop."""
    if sm is None:
        sm = build_definition(p)["States"]
    per_loop: dict[str, int] = {}
    for part in components(sm):
        (head,) = part & HEADS or {f"a loop with no known bound: {sorted(part)}"}
        assert head in sm, head
        assert acyclic_without(sm, part, head), f"a pass round {head}'s loop can skip it"
        passes = list(cycles(sm, head, part))
        assert passes, head
        if head == names.ACT_ON_MODEL_STATUS:
            starts = [c for c in passes if names.START_MODEL in c]
            waits = [c for c in passes if names.START_MODEL not in c]
            assert all(any(counts(sm[s], "$.modelWait.polls") for s in c) for c in waits)
            describes = (p.max_start_attempts + 1) * p.start_deadline_polls
            cost = describes * max(events(sm, c) for c in waits)
            cost += p.max_start_attempts * max(events(sm, c) for c in starts)
        elif head == names.DRAIN_DECISION:
            polling = [c for c in passes if any(counts(sm[s], "$.drain.polls") for s in c)]
            checks = [c for c in passes if c not in polling]
            per_poll = max(
                events(sm, c) / sum(counts(sm[s], "$.drain.polls") for s in c) for c in polling
            )
            cost = math.ceil((p.max_drain_polls + 1) * per_poll)
            check_bound = min(p.max_drain_polls + 1, p.model_checks_bound)
            cost += check_bound * max(events(sm, c) for c in checks)
            # the bounds end the drain before any rule leads round the loop again
            rules = sm[names.DRAIN_DECISION]["Choices"]
            assert [r["Variable"] for r in rules[:2]] == ["$.drain.elapsed", "$.drain.polls"]
        elif head == names.CLEANUP_DEADLINE:
            cost = (p.model_wait_polls + 1) * max(events(sm, c) for c in passes)
        elif head == names.MAPPING_DEADLINE:
            cost = (p.mapping_wait_polls + 1) * max(events(sm, c) for c in passes)
        elif head == names.FIND_WHOLE_USD:  # the notice's cost in whole USD, digit by digit
            cost = (MAX_WHOLE_USD_ROUNDS + 1) * max(events(sm, c) for c in passes)
        else:  # PeekNext: one pass per message received, at most the peek's maximum
            cost = (p.test_event_peek_max + 1) * max(events(sm, c) for c in passes)
        per_loop[head] = cost
    once = events(sm, list(sm))
    return once + sum(per_loop.values()), per_loop


VARIANTS = [
    params(),
    params(fast_poll_seconds=1, model_check_seconds=1),
    params(poll_interval_seconds=60, model_check_seconds=60, fast_poll_seconds=60),
    params(max_start_attempts=3, ownership=OWNERSHIP_SHARED),
    params(model_start_timeout_seconds=90 * 60, model_poll_seconds=30),
    params(max_run_seconds=24 * 3600, poll_interval_seconds=300),
]


@pytest.mark.parametrize(
    "variant",
    VARIANTS,
    ids=lambda v: (
        f"start{v.max_start_attempts}-poll{v.poll_interval_seconds}-check{v.model_check_seconds}"
    ),
)
def test_every_variants_worst_case_stays_under_the_budget(variant: WorkflowParams) -> None:
    worst, per_loop = worst_case(variant)
    assert set(per_loop) >= {
        names.ACT_ON_MODEL_STATUS,
        names.DRAIN_DECISION,
        names.CLEANUP_DEADLINE,
        names.MAPPING_DEADLINE,
    }
    assert worst < budget.HISTORY_EVENT_BUDGET < 25_000, (worst, per_loop)


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_every_golden_variants_worst_case_stays_under_the_budget(name: str) -> None:
    import dataclasses

    p = dataclasses.replace(_RESOURCES, **CONFIGURATIONS[name])
    worst, per_loop = worst_case(p)
    assert worst < budget.HISTORY_EVENT_BUDGET, (worst, per_loop)
    sm = build_definition(p)["States"]
    small = per_loop.get(names.PEEK_NEXT, 0) + per_loop.get(names.FIND_WHOLE_USD, 0)
    assert events(sm, list(sm)) + small <= budget.FIXED_EVENTS


def test_the_budgets_figures_are_what_the_graph_costs() -> None:
    """params.py sizes the drain with these figures: each must cover its loop."""
    for p in VARIANTS:
        sm = build_definition(p)["States"]
        loops = {head: part for part in components(sm) for head in part & HEADS}

        def costliest(
            head: str, keep: Any = lambda c: True, sm: States = sm, loops: Any = loops
        ) -> int:
            return max(events(sm, c) for c in cycles(sm, head, loops[head]) if keep(c))

        assert (
            costliest(names.ACT_ON_MODEL_STATUS, lambda c: names.START_MODEL not in c)
            <= budget.EVENTS_PER_DESCRIBE
        )
        assert (
            costliest(names.ACT_ON_MODEL_STATUS, lambda c: names.START_MODEL in c)
            <= budget.EVENTS_PER_START
        )
        assert costliest(names.CLEANUP_DEADLINE) <= budget.EVENTS_PER_CLEANUP_WAIT
        assert costliest(names.MAPPING_DEADLINE) <= budget.EVENTS_PER_MAPPING_WAIT
        check = costliest(names.DRAIN_DECISION, lambda c: names.CHECK_MODEL in c)
        assert check <= budget.EVENTS_PER_MODEL_CHECK
        poll = costliest(names.DRAIN_DECISION, lambda c: names.CHECK_MODEL not in c)
        assert poll <= 2 * budget.EVENTS_PER_DRAIN_POLL  # a failed confirmation: 2 polls
        _, per_loop = worst_case(p)
        small = per_loop.get(names.PEEK_NEXT, 0) + per_loop.get(names.FIND_WHOLE_USD, 0)
        assert events(sm, list(sm)) + small <= budget.FIXED_EVENTS


def test_a_model_found_stopping_is_waited_out_within_the_budget() -> None:
    """Before the first start the ladder may run a whole start deadline (a model
    found STOPPING), then every start gets its own: all of them are counted."""
    p = params()
    outside = p.history_events_outside_drain
    describes = (p.max_start_attempts + 1) * p.start_deadline_polls
    assert outside >= describes * budget.EVENTS_PER_DESCRIBE
    worst, _ = worst_case(p)
    assert worst < budget.HISTORY_EVENT_BUDGET


def test_the_walk_refuses_a_drain_that_confirms_before_its_deadlines() -> None:
    """The check can fail: a drain that confirms an empty queue before looking at
    its deadlines loops for as long as the queue empties and fills again between
    the two polls of a confirmation (a trickle of images), past every bound."""
    p = params()
    sm = build_definition(p)["States"]
    rules = sm[names.DRAIN_DECISION]["Choices"]
    empty = next(r for r in rules if r.get("Variable") == "$.queue.total")
    rules.remove(empty)
    rules.insert(0, empty)
    with pytest.raises(AssertionError):
        worst_case(p, sm)


def test_the_walk_refuses_a_loop_its_bound_does_not_cover() -> None:
    p = params()
    sm = build_definition(p)["States"]
    sm[names.MARK_STOPPED] = {**sm[names.MARK_STOPPED], "Next": names.CLEANUP_DESCRIBE_MODEL}
    with pytest.raises(AssertionError, match="can skip it"):  # a loop its bound misses
        worst_case(p, sm)
