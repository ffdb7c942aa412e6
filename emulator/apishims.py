"""Two AWS APIs moto 5.2.5 does not serve, which ``rekbatch doctor`` calls.

- Step Functions ``TestState`` (one state, run once, with the caller's input):
  moto vendors LocalStack's TestState execution (``TestStateExecution``, the
  static analyser that admits only the state types TestState runs) but its
  server has no ``test_state`` action. The shim runs the state on that
  vendored interpreter and answers what the API model's ``TestStateOutput``
  holds: ``status`` (SUCCEEDED, FAILED, CAUGHT_ERROR, RETRIABLE), ``output``,
  ``error``, ``cause``, ``nextState`` and, at DEBUG or TRACE,
  ``inspectionData`` (input, afterInputPath, afterParameters, result,
  afterResultSelector, afterResultPath). An invalid definition is
  ``InvalidDefinition``, as on AWS. aws-sdk tasks run through the same
  client factory the emulator's executions use (emulator/shims.py), so
  parameter casing behaves as in a run.
- IAM ``SimulatePrincipalPolicy`` for a role: moto has no policy simulator.
  The shim evaluates the role's inline and attached (default version)
  policies for each action on each resource, as IAM's evaluation logic
  does for identity policies: an explicit Deny wins, else an Allow, else
  implicitDeny; ``*`` and ``?`` wildcards (actions case-insensitive,
  resources case-sensitive), ``NotAction``/``NotResource``. Conditions with
  the string, ARN and Bool operators are evaluated against the request's
  ``ContextEntries``; a condition key the request does not supply, or an
  operator this shim does not evaluate, makes the statement not apply and
  is named in ``MissingContextValues`` (AWS does the same for a missing
  key): the caller can tell "denied" from "could not be decided here".
  Permission boundaries, SCPs and resource policies are not simulated.

Both are installed by :func:`install` (called by ``LocalAws.start`` after
emulator.shims.install);
tests/emulator/test_emulator_shims.py has a tripwire per shim that fails
when moto starts serving the action itself.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

_SFN_RESPONSE = ("moto.stepfunctions.responses", "StepFunctionResponse")
_IAM_RESPONSE = ("moto.iam.responses", "IamResponse")
SHIM_MARK = "_rekbatch_shim"

# ------------------------------------------------------------------ TestState


def _test_state(self: Any) -> Any:
    """StepFunctionResponse.test_state: the vendored TestState execution."""
    from moto.core.exceptions import AWSError
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import InvalidExecutionInput
    from moto.stepfunctions.parser.api import InspectionLevel

    class InvalidDefinition(AWSError):
        TYPE = "InvalidDefinition"
        STATUS = 400

    from moto.stepfunctions.parser.asl.static_analyser.test_state.test_state_analyser import (
        TestStateStaticAnalyser,
    )
    from moto.stepfunctions.parser.backend.state_machine import TestStateMachine
    from moto.stepfunctions.parser.backend.test_state.execution import TestStateExecution

    definition = self._get_param("definition")
    role_arn = self._get_param("roleArn")
    raw_input = self._get_param("input") or "{}"
    level = self._get_param("inspectionLevel") or "INFO"
    try:
        state = json.loads(definition)
        TestStateStaticAnalyser().analyse(definition)
    except Exception as exc:  # noqa: BLE001 - AWS answers any refusal as InvalidDefinition
        raise InvalidDefinition(f"{type(exc).__name__}: {exc}") from None
    try:
        json.loads(raw_input)
    except ValueError:
        raise InvalidExecutionInput("input is not JSON") from None
    # The vendored interpreter leaves a caught or retried error unfinished; run the
    # state without its Retry/Catch and apply them to the error as TestState does.
    handlers = {key: state.pop(key) for key in ("Retry", "Catch") if key in state}
    name = f"TestState-{uuid.uuid4().hex[:10]}"
    account, region = self.current_account, self.region
    machine = TestStateMachine(
        name=name,
        arn=f"arn:aws:states:{region}:{account}:stateMachine:{name}",
        role_arn=role_arn,
        definition=json.dumps(state),
    )
    execution = TestStateExecution(
        name=name,
        role_arn=role_arn,
        exec_arn=f"arn:aws:states:{region}:{account}:execution:{name}:{name}",
        account_id=account,
        region_name=region,
        state_machine=machine,
        start_date=datetime.datetime.now(tz=datetime.UTC),
        activity_store={},
        # moto annotates a dict, and json.loads() it: the API's string is what it takes.
        input_data=raw_input,  # type: ignore[arg-type]
    )
    execution.start()  # synchronous (TestStateExecutionWorker)
    answer = dict(execution.to_test_state_output(inspection_level=InspectionLevel(level)))
    answer["status"] = str(getattr(answer["status"], "value", answer["status"]))
    if answer["status"] == "FAILED":
        answer.update(_handled(str(answer.get("error") or ""), handlers))
    return ActionResult(answer)


# "States.ALL ... can't catch the States.DataLimitExceeded terminal errors and
# States.Runtime errors" (Step Functions developer guide, error names).
_TERMINAL_ERRORS = {"States.Runtime", "States.DataLimitExceeded"}


def _handles(error_equals: list[str], error: str) -> bool:
    if error in _TERMINAL_ERRORS:
        return False
    return (
        error in error_equals
        or "States.ALL" in error_equals
        or ("States.TaskFailed" in error_equals and error != "States.Timeout")
    )


def _handled(error: str, handlers: Mapping[str, Any]) -> dict[str, Any]:
    """A retrier that matches makes the answer RETRIABLE; else a catcher that
    matches makes it CAUGHT_ERROR with the catcher's next state."""
    for retrier in handlers.get("Retry", []):
        if _handles(retrier.get("ErrorEquals", []), error) and retrier.get("MaxAttempts", 3) > 0:
            return {"status": "RETRIABLE"}
    for catcher in handlers.get("Catch", []):
        if _handles(catcher.get("ErrorEquals", []), error):
            return {"status": "CAUGHT_ERROR", "nextState": catcher.get("Next")}
    return {}


