"""The rendered state machine equals its committed snapshot (see golden.py)."""

from __future__ import annotations

import difflib

import pytest

from tests.workflow.golden import CONFIGURATIONS, path_of, render


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_rendering_matches_the_golden_snapshot(name: str) -> None:
    expected = path_of(name).read_text()
    actual = render(name)
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"snapshot {name}",
                f"rendered {name}",
                n=2,
            )
        )
        pytest.fail(
            f"the {name} definition changed; if intended run `make snapshots` and commit "
            f"the diff:\n{diff[:6000]}"
        )
