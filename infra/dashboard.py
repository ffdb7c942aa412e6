"""A CloudWatch dashboard per pipeline: one place to look at backlog, throughput,
model latency, throttles, the model's inference units and the runs.

:func:`dashboard_body` is pure (plain names in, the dashboard body dict out), so
a test checks every widget against this stack's own resources without Pulumi.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from runtime.pipeline import (
    METRIC_DETECT_LATENCY,
    METRIC_FAILED,
    METRIC_PROCESSED,
    METRIC_RETRIED,
    METRIC_THROTTLED,
)

TYPE = "rekognition-batch:dashboard:Dashboard"
PERIOD_SECONDS = 60
WIDTH, HEIGHT = 12, 6  # two widgets per row (the grid is 24 wide)
# Powertools' EMF provider adds this dimension (POWERTOOLS_SERVICE_NAME) to every metric.
SERVICE_DIMENSION = "service"


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


def dashboard_body(
    *,
    region: str,
    queue_name: str,
    dlq_name: str,
    function_name: str,
    state_machine_arn: str,
    project_name: str,
    version_name: str,
    metrics_namespace: str,
    service_name: str,
) -> dict[str, Any]:
    """The dashboard body (CloudWatch's dashboard body structure)."""
    app = [metrics_namespace, None, SERVICE_DIMENSION, service_name]

    def metric(namespace: str, name: str, *dims: str, **options: Any) -> list[Any]:
        return [namespace, name, *dims, options] if options else [namespace, name, *dims]

    def own(name: str, **options: Any) -> list[Any]:
        row = [app[0], name, app[2], app[3]]
        return [*row, options] if options else row

    def sqs(name: str, queue: str, label: str) -> list[Any]:
        return metric("AWS/SQS", name, "QueueName", queue, label=label)

    widgets = [
        ("Backlog (messages)", "Maximum", [
            sqs("ApproximateNumberOfMessagesVisible", queue_name, "visible"),
            sqs("ApproximateNumberOfMessagesNotVisible", queue_name, "in flight"),
            sqs("ApproximateNumberOfMessagesDelayed", queue_name, "delayed"),
            sqs("ApproximateNumberOfMessagesVisible", dlq_name, "dead-letter queue"),
        ]),
        ("Age of the oldest message (s)", "Maximum", [
            sqs("ApproximateAgeOfOldestMessage", queue_name, "queue"),
            sqs("ApproximateAgeOfOldestMessage", dlq_name, "dead-letter queue"),
        ]),
        ("Images", "Sum", [
            own(METRIC_PROCESSED, label="processed"),
            own(METRIC_FAILED, label="failed (filed under failed/)"),
            own(METRIC_RETRIED, label="retried"),
        ]),
        ("Model latency (DetectCustomLabels, ms)", "p50", [
            own(METRIC_DETECT_LATENCY, stat="p50", label="p50"),
            own(METRIC_DETECT_LATENCY, stat="p90", label="p90"),
            own(METRIC_DETECT_LATENCY, stat="Maximum", label="max"),
        ]),
        ("Throttles", "Sum", [
            own(METRIC_THROTTLED, label="model throttled (retried in invocation)"),
            metric("AWS/Lambda", "Throttles", "FunctionName", function_name,
                   label="function throttled"),
            metric("AWS/Lambda", "Errors", "FunctionName", function_name,
                   label="function errors"),
        ]),
        ("Model inference units in service", "Average", [
            metric("AWS/Rekognition", "InServiceInferenceUnits", "ProjectName", project_name,
                   "VersionName", version_name, label=f"{project_name}/{version_name}"),
        ]),
        ("Workflow runs", "Sum", [
            metric("AWS/States", name, "StateMachineArn", state_machine_arn, label=label)
            for name, label in (
                ("ExecutionsSucceeded", "succeeded"),
                ("ExecutionsFailed", "failed"),
                ("ExecutionsTimedOut", "timed out"),
            )
        ]),
    ]  # fmt: skip
    body = []
    for index, (title, stat, metrics) in enumerate(widgets):
        body.append(
            {
                "type": "metric",
                "x": (index % 2) * WIDTH,
                "y": (index // 2) * HEIGHT,
                "width": WIDTH,
                "height": HEIGHT,
                "properties": {
                    "title": title,
                    "region": region,
                    "view": "timeSeries",
                    "stacked": False,
                    "stat": stat,
                    "period": PERIOD_SECONDS,
                    "metrics": metrics,
                },
            }
        )
    return {"widgets": body}


@dataclass
class DashboardArgs:
    dashboard_name: str  # unique per account and region: the pipeline's resource prefix
    region: str
    queue_name: pulumi.Input[str]
    dlq_name: pulumi.Input[str]
    function_name: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]
    project_name: str
    version_name: str
    metrics_namespace: str
    service_name: str


class Dashboard(pulumi.ComponentResource):
    """The pipeline's CloudWatch dashboard; ``url`` opens it in the console."""

    dashboard: aws.cloudwatch.Dashboard
    url: str

    def __init__(
        self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.dashboard = aws.cloudwatch.Dashboard(
            name,
            dashboard_name=args.dashboard_name,
            dashboard_body=pulumi.Output.all(
                args.queue_name, args.dlq_name, args.function_name, args.state_machine_arn
            ).apply(
                lambda a: json.dumps(
                    dashboard_body(
                        region=args.region,
                        queue_name=a[0],
                        dlq_name=a[1],
                        function_name=a[2],
                        state_machine_arn=a[3],
                        project_name=args.project_name,
                        version_name=args.version_name,
                        metrics_namespace=args.metrics_namespace,
                        service_name=args.service_name,
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = dashboard_url(args.region, args.dashboard_name)
        self.register_outputs({"dashboardName": self.dashboard.dashboard_name, "url": self.url})
