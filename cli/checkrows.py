"""A row of ``rekbatch doctor``'s table, its four results, and the IAM question
several checks ask (cli/doctor.py, cli/stackchecks.py, cli/probes.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .awsmodel import Authorisation
from .errors import UnexpectedResponse, explain, reading

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


def simulate(iam: Any, role_arn: str, need: Authorisation) -> tuple[str, str]:
    """(result, text) of one SimulatePrincipalPolicy question."""
    entries = [
        {"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
        for key, value in need.context.items()
    ]
    try:
        answer = iam.simulate_principal_policy(
            PolicySourceArn=role_arn,
            ActionNames=[need.action],
            ResourceArns=[need.resource],
            ContextEntries=entries,
        )
        with reading("SimulatePrincipalPolicy"):
            found = answer["EvaluationResults"]
            decision = str(found[0]["EvalDecision"]) if found else "implicitDeny"
            missing = list(found[0].get("MissingContextValues") or []) if found else []
    except (ClientError, BotoCoreError) as exc:
        return (
            NOT_CHECKABLE,
            f"{need.action}: not simulated ({aws_failure(exc, 'the IAM simulator')})",
        )
    except UnexpectedResponse as exc:
        return NOT_CHECKABLE, f"{need.action}: unexpected response from AWS ({exc})"
    where = f"{need.action} on {need.resource}"
    if decision == "allowed":
        return PASS, f"IAM allows {where}"
    if decision == "explicitDeny":
        return FAIL, f"IAM explicitly denies {where}"
    if missing:
        return NOT_CHECKABLE, f"IAM could not decide {where} without {', '.join(missing)}"
    return FAIL, f"IAM denies {where} (no statement grants it)"
