"""What AWS's API models say about a Task of the workflow, for ``rekbatch doctor``.

Step Functions' aws-sdk integrations take the API's request members (in
PascalCase: ``QueueUrl``, ``Uuid`` for Lambda's ``UUID``) and answer the API's
response members, PascalCased. botocore ships the same models the SDKs are
built from, so without calling anything the doctor can tell a parameter name
the API does not have, a required one that is missing, and a ResultSelector
path the response can never hold. It also names the IAM action and the exact
resource (and condition context) each call is authorised on, for
``iam:SimulatePrincipalPolicy``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import botocore.session

from .aslwalk import TaskState, json_paths, path_steps

# Step Functions' service names where boto3's differ.
BOTO3_SERVICE = {"sfn": "stepfunctions", "eventbridge": "events"}
# IAM's service prefixes where Step Functions' service names differ.
IAM_PREFIX = {"sfn": "states", "eventbridge": "events"}


class UnknownApi(LookupError):
    """The Resource names a service or action botocore does not know."""


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


@functools.cache
def operation(service: str, action: str) -> Any:
    """botocore's OperationModel of ``aws-sdk:<service>:<action>``."""
    try:
        model = _session().get_service_model(BOTO3_SERVICE.get(service, service))
    except Exception as exc:  # noqa: BLE001 - botocore's UnknownServiceError and friends
        raise UnknownApi(f"the AWS SDK knows no service {service!r} ({exc})") from None
    name = pascal(action)
    if name not in model.operation_names:
        raise UnknownApi(f"{service} has no action {name}")
    return model.operation_model(name)


def sample_output(service: str, action: str) -> Any:
    """:func:`sample_response` of ``aws-sdk:<service>:<action>`` (``{}`` when
    botocore does not know the API): what a path into the response can find."""
    try:
        return sample_response(operation(service, action))
    except UnknownApi:
        return {}


def _member(shape: Any, key: str) -> tuple[str | None, Any]:
    """The member of a structure a Step Functions key names (case-insensitively)."""
    for name, member in shape.members.items():
        if name.lower() == key.lower():
            return name, member
    return None, None


def parameter_problems(op: Any, parameters: Mapping[str, Any]) -> list[str]:
    """Names in ``parameters`` that the request has not, and required members missing."""
    if op.input_shape is None:
        return [f"{op.name} takes no parameters"] if parameters else []
    return _structure_problems(op.input_shape, parameters, op.name)


