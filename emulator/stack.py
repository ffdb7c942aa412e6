"""The data path of the Pulumi stack, created on the local emulator.

``provision_data_path`` makes what ``infra/`` declares for the data path
(source and final buckets, queue + DLQ with redrive, queue policy, S3
ObjectCreated notifications per image suffix in both letter cases, the
function's role, the function with its environment from
``runtime.settings.Settings.to_env``, and the event source mapping created
DISABLED with ReportBatchItemFailures) using the same shared pieces the
program uses (``infra.config``, ``infra.policies``, ``infra.outputs``), and
returns the outputs under the stack output names. emulator/workflow.py adds
the state machine on top.

Names are deterministic (``rekbatch-<stack>-...``) instead of Pulumi's
random suffixes, so a second call for the same stack fails like a name
clash would, and tests can predict them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

from emulator.model import project_arn_of, version_name_of
from infra import outputs as out
from infra import policies
from infra.config import (
    DLQ_RETENTION_SECONDS,
    LAMBDA_RUNTIME,
    QUEUE_RETENTION_SECONDS,
    handler_concurrency,
    retry_visibility,
    visibility_timeout,
)
from infra.contract import DEFAULT_RUNS_PREFIX, SCHEDULE_INPUT, notification_suffixes
from infra.statemachine import DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR
from runtime.settings import Settings

HANDLER = "runtime.handler.lambda_handler"  # as infra/inference.py deploys it
PLACEHOLDER_MODULE = (
    '"""Placeholder: the local emulator runs runtime.handler in-process."""\n'
    "def lambda_handler(event, context):\n"
    "    raise RuntimeError('run through emulator.poller')\n"
)


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("runtime/handler.py", PLACEHOLDER_MODULE)
        zf.writestr("runtime/__init__.py", "")
    return buf.getvalue()


def provision_data_path(
    aws: Any,
    *,
    project_version_arn: str,
    stack: str = "dev",
    min_confidence: float = 50.0,
    max_results: int = 0,
    handler_max_concurrency: int | None = None,
    failed_prefix: str = "failed/",
    image_suffixes: Sequence[str] = (".jpg", ".jpeg", ".png"),
    max_receive_count: int = 3,
    batch_size: int = 10,
    batching_window: int = 1,
    maximum_concurrency: int = 2,
    lambda_timeout_seconds: int = 60,
    visibility_timeout_seconds: int | None = None,
    memory_mb: int = 1024,
    runs_prefix: str = DEFAULT_RUNS_PREFIX,
    min_inference_units: int = 1,
    price_per_inference_unit_hour: float = DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR,
    register_model: bool = True,
    retry_visibility_seconds: tuple[int, int] | None = None,
    label_thresholds: dict[str, float] | None = None,
    alert_labels: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Create the data path on ``aws`` (a started LocalAws); return the stack outputs.

    ``visibility_timeout_seconds`` defaults to AWS's rule for SQS event
    sources (6 x function timeout + batching window, as infra/config/stack.py);
    tests lower it to see failed messages come back quickly.
    ``retry_visibility_seconds`` is the handler's (base, cap) retry visibility;
    by default what the stack sets for this queue (infra/config/stack.py).
    ``register_model`` adds the version to the model emulator
    (TRAINING_COMPLETED) unless it is already there. ``label_thresholds`` and
    ``alert_labels`` are the config keys labelThresholds and alertLabels; with
    alerts, the function's role may put them on the default bus and, emulator
    only, a rule sends them to an SQS queue (output ``alertQueueUrl``) that the
    demo and tests read.
    """
    if not 2 <= maximum_concurrency <= 1000:
        raise ValueError("maximum_concurrency must be 2..1000 (Lambda's ScalingConfig range)")
    region, account = aws.region, aws.account_id
    prefix = f"rekbatch-{stack}"
    source_bucket, final_bucket = f"{prefix}-source-{account}", f"{prefix}-final-{account}"
    settings = Settings(
        final_bucket=final_bucket,
        project_version_arn=project_version_arn,
        min_confidence=min_confidence,
        max_results=max_results,
        max_concurrency=handler_max_concurrency or handler_concurrency(batch_size),
        failed_prefix=failed_prefix,
        image_suffixes=tuple(s.lower() for s in image_suffixes),
        label_thresholds=dict(label_thresholds or {}),
        alert_labels=dict(alert_labels or {}),
    )
    if retry_visibility_seconds is None:
        retry_visibility_seconds = retry_visibility(
            visibility_timeout_seconds
            or visibility_timeout(lambda_timeout_seconds, batching_window)
        )
    settings = dataclasses.replace(
        settings,
        retry_visibility_base_seconds=retry_visibility_seconds[0],
        retry_visibility_max_seconds=retry_visibility_seconds[1],
    )
    # Validate exactly as the function's cold start would.
    settings = Settings.from_env(settings.to_env())
    if register_model:
        try:
            aws.model.status(project_version_arn)
        except KeyError:
            aws.model.create(project_version_arn)

    s3, sqs, iam, lam = (aws.client(name) for name in ("s3", "sqs", "iam", "lambda"))
    for bucket in (source_bucket, final_bucket):
        create: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**create)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )

    dlq_url = sqs.create_queue(
        QueueName=f"{prefix}-dlq",
        Attributes={
            "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
            "SqsManagedSseEnabled": "true",
        },
    )["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    visibility = visibility_timeout_seconds or visibility_timeout(
        lambda_timeout_seconds, batching_window
    )
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-queue",
        Attributes={
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "SqsManagedSseEnabled": "true",
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "RedriveAllowPolicy": json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]}
            )
        },
    )
    source_arn = f"arn:aws:s3:::{source_bucket}"
    final_arn = f"arn:aws:s3:::{final_bucket}"
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={"Policy": json.dumps(policies.queue_policy(queue_arn, source_arn, account))},
    )
    s3.put_bucket_notification_configuration(
        Bucket=source_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"image{suffix}",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
                }
                for suffix in notification_suffixes(settings.image_suffixes)
            ]
        },
    )

    function_name = f"{prefix}-inference"
    log_group = f"/aws/lambda/{function_name}"
    role = iam.create_role(
        RoleName=f"{function_name}-role",
        AssumeRolePolicyDocument=json.dumps(policies.lambda_assume_role_policy()),
        Description="Inference Lambda: label images from the queue with the model version",
    )["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName=f"{function_name}-policy",
        PolicyDocument=json.dumps(
            policies.function_policy(
                source_bucket_arn=source_arn,
                final_bucket_arn=final_arn,
                queue_arn=queue_arn,
                project_version_arn=project_version_arn,
                log_group_arn=f"arn:aws:logs:{region}:{account}:log-group:{log_group}",
                alert_event_bus_arn=(
                    policies.default_event_bus_arn("aws", region, account)
                    if settings.alert_labels
                    else None
                ),
            )
        ),
    )
    lam.create_function(
        FunctionName=function_name,
        Runtime=LAMBDA_RUNTIME,
        Role=role["Arn"],
        Handler=HANDLER,
        Code={"ZipFile": _placeholder_zip()},
        Timeout=lambda_timeout_seconds,
        MemorySize=memory_mb,
        Environment={"Variables": settings.to_env()},
    )
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=function_name,
        Enabled=False,
        BatchSize=batch_size,
        MaximumBatchingWindowInSeconds=batching_window,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": maximum_concurrency},
    )

    alert_outputs = (
        {out.ALERT_QUEUE_URL: _alert_inbox(aws, prefix)} if settings.alert_labels else {}
    )
    return {
        **alert_outputs,
        out.SOURCE_BUCKET: source_bucket,
        out.FINAL_BUCKET: final_bucket,
        out.QUEUE_URL: queue_url,
        out.QUEUE_ARN: queue_arn,
        out.DLQ_URL: dlq_url,
        out.FUNCTION_NAME: function_name,
        out.EVENT_SOURCE_MAPPING_UUID: mapping["UUID"],
        out.PROJECT_ARN: project_arn_of(project_version_arn),
        out.PROJECT_VERSION_ARN: project_version_arn,
        out.VERSION_NAME: version_name_of(project_version_arn),
        out.REGION: region,
        out.MIN_INFERENCE_UNITS: min_inference_units,
        out.PRICE_PER_INFERENCE_UNIT_HOUR: price_per_inference_unit_hour,
        out.RUNS_PREFIX: runs_prefix,
        out.FAILED_PREFIX: settings.failed_prefix,
        out.RESULTS_PREFIX: settings.results_prefix,
        out.UPLOAD_COMMAND: (
            f"aws --endpoint-url {aws.endpoint} s3 cp ./images s3://{source_bucket}/ --recursive"
        ),
        out.CONSOLE_URLS: {},
    }


