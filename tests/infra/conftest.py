"""Run the real Pulumi program (__main__.py) under Pulumi's unit-test mocks.

The mocks fill every computed output the program reads (arn, id, url, name,
uuid...) the way AWS would shape it, so a forgotten output shows up as a wrong
value instead of slipping through as null. The monitor also records each
registration's parent, dependencies and ignoreChanges, which the mocks API
alone does not expose.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import runpy
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings as pulumi_settings
import pytest
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "rekognition-batch"
STACK = "test"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
VERSION_ARN = (
    f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/shapes/version/shapes.2025-06-01/1748772000000"
)
PROJECT_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/shapes/1748700000000"
# __main__.py's one pipeline: every logical name below it starts with "pipeline-".
PIPELINE = "pipeline"
COMPONENT_PREFIX = "rekognition-batch:"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    parent_type: str | None = None
    dependencies: list[str] = field(default_factory=list)  # types of the dependencies
    ignore_changes: list[str] = field(default_factory=list)
    aliases: list[Any] = field(default_factory=list)  # the registration's alias specs


@dataclass
class ProgramRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    created_in_apply: list[str]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, got {[r.name for r in found]}"
        return found[0]

    def by_name(self, name: str, pipeline: str = PIPELINE) -> Registered:
        """The AWS resource (not the component of the same name) called ``name`` in the
        pipeline (its logical name is ``<pipeline>-<name>``)."""
        full = f"{pipeline}-{name}"
        found = [
            r for r in self.resources if r.name == full and not r.type.startswith(COMPONENT_PREFIX)
        ]
        assert len(found) == 1, f"expected one resource named {name}, got {len(found)}"
        return found[0]

    def state_of(self, name: str, key: str) -> Any:
        return self.by_name(name).state[key]

    def policy(self, name: str) -> dict[str, Any]:
        """A policy document input (stored as a JSON string) of the resource ``name``."""
        return json.loads(self.by_name(name).inputs["policy"])


class FakeAws(pulumi.runtime.Mocks):
    """Computed outputs shaped like AWS's, per resource type."""

    def __init__(self) -> None:
        self.counter = 0

    def _suffix(self, name: str) -> str:
        self.counter += 1
        return hashlib.sha256(f"{name}{self.counter}".encode()).hexdigest()[:7]

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        name = args.name
        t = args.typ
        auto = f"{name}-{self._suffix(name)}"
        if t == "aws:glue/catalogDatabase:CatalogDatabase":
            database = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{database}"
            return f"{ACCOUNT}:{database}", state
        if t == "aws:glue/catalogTable:CatalogTable":
            table, database = state.setdefault("name", auto), state["databaseName"]
            state["arn"] = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{database}/{table}"
            return f"{ACCOUNT}:{database}:{table}", state
        if t == "aws:athena/workgroup:Workgroup":
            workgroup = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{workgroup}"
            return workgroup, state
        if t == "aws:iam/policy:Policy":
            policy = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:policy/{policy}"
            return state["arn"], state
        if t == "aws:s3/bucket:Bucket":
            bucket = state.setdefault("bucket", auto)
            state.update(
                arn=f"arn:aws:s3:::{bucket}", bucketDomainName=f"{bucket}.s3.amazonaws.com"
            )
            return bucket, state
        if t == "aws:sqs/queue:Queue":
            queue = state.setdefault("name", auto)
            state.update(
                arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
                url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}",
            )
            return state["url"], state
        if t == "aws:lambda/function:Function":
            fn = state.setdefault("name", auto)
            state.update(arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}", version="$LATEST")
            return fn, state
        if t == "aws:lambda/eventSourceMapping:EventSourceMapping":
            uuid = "a1b2c3d4-0000-4000-8000-" + hashlib.sha256(name.encode()).hexdigest()[:12]
            state.update(
                uuid=uuid,
                arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}",
                state="Disabled" if state.get("enabled") is False else "Enabled",
            )
            return uuid, state
        if t == "aws:sfn/stateMachine:StateMachine":
            sm = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{sm}"
            return state["arn"], state
        if t == "aws:iam/role:Role":
            role = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{role}"
            return role, state
        if t == "aws:cloudwatch/logGroup:LogGroup":
            group = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
            return group, state
        if t == "aws:sns/topic:Topic":
            topic = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"
            return state["arn"], state
        if t == "aws:scheduler/schedule:Schedule":
            schedule = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{schedule}"
            return schedule, state
        if t == "aws:kms/key:Key":
            key_id = "1234abcd-12ab-34cd-56ef-" + hashlib.sha256(name.encode()).hexdigest()[:12]
            state.update(keyId=key_id, arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}")
            return key_id, state
        if t == "aws:cloudwatch/eventRule:EventRule":
            rule = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"
            return rule, state
        if t == "aws:cloudwatch/metricAlarm:MetricAlarm":
            alarm = state.setdefault("name", auto)
            state["arn"] = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm}"
            return alarm, state
        return f"{auto}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        raise AssertionError(f"the program must not call provider functions: {args.token}")


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.types_by_urn: dict[str, str] = {}
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        self.types_by_urn[response.urn] = request.type
        self.requests[response.urn] = request
        return response


