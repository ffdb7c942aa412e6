"""The pipeline component: two in one program, existing stacks adopted by aliases,
the dashboard, the run notification topic and both encryption modes (mocks)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infra import outputs
from infra.config import KEYS_BY_NAME
from infra.dashboard import dashboard_body
from tests.infra.conftest import (
    ACCOUNT,
    PIPELINE,
    PROJECT_ARN,
    REGION,
    STACK,
    VERSION_ARN,
    ProgramRun,
    run_program,
)

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
QUEUE = "aws:sqs/queue:Queue"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
FUNCTION = "aws:lambda/function:Function"

# ------------------------------------------------------------------ two pipelines

COLORS_VERSION_ARN = (
    f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/colors/version/colors.v2/1748772000001"
)
COLORS_PROJECT_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/colors/1748700000001"

TWO_PIPELINES = """
import pulumi
from infra import config
from infra.pipeline import Pipeline, PipelineArgs

def settings(version_arn, project_arn):
    values = {{"projectVersionArn": version_arn, "projectArn": project_arn,
              "lambdaBundle": {bundle!r}, "aws:region": "{region}"}}
    return config.load(values.get)

shapes = Pipeline("shapes", PipelineArgs(config=settings({shapes!r}, {shapes_project!r})))
colors = Pipeline("colors", PipelineArgs(config=settings({colors!r}, {colors_project!r})))
for pipeline in (shapes, colors):
    for key, value in pipeline.outputs.items():
        pulumi.export(f"{{pipeline._name}}.{{key}}", value)
"""


@pytest.fixture(scope="module")
def two(dummy_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    import tests.infra.conftest as harness

    folder = tmp_path_factory.mktemp("two-pipelines")
    (folder / "__main__.py").write_text(
        TWO_PIPELINES.format(
            bundle=str(dummy_bundle),
            region=REGION,
            shapes=VERSION_ARN,
            shapes_project=PROJECT_ARN,
            colors=COLORS_VERSION_ARN,
            colors_project=COLORS_PROJECT_ARN,
        )
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(harness, "ROOT", folder)
        return run_program({"aws:region": REGION}, mp)


def test_two_pipelines_register_no_resource_twice(two: ProgramRun) -> None:
    """A URN is type + name (+ parent types): every (type, name) pair must be unique."""
    counts = Counter((r.type, r.name) for r in two.resources)
    assert [key for key, n in counts.items() if n > 1] == []
    assert counts[("rekognition-batch:pipeline:Pipeline", "shapes")] == 1
    assert counts[("rekognition-batch:pipeline:Pipeline", "colors")] == 1
    # Everything else is a child of one of the two, named after it.
    for r in two.resources:
        if r.type != "rekognition-batch:pipeline:Pipeline":
            assert r.name.startswith(("shapes-", "colors-")), r.name


def test_two_pipelines_have_distinct_physical_names(two: ProgramRun) -> None:
    def physical(type_: str, key: str) -> list[str]:
        return [r.state[key] for r in two.of_type(type_)]

    for type_, key in (
        ("aws:s3/bucket:Bucket", "bucket"),
        (QUEUE, "name"),
        (FUNCTION, "name"),
        ("aws:sfn/stateMachine:StateMachine", "name"),
        (LOG_GROUP, "name"),
        (TOPIC, "name"),
        ("aws:iam/role:Role", "name"),
        ("aws:scheduler/schedule:Schedule", "name"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "name"),
        (DASHBOARD, "dashboardName"),
    ):
        names = physical(type_, key)
        assert len(names) == len(set(names)) and names, (type_, names)
    assert sorted(physical(LOG_GROUP, "name")) == sorted(
        f"{group}/rekognition-batch-{STACK}-{pipeline}-{part}"
        for pipeline in ("shapes", "colors")
        for group, part in (("/aws/lambda", "inference"), ("/aws/vendedlogs/states", "workflow"))
    )
    services = {
        r.inputs["environment"]["variables"]["POWERTOOLS_SERVICE_NAME"]
        for r in two.of_type(FUNCTION)
    }
    assert services == {f"rekognition-batch-{STACK}-shapes", f"rekognition-batch-{STACK}-colors"}


def test_two_pipelines_each_wire_their_own_model(two: ProgramRun) -> None:
    assert two.outputs[f"shapes.{outputs.PROJECT_VERSION_ARN}"] == VERSION_ARN
    assert two.outputs[f"colors.{outputs.PROJECT_VERSION_ARN}"] == COLORS_VERSION_ARN
    shapes_sm = two.by_name("workflow", pipeline="shapes").state["arn"]
    colors_sm = two.by_name("workflow", pipeline="colors").state["arn"]
    assert two.outputs[f"shapes.{outputs.STATE_MACHINE_ARN}"] == shapes_sm != colors_sm


# ------------------------------------------------------------------ existing stacks


LEGACY = {
    "source": "rekbatch:storage:SecureBucket",
    "final": "rekbatch:storage:SecureBucket",
    "ingest": "rekbatch:ingest:IngestQueue",
    "inference": "rekbatch:inference:InferenceFunction",
    "workflow": "rekbatch:workflow:Workflow",
    "alarms": "rekbatch:alarms:Alarms",
}


def test_main_program_aliases_each_component_to_its_root_stack_name_and_old_type(
    program: ProgramRun,
) -> None:
    for name, old_type in LEGACY.items():
        (component,) = [r for r in program.resources if r.name == f"{PIPELINE}-{name}"
                        and r.type.startswith("rekognition-batch:")]  # fmt: skip
        assert component.aliases == [{"name": name, "type": old_type, "noParent": True}]


def test_children_of_adopted_components_follow_the_name_prefix_rule(program: ProgramRun) -> None:
    """Pulumi derives a child's alias from its parent's alias by swapping the parent's
    name prefix ("pipeline-source-public-access" -> "source-public-access"): that
    works only if every child's name starts with its component's name."""
    by_type_and_name = {(r.type, r.name): r for r in program.resources}
    components = {f"{PIPELINE}-{name}": t for name, t in LEGACY.items()}
    adopted = {name for (t, name) in by_type_and_name if t.startswith("rekognition-batch:")} & set(
        components
    )
    assert len(adopted) == len(LEGACY)
    children = [
        r for r in program.resources
        if not r.type.startswith("rekognition-batch:")
        and any(r.name.startswith(c) for c in adopted)
    ]  # fmt: skip
    assert len(children) >= 20
    for child in children:
        parent = max((c for c in adopted if child.name.startswith(c)), key=len)
        assert child.parent_type and child.parent_type.startswith("rekognition-batch:")
        assert child.name == parent or child.name.startswith(f"{parent}-"), child.name


def test_a_pipeline_created_by_another_program_adopts_nothing(two: ProgramRun) -> None:
    components = [r for r in two.resources if r.type.startswith("rekognition-batch:")]
    assert len(components) > 2
    assert [r.name for r in components if r.aliases] == []


# ------------------------------------------------------------------ dashboard

METRICS_NAMESPACE = "CustomLabelsPipeline"


def _references(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric row of every widget."""
    found = []
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            parts = [p for p in row if not isinstance(p, dict)]
            namespace, metric, dims = parts[0], parts[1], parts[2:]
            found.append((namespace, metric, dict(zip(dims[::2], dims[1::2], strict=True))))
    return found