# ------------------------------------------------------ SimulatePrincipalPolicy

_STRING_OPERATORS = {
    "StringEquals": lambda want, got: got == want,
    "StringNotEquals": lambda want, got: got != want,
    "StringEqualsIgnoreCase": lambda want, got: got.lower() == want.lower(),
    "StringLike": lambda want, got: _wildcard(want, got, case=True),
    "StringNotLike": lambda want, got: not _wildcard(want, got, case=True),
    "ArnEquals": lambda want, got: got == want,
    "ArnLike": lambda want, got: _wildcard(want, got, case=True),
    "ArnNotEquals": lambda want, got: got != want,
    "ArnNotLike": lambda want, got: not _wildcard(want, got, case=True),
    "Bool": lambda want, got: got.lower() == want.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _wildcard(pattern: str, value: str, *, case: bool) -> bool:
    """IAM's ``*`` (any run) and ``?`` (one character); nothing else is special."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _condition_applies(
    condition: Mapping[str, Any], context: Mapping[str, list[str]], missing: set[str]
) -> bool:
    """Every operator block must hold; within one, a key holds when any wanted
    value matches any supplied value (the negated operators: none matches)."""
    for operator, block in condition.items():
        test = _STRING_OPERATORS.get(operator)
        for key, wanted in block.items():
            supplied = context.get(key.lower())
            if test is None or supplied is None:
                missing.add(key)  # not decidable here: the statement does not apply
                return False
            pairs = [(w, s) for w in _listed(wanted) for s in supplied]
            if operator in _NEGATED:
                if not all(test(w, s) for w, s in pairs):
                    return False
            elif not any(test(w, s) for w, s in pairs):
                return False
    return True


def _matches(
    statement: Mapping[str, Any], key: str, negated: str, value: str, *, case: bool
) -> bool:
    if key in statement:
        return any(_wildcard(p, value, case=case) for p in _listed(statement[key]))
    if negated in statement:
        return not any(_wildcard(p, value, case=case) for p in _listed(statement[negated]))
    return False


def evaluate(
    documents: Iterable[tuple[str, Mapping[str, Any]]],
    action: str,
    resource: str,
    context: Mapping[str, list[str]],
) -> dict[str, Any]:
    """One EvaluationResult for identity policies ``(policy id, document)``."""
    decision = "implicitDeny"
    matched: list[dict[str, str]] = []
    missing: set[str] = set()
    for policy_id, document in documents:
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if not _matches(statement, "Action", "NotAction", action, case=False):
                continue
            if not _matches(statement, "Resource", "NotResource", resource, case=True):
                continue
            if not _condition_applies(statement.get("Condition") or {}, context, missing):
                continue
            if statement.get("Effect") == "Deny":
                decision = "explicitDeny"
                matched = [{"SourcePolicyId": policy_id, "SourcePolicyType": "IAM Policy"}]
                break
            if decision == "implicitDeny":
                decision = "allowed"
            matched.append({"SourcePolicyId": policy_id, "SourcePolicyType": "IAM Policy"})
        if decision == "explicitDeny":
            break
    result: dict[str, Any] = {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision,
        "MatchedStatements": matched,
        "MissingContextValues": sorted(missing) if decision != "allowed" else [],
    }
    return result


def _role_documents(account: str, role_arn: str) -> list[tuple[str, dict[str, Any]]]:
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["global"]
    role = backend.get_role_by_arn(role_arn)  # NoSuchEntity when absent, as on AWS
    documents = [(name, _as_json(doc)) for name, doc in role.policies.items()]
    for policy in role.managed_policies.values():
        version = next(v for v in policy.versions if v.is_default)
        documents.append((policy.name, _as_json(version.document)))
    return documents


def _as_json(document: Any) -> dict[str, Any]:
    from urllib.parse import unquote

    if isinstance(document, dict):
        return document
    text = str(document)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = json.loads(unquote(text))
    return parsed if isinstance(parsed, dict) else {}


def _simulate_principal_policy(self: Any) -> Any:
    """IamResponse.simulate_principal_policy for roles (see the module docstring)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NoSuchEntity, ValidationError

    source = self._get_param("PolicySourceArn") or ""
    actions = self._get_param("ActionNames") or []
    resources = self._get_param("ResourceArns") or ["*"]
    if ":role/" not in source:
        raise ValidationError("the emulator simulates roles only (PolicySourceArn of a role)")
    context: dict[str, list[str]] = {}
    for entry in self._get_param("ContextEntries") or []:
        context[str(entry["ContextKeyName"]).lower()] = _listed(entry.get("ContextKeyValues"))
    try:
        documents = _role_documents(self.current_account, source)
    except Exception:  # noqa: BLE001 - moto's NotFoundException: IAM's NoSuchEntity
        raise NoSuchEntity(f"Role {source} not found") from None
    results = [
        evaluate(documents, action, resource, context)
        for action in actions
        for resource in resources
    ]
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def install() -> None:
    """Serve TestState and SimulatePrincipalPolicy from moto's server (idempotent)."""
    import importlib

    for (module, class_name), name, method in (
        (_SFN_RESPONSE, "test_state", _test_state),
        (_IAM_RESPONSE, "simulate_principal_policy", _simulate_principal_policy),
    ):
        owner = getattr(importlib.import_module(module), class_name)
        existing = owner.__dict__.get(name)
        if existing is not None and not getattr(existing, SHIM_MARK, False):
            raise RuntimeError(f"moto now serves {class_name}.{name}: revise emulator/apishims.py")
        setattr(method, SHIM_MARK, True)
        setattr(owner, name, method)


__all__ = ["evaluate", "install"]