_in_apply: contextvars.ContextVar[bool] = contextvars.ContextVar("in_apply", default=False)


def run_program(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> ProgramRun:
    """Run __main__.py under mocks with ``config`` (project keys unqualified)."""
    mocks = FakeAws()
    monitor = RecordingMonitor(mocks)
    created_in_apply: list[str] = []

    # Detect resources declared inside apply(): wrap every apply callback so a
    # resource constructor can tell it runs inside one.
    original_apply = pulumi.Output.apply

    def apply(self, func, run_with_unknowns=False):
        def wrapped(value):
            token = _in_apply.set(True)
            try:
                return func(value)
            finally:
                _in_apply.reset(token)

        return original_apply(self, wrapped, run_with_unknowns)

    original_init = pulumi.CustomResource.__init__

    def init(self, t, name, *args, **kwargs):
        if _in_apply.get():
            created_in_apply.append(f"{t} {name}")
        original_init(self, t, name, *args, **kwargs)

    monkeypatch.setattr(pulumi.Output, "apply", apply)
    monkeypatch.setattr(pulumi.CustomResource, "__init__", init)

    full = {(k if ":" in k else f"{PROJECT}:{k}"): _raw(v) for k, v in config.items()}
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(full)
    # Pulumi's mocks use asyncio.get_event_loop(): after an asyncio.run() on this
    # thread (any earlier test in the process) there is none, so give it one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    stack = pulumi_settings.get_root_resource()
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__pulumi_program__")
        return pulumi.Output.from_input(dict(stack.outputs)).apply(exported.update)

    program()

    resources = []
    for urn, registration in monitor.resources.items():
        request = monitor.requests[urn]
        resources.append(
            Registered(
                type=request.type,
                name=request.name,
                inputs=_plain(pulumi.runtime.rpc.deserialize_properties(request.object)),
                state=_plain(registration.state),
                parent_type=monitor.types_by_urn.get(request.parent),
                dependencies=[monitor.types_by_urn.get(d, d) for d in request.dependencies],
                ignore_changes=list(request.ignoreChanges),
                aliases=[_alias_spec(a) for a in request.aliases],
            )
        )
    return ProgramRun(resources=resources, outputs=exported, created_in_apply=created_in_apply)


def _alias_spec(alias: Any) -> dict[str, Any]:
    """An alias the program registered (an engine alias spec), as a plain dict."""
    from google.protobuf.json_format import MessageToDict

    message = MessageToDict(alias)
    return message.get("spec", message)


def _raw(value: Any) -> str:
    """Config values as the Pulumi CLI hands them to a program: strings, JSON for lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@pytest.fixture(scope="session")
def dummy_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prebuilt archive for the `lambdaBundle` config key (the real build is
    tested in test_bundle.py; the program only needs a zip to point at)."""
    path = tmp_path_factory.mktemp("bundle") / "lambda.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("runtime/__init__.py", "")
    return path


def minimal_config(bundle: Path) -> dict[str, Any]:
    """What a user sets (the model) plus the prebuilt bundle; everything else defaults."""
    return {
        "aws:region": REGION,
        "projectVersionArn": VERSION_ARN,
        "projectArn": PROJECT_ARN,
        "lambdaBundle": str(bundle),
    }


@pytest.fixture
def base_config(dummy_bundle: Path) -> dict[str, Any]:
    return minimal_config(dummy_bundle)


@pytest.fixture(scope="module")
def program(dummy_bundle: Path) -> ProgramRun:
    """The program with default config, run once per test module."""
    with pytest.MonkeyPatch.context() as mp:
        return run_program(minimal_config(dummy_bundle), mp)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """pulumi_aws imports its own deprecated modules (BucketV2 & co.) when loaded;
    those warnings are about the library, not this program."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
            )
