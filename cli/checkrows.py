"""A row of ``rekbatch doctor``'s table and its four results (cli/doctor.py,
cli/stackchecks.py, cli/probes.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import explain

PASS = "PASS"
WARN = "WARN"
FAIL = "FAIL"
NOT_CHECKABLE = "NOT CHECKABLE"
RANK = {PASS: 0, WARN: 1, NOT_CHECKABLE: 2, FAIL: 3}


@dataclass(frozen=True)
class Row:
    check: str
    result: str
    detail: str
    advice: str = ""


def worst(*results: str) -> str:
    return max(results, key=RANK.__getitem__)


def aws_failure(exc: BaseException, what: str) -> str:
    """One line for an AWS error met while checking ``what``."""
    return explain(exc, what) or f"{type(exc).__name__}: {exc}"