def provision_notifications(aws: Any, *, stack: str = "dev") -> dict[str, str]:
    """The stack's run notification topic (as infra/notifications.py declares it)
    and, emulator only, an SQS queue subscribed to it, so tests and the demo can
    read what the workflow published (cli/notifications.py)."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    prefix = f"rekbatch-{stack}"
    topic_arn = sns.create_topic(Name=f"{prefix}-notifications")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic_arn,
        AttributeName="Policy",
        AttributeValue=json.dumps(policies.tls_only_topic_policy(topic_arn, aws.account_id)),
    )
    inbox_url = sqs.create_queue(QueueName=f"{prefix}-notifications-inbox")["QueueUrl"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(sqs, inbox_url))
    return {out.NOTIFICATION_TOPIC_ARN: topic_arn, out.NOTIFICATION_QUEUE_URL: inbox_url}


def _alert_inbox(aws: Any, prefix: str) -> str:
    """Emulator only: an EventBridge rule on the label alerts (the pattern of
    infra/alerts.py) -> an SQS queue, so the demo and tests can read the alerts."""
    from infra.alerts import event_pattern, rule_name

    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName=f"{prefix}-alerts-inbox")["QueueUrl"]
    name = rule_name(prefix)
    events.put_rule(Name=name, EventPattern=json.dumps(event_pattern()))
    events.put_targets(Rule=name, Targets=[{"Id": "inbox", "Arn": _queue_arn(sqs, url)}])
    return str(url)


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def provision_operations(
    aws: Any,
    outputs: dict[str, Any],
    *,
    stack: str = "dev",
    schedule: str | None = None,
    timezone: str | None = None,
) -> dict[str, str]:
    """What infra/ adds around the pipeline for the people who run it: the alarm
    topic (with a confirmed subscriber, an SQS queue here, an e-mail on AWS),
    the function's log group, and the EventBridge Scheduler schedule record
    (as infra/workflow.py declares it, ENABLED; emulator/schedule.py is what
    fires it locally). ``rekbatch doctor`` reads all three."""
    from infra.config import KEYS_BY_NAME

    sns, sqs, logs = aws.client("sns"), aws.client("sqs"), aws.client("logs")
    prefix = f"rekbatch-{stack}"
    topic_arn = sns.create_topic(Name=f"{prefix}-alarms")["TopicArn"]
    inbox_url = sqs.create_queue(QueueName=f"{prefix}-alarms-inbox")["QueueUrl"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(sqs, inbox_url))
    logs.create_log_group(logGroupName=f"/aws/lambda/{outputs[out.FUNCTION_NAME]}")
    iam = aws.client("iam")
    role_arn = iam.create_role(
        RoleName=f"{prefix}-scheduler-role",
        AssumeRolePolicyDocument=json.dumps(
            policies.assume_role_policy("scheduler.amazonaws.com", aws.account_id)
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{prefix}-scheduler-role",
        PolicyName="start-the-workflow",
        PolicyDocument=json.dumps(policies.scheduler_policy(outputs[out.STATE_MACHINE_ARN])),
    )
    aws.client("scheduler").create_schedule(
        Name=f"{prefix}-schedule",
        ScheduleExpression=schedule or str(KEYS_BY_NAME["schedule"].default),
        ScheduleExpressionTimezone=timezone or str(KEYS_BY_NAME["scheduleTimezone"].default),
        FlexibleTimeWindow={"Mode": "OFF"},
        State="ENABLED",
        Target={
            "Arn": outputs[out.STATE_MACHINE_ARN],
            "RoleArn": role_arn,
            "Input": json.dumps(dict(SCHEDULE_INPUT)),
        },
    )
    return {out.ALARM_TOPIC_ARN: topic_arn}