def foreign_references(body: dict[str, Any], own: dict[str, dict[str, set[str]]]) -> list:
    """Metric rows whose namespace or any dimension value is not this stack's own."""
    bad = []
    for namespace, metric, dims in _references(body):
        allowed = own.get(namespace)
        if allowed is None or not dims:
            bad.append((namespace, metric, dims))
            continue
        for dim, value in dims.items():
            if value not in allowed.get(dim, set()):
                bad.append((namespace, metric, dims))
    return bad


def _own(run: ProgramRun, pipeline: str = PIPELINE) -> dict[str, dict[str, set[str]]]:
    return {
        "AWS/SQS": {
            "QueueName": {
                run.by_name("ingest", pipeline).state["name"],
                run.by_name("ingest-dlq", pipeline).state["name"],
            }
        },
        "AWS/Lambda": {"FunctionName": {run.by_name("inference", pipeline).state["name"]}},
        "AWS/States": {"StateMachineArn": {run.by_name("workflow", pipeline).state["arn"]}},
        "AWS/Rekognition": {"ProjectName": {"shapes"}, "VersionName": {"shapes.2025-06-01"}},
        METRICS_NAMESPACE: {"service": {f"rekognition-batch-{STACK}"}},
    }


def test_every_dashboard_widget_references_this_stacks_own_resources(program: ProgramRun) -> None:
    dashboard = program.by_name("dashboard")
    assert dashboard.inputs["dashboardName"] == f"rekognition-batch-{STACK}"
    body = json.loads(dashboard.inputs["dashboardBody"])
    assert foreign_references(body, _own(program)) == []
    metrics = {(ns, m) for ns, m, _ in _references(body)}
    for needed in (
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        (METRICS_NAMESPACE, "ImagesProcessed"),
        (METRICS_NAMESPACE, "ImagesFailed"),
        (METRICS_NAMESPACE, "ImagesRetried"),
        (METRICS_NAMESPACE, "DetectCustomLabelsLatency"),
        (METRICS_NAMESPACE, "DetectCustomLabelsThrottled"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Rekognition", "InServiceInferenceUnits"),
        ("AWS/States", "ExecutionsSucceeded"),
        ("AWS/States", "ExecutionsFailed"),
    ):
        assert needed in metrics, needed
    # The DLQ is on the backlog widget.
    dlq = program.by_name("ingest-dlq").state["name"]
    assert any(dims.get("QueueName") == dlq for _, _, dims in _references(body))


def test_the_dashboard_check_catches_another_stacks_queue(program: ProgramRun) -> None:
    body = dashboard_body(
        region=REGION,
        queue_name="someone-elses-queue",
        dlq_name=program.by_name("ingest-dlq").state["name"],
        function_name=program.by_name("inference").state["name"],
        state_machine_arn=program.by_name("workflow").state["arn"],
        project_name="shapes",
        version_name="shapes.2025-06-01",
        metrics_namespace=METRICS_NAMESPACE,
        service_name=f"rekognition-batch-{STACK}",
    )
    bad = foreign_references(body, _own(program))
    assert bad and all(dims.get("QueueName") == "someone-elses-queue" for _, _, dims in bad)


def test_two_pipelines_dashboards_each_see_only_their_own(two: ProgramRun) -> None:
    for pipeline, project, version in (
        ("shapes", "shapes", "shapes.2025-06-01"),
        ("colors", "colors", "colors.v2"),
    ):
        own = _own(two, pipeline)
        own["AWS/Rekognition"] = {"ProjectName": {project}, "VersionName": {version}}
        own[METRICS_NAMESPACE] = {"service": {f"rekognition-batch-{STACK}-{pipeline}"}}
        body = json.loads(two.by_name("dashboard", pipeline).inputs["dashboardBody"])
        assert foreign_references(body, own) == []


def test_dashboard_body_lays_widgets_on_the_grid_without_overlap() -> None:
    body = dashboard_body(
        region=REGION, queue_name="q", dlq_name="d", function_name="f",
        state_machine_arn="arn:aws:states:eu-west-1:1:stateMachine:s", project_name="p",
        version_name="v", metrics_namespace="N", service_name="s",
    )  # fmt: skip
    cells = [(w["x"], w["y"]) for w in body["widgets"]]
    assert len(cells) == len(set(cells)) >= 7
    assert all(w["x"] + w["width"] <= 24 for w in body["widgets"])
    assert all(w["properties"]["region"] == REGION for w in body["widgets"])


# ------------------------------------------------------------------ run notifications


def test_run_notification_topic_is_encrypted_and_tls_only(program: ProgramRun) -> None:
    topic = program.by_name("notifications-topic")
    assert topic.inputs["kmsMasterKeyId"] == "alias/aws/sns"
    policy = json.loads(program.by_name("notifications-tls-only").inputs["policy"])
    arn = topic.state["arn"]
    assert program.by_name("notifications-tls-only").inputs["arn"] == arn
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:*",
            "Resource": [arn],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def test_run_notification_email_only_when_configured(
    program: ProgramRun, base_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriptions = "aws:sns/topicSubscription:TopicSubscription"
    assert [r.name for r in program.of_type(subscriptions)] == []
    run = run_program({**base_config, "notifyEmail": "ops@example.com"}, monkeypatch)
    (sub,) = run.of_type(subscriptions)
    assert sub.name == f"{PIPELINE}-notifications-email"
    assert sub.inputs["endpoint"] == "ops@example.com" and sub.inputs["protocol"] == "email"
    assert sub.inputs["topic"] == run.by_name("notifications-topic").state["arn"]


def test_notify_outcome_keys_default_to_the_ones_worth_acting_on() -> None:
    assert KEYS_BY_NAME["notifyOnOutcomes"].default == ["drained", "max-run-reached", "failed"]
    assert KEYS_BY_NAME["notifyEmail"].default == ""


def test_the_workflow_builder_receives_the_notification_parameters(
    base_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import infra.workflow

    seen = []
    original = infra.workflow.render_definition

    def capture(params):
        seen.append(params)
        return original(params)

    monkeypatch.setattr(infra.workflow, "render_definition", capture)
    run = run_program({**base_config, "notifyOnOutcomes": "failed,nothing-to-do"}, monkeypatch)
    (params,) = seen
    assert params.notification_topic_arn == run.by_name("notifications-topic").state["arn"]
    assert params.event_bus_arn == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    assert params.notify_outcomes == ("failed", "nothing-to-do")