def _structure_problems(shape: Any, value: Mapping[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    given = set()
    for key, item in value.items():
        plain = key[:-2] if key.endswith(".$") else key
        name, member = _member(shape, plain)
        if name is None:
            problems.append(
                f"{where} has no parameter {plain!r} (it takes {', '.join(sorted(shape.members))})"
            )
            continue
        given.add(name)
        if key.endswith(".$"):
            continue  # a value computed at run time: its name is all that can be checked
        problems += _value_problems(member, item, f"{where}.{name}")
    for name in shape.required_members:
        if name not in given:
            problems.append(f"{where} requires {name!r}, which the state does not set")
    return problems


def _value_problems(shape: Any, value: Any, where: str) -> list[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        return _structure_problems(shape, value, where)
    if shape.type_name == "list" and isinstance(value, list):
        return [
            p
            for i, item in enumerate(value)
            for p in _value_problems(shape.member, item, f"{where}[{i}]")
        ]
    return []


def result_path_problems(op: Any, result_selector: Mapping[str, Any] | None) -> list[str]:
    """Paths of the ResultSelector that no response of the API can hold."""
    problems: list[str] = []
    for path in sorted(
        {p for value in _expressions(result_selector or {}) for p in json_paths(value)}
    ):
        problem = _path_problem(op.output_shape, path)
        if problem:
            problems.append(f"{path}: {problem}")
    return problems


def _expressions(template: Any) -> list[str]:
    found: list[str] = []
    if isinstance(template, dict):
        for key, value in template.items():
            if isinstance(key, str) and key.endswith(".$") and isinstance(value, str):
                found.append(value)
            else:
                found += _expressions(value)
    elif isinstance(template, list):
        for value in template:
            found += _expressions(value)
    return found


def _path_problem(shape: Any, path: str) -> str | None:
    where = "$"
    for step in path_steps(path):
        if shape is None:
            return f"the response has nothing under {where}"
        kind = shape.type_name
        if step.startswith("["):
            if kind != "list":
                return f"{where} is a {kind}, not a list"
            shape = shape.member
        elif kind == "map":
            shape = shape.value
        elif kind == "structure":
            name, member = _member(shape, step)
            if name is None:
                members = ", ".join(pascal(m) for m in shape.members)
                return f"the response has no {step!r} under {where} (it has {members})"
            if step != pascal(name) and not name.isupper():
                return f"Step Functions answers {pascal(name)!r}, not {step!r}"
            shape = member
        elif kind == "list":
            return f"{where} is a list: a field of its items needs [*] or an index"
        else:
            return f"{where} is a {kind}, it has no field {step!r}"
        where += step if step.startswith("[") else f".{step}"
    return None


# ---------------------------------------------------------------------- IAM


@dataclass(frozen=True)
class Authorisation:
    """One IAM question: may the role do ``action`` on ``resource`` (with ``context``)?"""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def iam_action(task: TaskState) -> str:
    return f"{IAM_PREFIX.get(task.service, task.service)}:{pascal(task.action)}"


def _queue_arn(url: str, partition: str, region: str) -> str:
    """arn of a queue URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``)."""
    parts = urlparse(str(url))
    account, _, name = parts.path.strip("/").partition("/")
    host = re.match(r"^(?:sqs\.)?([a-z0-9-]+)\.(?:queue\.)?amazonaws\.com", parts.hostname or "")
    found_region = host.group(1) if host and host.group(1) != "queue" else region
    return f"arn:{partition}:sqs:{found_region}:{account}:{name}"


def _get(params: Mapping[str, Any], key: str) -> Any:
    for name, value in params.items():
        if name.lower() == key.lower():
            return value
    return None


def authorisations(
    task: TaskState, request: Mapping[str, Any], *, partition: str, region: str, account: str
) -> list[Authorisation]:
    """The IAM checks of one call with ``request`` (its effective parameters).

    Raises LookupError for a call whose resource the doctor does not know how to
    name (the row then says so).
    """
    action = iam_action(task)
    service = task.service
    if service == "sqs":
        return [Authorisation(action, _queue_arn(_get(request, "QueueUrl"), partition, region))]
    if service == "rekognition":
        if task.action in {"describeProjectVersions"}:
            return [Authorisation(action, str(_get(request, "ProjectArn")))]
        return [Authorisation(action, str(_get(request, "ProjectVersionArn")))]
    if service == "sfn":
        return [Authorisation(action, str(_get(request, "StateMachineArn")))]
    if service == "lambda" and "eventsourcemapping" in task.action.lower():
        uuid = _get(request, "Uuid")
        arn = f"arn:{partition}:lambda:{region}:{account}:event-source-mapping:{uuid}"
        return [Authorisation(action, arn)]
    if service == "s3":
        bucket, key = _get(request, "Bucket"), _get(request, "Key")
        return [Authorisation(action, f"arn:{partition}:s3:::{bucket}/{key}")]
    if service == "sns":
        return [Authorisation(action, str(_get(request, "TopicArn")))]
    if service == "eventbridge":
        found = []
        for entry in _get(request, "Entries") or []:
            bus = str(_get(entry, "EventBusName") or "default")
            if not bus.startswith("arn:"):
                bus = f"arn:{partition}:events:{region}:{account}:event-bus/{bus}"
            source = _get(entry, "Source")
            context = {"events:source": str(source)} if source else {}
            found.append(Authorisation(action, bus, context))
        return found
    raise LookupError(f"the doctor does not know which resource {task.api} is authorised on")


# The stack key's use through each service (infra/keypolicies.kms_usage_policy).
_KMS_USE = {
    ("s3", "putObject"): ("s3", ["kms:GenerateDataKey"]),
    ("sqs", "receiveMessage"): ("sqs", ["kms:Decrypt"]),
    ("sns", "publish"): ("sns", ["kms:GenerateDataKey", "kms:Decrypt"]),
}


def kms_authorisations(task: TaskState, key_arn: str, region: str) -> list[Authorisation]:
    """What the call needs of the stack's customer-managed key, through its service."""
    use = _KMS_USE.get((task.service, task.action))
    if use is None:
        return []
    service, actions = use
    context = {"kms:ViaService": f"{service}.{region}.amazonaws.com"}
    return [Authorisation(action, key_arn, context) for action in actions]


# ------------------------------------------------------- a response to mock with


_SAMPLE_SCALARS: dict[str, Any] = {
    "string": "sample",
    "integer": 0,
    "long": 0,
    "boolean": False,
    "float": 0.0,
    "double": 0.0,
    "timestamp": "2026-01-01T00:00:00Z",
    "blob": "",
}


def sample_response(op: Any, depth: int = 4) -> dict[str, Any]:
    """A response of the API's output shape (every member, Step Functions'
    casing), for TestState's ``mock`` where the SDK has it."""
    if op.output_shape is None:
        return {}
    value = _sample(op.output_shape, depth)
    return value if isinstance(value, dict) else {}


def _sample(shape: Any, depth: int) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if depth <= 0:
            return {}
        return {pascal(name): _sample(member, depth - 1) for name, member in shape.members.items()}
    if kind == "list":
        return [_sample(shape.member, depth - 1)] if depth > 0 else []
    if kind == "map":
        return {"key": _sample(shape.value, depth - 1)} if depth > 0 else {}
    if kind == "string" and shape.enum:
        return shape.enum[0]
    return _SAMPLE_SCALARS.get(kind, "sample")
