"""``rekbatch doctor``'s checks of the stack around the workflow: what makes a
first run work besides the state machine itself. Each returns rows (cli/doctor.py).

- the source bucket notifies the queue for every configured image suffix;
- the event source mapping exists, is Disabled (between runs), points at the
  function and reports batch item failures;
- the model version exists and can be started (or is RUNNING: whose it is);
- the function's role may make the function's calls (IAM simulated);
- the schedule is ENABLED, its role may start the state machine, and when it
  fires next in its time zone;
- the alarm topic has a confirmed subscription; the DLQ is empty; the
  function logged no errors lately (warnings: the stack works, but look).
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra import outputs as out
from infra.contract import notification_suffixes
from runtime.settings import DEFAULTS, IMAGE_SUFFIXES

from .awsmodel import Authorisation
from .checkrows import FAIL, NOT_CHECKABLE, PASS, WARN, Row, aws_failure, simulate, worst
from .errors import UnexpectedResponse, reading
from .operations import any_execution_running

# Statuses the workflow starts from (infra/statemachine/model.py); FAILED is a
# failed start, which it retries within its bound.
STARTABLE = {"STOPPED", "TRAINING_COMPLETED", "COPYING_COMPLETED"}
SETTLING = {"STARTING", "STOPPING"}
LOG_LOOKBACK = timedelta(days=7)
# CloudWatch Logs filter terms of a function error (one term per query).
ERROR_TERMS = ("ERROR", '"Task timed out"')

Check = Callable[[], list[Row]]


def _needs(stack: Any, check: str, *names: str) -> Row | None:
    missing = [name for name in names if not stack.get(name)]
    if missing:
        return Row(
            check,
            NOT_CHECKABLE,
            f"stack output(s) {', '.join(missing)} unknown",
            "pass them (--outputs, flags) or redeploy with this version (`pulumi up`)",
        )
    return None


def _guard(check: str, body: Callable[[], Row]) -> Check:
    def run() -> list[Row]:
        try:
            return [body()]
        except (ClientError, BotoCoreError) as exc:
            return [Row(check, NOT_CHECKABLE, aws_failure(exc, check), "fix the access and retry")]
        except UnexpectedResponse as exc:
            return [Row(check, NOT_CHECKABLE, f"unexpected response from AWS ({exc})")]

    return run


def _queue_arn(aws: Any, stack: Any) -> str:
    known = stack.get(out.QUEUE_ARN)
    if known:
        return str(known)
    answer = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.get(out.QUEUE_URL), AttributeNames=["QueueArn"]
    )
    with reading("GetQueueAttributes"):
        return str(answer["Attributes"]["QueueArn"])


def configured_suffixes(aws: Any, stack: Any) -> tuple[str, ...]:
    """The image suffixes the deployed function takes (its environment)."""
    variables: Mapping[str, str] = {}
    if stack.get(out.FUNCTION_NAME):
        config = aws.client("lambda").get_function_configuration(
            FunctionName=stack.get(out.FUNCTION_NAME)
        )
        variables = (config.get("Environment") or {}).get("Variables") or {}
    text = variables.get(IMAGE_SUFFIXES) or DEFAULTS[IMAGE_SUFFIXES]
    return tuple(s.strip().lower() for s in text.split(",") if s.strip())


def check_notification(aws: Any, stack: Any) -> Row:
    check = "source bucket notifies the queue"
    missing = _needs(stack, check, out.SOURCE_BUCKET, out.QUEUE_URL)
    if missing:
        return missing
    bucket, queue_arn = stack.get(out.SOURCE_BUCKET), _queue_arn(aws, stack)
    config = aws.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    covered = set()
    for entry in config.get("QueueConfigurations") or []:
        if entry.get("QueueArn") != queue_arn:
            continue
        if not any(str(e).startswith("s3:ObjectCreated:") for e in entry.get("Events") or []):
            continue
        rules = ((entry.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
        suffixes = [r.get("Value") for r in rules if str(r.get("Name")).lower() == "suffix"]
        prefixes = [r.get("Value") for r in rules if str(r.get("Name")).lower() == "prefix"]
        if prefixes and any(prefixes):
            continue  # only part of the bucket
        covered.update(suffixes or ["*"])
    wanted = notification_suffixes(configured_suffixes(aws, stack))
    missing_suffixes = [s for s in wanted if s not in covered and "*" not in covered]
    if missing_suffixes:
        return Row(
            check,
            FAIL,
            f"no ObjectCreated notification to {queue_arn} for {', '.join(missing_suffixes)}: "
            "those uploads would never be queued",
            "`pulumi up` restores it (S3 keeps one notification configuration per bucket: "
            "another tool may have replaced it); queue what was missed with `rekbatch backfill`",
        )
    return Row(check, PASS, f"ObjectCreated -> queue for {', '.join(wanted)}")


def check_mapping(aws: Any, stack: Any) -> Row:
    check = "event source mapping"
    missing = _needs(stack, check, out.EVENT_SOURCE_MAPPING_UUID, out.QUEUE_URL, out.FUNCTION_NAME)
    if missing:
        return missing
    uuid = str(stack.get(out.EVENT_SOURCE_MAPPING_UUID))
    try:
        mapping = aws.client("lambda").get_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        return Row(
            check,
            FAIL,
            aws_failure(exc, f"mapping {uuid}"),
            "`pulumi up` recreates it (the stack outputs may be stale)",
        )
    problems, advice = [], []
    state = mapping.get("State")
    running = _run_in_progress(aws, stack)
    if state != "Disabled" and not running:
        problems.append(
            f"it is {state} with no run in progress: the function drains the queue "
            "while the model is stopped, and images walk to the DLQ"
        )
        advice.append(f"`aws lambda update-event-source-mapping --uuid {uuid} --no-enabled`")
    if not str(mapping.get("FunctionArn", "")).endswith(
        f":function:{stack.get(out.FUNCTION_NAME)}"
    ):
        problems.append(
            f"it invokes {mapping.get('FunctionArn')}, not {stack.get(out.FUNCTION_NAME)}"
        )
        advice.append("`pulumi up`")
    if mapping.get("EventSourceArn") != _queue_arn(aws, stack):
        problems.append(f"it reads {mapping.get('EventSourceArn')}, not the stack's queue")
        advice.append("`pulumi up`")
    if "ReportBatchItemFailures" not in (mapping.get("FunctionResponseTypes") or []):
        problems.append("no ReportBatchItemFailures: one failed image would retry its whole batch")
        advice.append("`pulumi up`")
    if problems:
        return Row(check, FAIL, "; ".join(problems), "; ".join(dict.fromkeys(advice)))
    note = " (a run is in progress)" if running else ""
    return Row(
        check,
        PASS,
        f"{state}{note}, function {stack.get(out.FUNCTION_NAME)}, ReportBatchItemFailures",
    )


def _run_in_progress(aws: Any, stack: Any) -> bool:
    arn = stack.get(out.STATE_MACHINE_ARN)
    if not arn:
        return False
    return any_execution_running(aws.client("stepfunctions"), arn)


def check_model(aws: Any, stack: Any, ownership: str | None) -> Row:
    check = "model version"
    missing = _needs(stack, check, out.PROJECT_ARN, out.VERSION_NAME)
    if missing:
        return missing
    project, version = stack.get(out.PROJECT_ARN), stack.get(out.VERSION_NAME)
    advice = (
        "check projectVersionArn (`pulumi config get projectVersionArn`), the account and region"
    )
    try:
        found = (
            aws.client("rekognition")
            .describe_project_versions(ProjectArn=project, VersionNames=[version])
            .get("ProjectVersionDescriptions")
            or []
        )
    except ClientError as exc:
        return Row(check, FAIL, aws_failure(exc, f"model project {project}"), advice)
    if not found:
        return Row(check, FAIL, f"version {version} not found in {project}", advice)
    status = str(found[0].get("Status"))
    message = found[0].get("StatusMessage") or ""
    if status in STARTABLE:
        return Row(check, PASS, f"{version} is {status}: a run can start it")
    if status == "RUNNING":
        if ownership == "shared":
            return Row(
                check,
                PASS,
                f"{version} is RUNNING (ownership shared: runs use it and "
                "leave it running; whoever started it stops it)",
            )
        return Row(
            check,
            WARN,
            f"{version} is RUNNING and billed now (ownership "
            f"{ownership or 'unknown'}: the next run stops it when it ends)",
            "stop it if nobody uses it: `aws rekognition stop-project-version`",
        )
    if status == "FAILED":
        return Row(
            check,
            WARN,
            f"{version} is FAILED ({message}): a run will try to start it",
            "see why the last start failed before the schedule retries",
        )
    if status in SETTLING:
        return Row(check, WARN, f"{version} is {status}", "check again in a few minutes")
    return Row(
        check,
        FAIL,
        f"{version} is {status} ({message}): a run can not start it",
        "train or copy a version that completes, and point projectVersionArn at it",
    )


def check_schedule(aws: Any, stack: Any, now: datetime | None = None) -> Row:
    check = "schedule"
    missing = _needs(stack, check, out.STATE_MACHINE_ARN)
    if missing:
        return missing
    arn = stack.get(out.STATE_MACHINE_ARN)
    scheduler = aws.client("scheduler")
    summary = None
    for page in scheduler.get_paginator("list_schedules").paginate():
        for item in page.get("Schedules") or []:
            if (item.get("Target") or {}).get("Arn") == arn:
                summary = item
    if summary is None:
        return Row(
            check,
            FAIL,
            "no EventBridge Scheduler schedule starts this state machine",
            "`pulumi up` creates it; meanwhile `rekbatch run` starts a run by hand",
        )
    with reading("ListSchedules"):
        name, group = str(summary["Name"]), str(summary.get("GroupName") or "default")
    found = scheduler.get_schedule(Name=name, GroupName=group)
    expression = found.get("ScheduleExpression", "")
    zone = found.get("ScheduleExpressionTimezone") or "UTC"
    where = f"{name}: {expression} in {zone}"
    if found.get("State") != "ENABLED":
        return Row(
            check,
            WARN,
            f"{where} is {found.get('State')}: no run starts by itself",
            "`pulumi up` enables it, or start runs with `rekbatch run`",
        )
    moment = next_fire(expression, zone, found.get("CreationDate"), now or datetime.now(UTC))
    if isinstance(moment, str):
        return Row(check, WARN, f"{where}: {moment}", "check the schedule expression")
    role = (found.get("Target") or {}).get("RoleArn")
    if role:
        verdict, text = simulate(
            aws.client("iam"), str(role), Authorisation("states:StartExecution", str(arn))
        )
        if verdict != PASS:
            return Row(
                check,
                verdict,
                f"{where}: the schedule's role: {text}; no run would start",
                f"grant states:StartExecution on the state machine to {role} "
                "(infra/policies.py scheduler_policy), then `pulumi up`",
            )
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    utc = "" if local.utcoffset() == timedelta(0) else f" ({moment.astimezone(UTC):%H:%M} UTC)"
    return Row(check, PASS, f"{where}, ENABLED, next run {local:%Y-%m-%d %H:%M %Z}{utc}")


def next_fire(expression: str, zone: str, created: Any, now: datetime) -> datetime | str:
    """When the schedule fires next, or why that can not be told."""
    from emulator.schedule import ScheduleError, next_time, parse

    try:
        parsed = parse(expression)
        since = created if isinstance(created, datetime) else now
        found = next_time(parsed, zone, now, since)
    except (ScheduleError, zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        return f"can not tell the next time ({exc})"
    return found if found is not None else "it never fires again"


# What the inference function calls (runtime/pipeline.py, runtime/visibility.py):
# read and delete the image, write the result and the copy, detect with the model
# version, consume the queue and shorten a retried record's visibility.
FUNCTION_SOURCE_ACTIONS = ("s3:GetObject", "s3:DeleteObject")
FUNCTION_FINAL_ACTIONS = ("s3:PutObject", "s3:GetObject")
FUNCTION_QUEUE_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)
SAMPLE_KEY = "rekbatch-doctor/sample.png"  # an object key to ask IAM about


def function_authorisations(stack: Any, queue_arn: str) -> list[Authorisation]:
    partition = "aws-cn" if str(stack.region or "").startswith("cn-") else "aws"
    source = f"arn:{partition}:s3:::{stack.get(out.SOURCE_BUCKET)}/{SAMPLE_KEY}"
    final = f"arn:{partition}:s3:::{stack.get(out.FINAL_BUCKET)}/{SAMPLE_KEY}.json"
    wanted = [Authorisation(a, source) for a in FUNCTION_SOURCE_ACTIONS]
    wanted += [Authorisation(a, final) for a in FUNCTION_FINAL_ACTIONS]
    wanted.append(
        Authorisation("rekognition:DetectCustomLabels", str(stack.get(out.PROJECT_VERSION_ARN)))
    )
    wanted += [Authorisation(a, queue_arn) for a in FUNCTION_QUEUE_ACTIONS]
    key = stack.get(out.KMS_KEY_ARN)
    if key:
        for service in ("s3", "sqs"):
            via = {"kms:ViaService": f"{service}.{stack.region}.amazonaws.com"}
            wanted += [
                Authorisation(a, str(key), via) for a in ("kms:Decrypt", "kms:GenerateDataKey")
            ]
    return wanted


def check_function_role(aws: Any, stack: Any) -> Row:
    """The function's role may do what the function calls, on the stack's resources:
    a missing grant would fail every image of the first run with the model billed."""
    check = "function role"
    missing = _needs(
        stack,
        check,
        out.FUNCTION_NAME,
        out.SOURCE_BUCKET,
        out.FINAL_BUCKET,
        out.QUEUE_URL,
        out.PROJECT_VERSION_ARN,
    )
    if missing:
        return missing
    config = aws.client("lambda").get_function_configuration(
        FunctionName=stack.get(out.FUNCTION_NAME)
    )
    with reading("GetFunctionConfiguration"):
        role = str(config["Role"])
    iam = aws.client("iam")
    result, problems = PASS, []
    wanted = function_authorisations(stack, _queue_arn(aws, stack))
    for need in wanted:
        verdict, text = simulate(iam, role, need)
        result = worst(result, verdict)
        if verdict != PASS:
            problems.append(text)
    if problems:
        advice = (
            f"grant what is missing to {role.rsplit('/', 1)[-1]} (infra/policies.py "
            "function_policy), then `pulumi up`"
            if result == FAIL
            else "allow iam:SimulatePrincipalPolicy to your identity, or check by hand"
        )
        return Row(check, result, "; ".join(problems), advice)
    return Row(
        check, PASS, f"{role.rsplit('/', 1)[-1]} may make the function's {len(wanted)} calls"
    )


def check_alarm_topic(aws: Any, stack: Any) -> Row:
    check = "alarm subscription"
    missing = _needs(stack, check, out.ALARM_TOPIC_ARN)
    if missing:
        return missing
    topic = stack.get(out.ALARM_TOPIC_ARN)
    found: list[Mapping[str, Any]] = []
    for page in (
        aws.client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
    ):
        found += page.get("Subscriptions") or []
    confirmed = [s for s in found if str(s.get("SubscriptionArn", "")).startswith("arn:")]
    pending = [s for s in found if s not in confirmed]
    if confirmed:
        kinds = ", ".join(sorted({str(s.get("Protocol")) for s in confirmed}))
        return Row(check, PASS, f"{len(confirmed)} confirmed ({kinds})")
    if pending:
        who = ", ".join(str(s.get("Endpoint")) for s in pending)
        return Row(
            check,
            WARN,
            f"not confirmed yet: {who}: alarms reach nobody",
            "click the link in the mail from AWS Notifications",
        )
    return Row(
        check,
        WARN,
        "no subscription: alarms (model left running, DLQ, failed runs) reach nobody",
        "`pulumi config set alarmEmail you@example.com` and `pulumi up`",
    )


def check_dlq(aws: Any, stack: Any) -> Row:
    check = "dead-letter queue"
    missing = _needs(stack, check, out.DLQ_URL)
    if missing:
        return missing
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.get(out.DLQ_URL),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    with reading("GetQueueAttributes"):
        count = sum(int(v) for v in attributes["Attributes"].values())
    if count:
        return Row(
            check,
            WARN,
            f"{count} message(s): images that failed repeatedly",
            "inspect them, fix the cause, then redrive the DLQ to the queue",
        )
    return Row(check, PASS, "empty")


def check_function_errors(aws: Any, stack: Any, now: datetime | None = None) -> Row:
    check = "function errors (7 days)"
    missing = _needs(stack, check, out.FUNCTION_NAME)
    if missing:
        return missing
    name = str(stack.get(out.FUNCTION_NAME))
    config = aws.client("lambda").get_function_configuration(FunctionName=name)
    group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"
    logs = aws.client("logs")
    start = int(((now or datetime.now(UTC)) - LOG_LOOKBACK).timestamp() * 1000)
    events: list[Mapping[str, Any]] = []
    try:
        for term in ERROR_TERMS:
            events += (
                logs.filter_log_events(
                    logGroupName=group, startTime=start, filterPattern=term, limit=5
                ).get("events")
                or []
            )
    except ClientError as exc:
        if "ResourceNotFound" in str(exc):
            return Row(
                check,
                WARN,
                f"log group {group} does not exist",
                "`pulumi up` creates it (the function's logs would go nowhere)",
            )
        raise
    if events:
        last = max(events, key=lambda e: int(e.get("timestamp", 0)))
        return Row(
            check,
            WARN,
            f"{len(events)}+ error line(s) in {group}; last: {_one_line(last.get('message'))}",
            f"read {group} before the next run",
        )
    return Row(check, PASS, f"none in {group}")


def _one_line(text: Any, limit: int = 160) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


def ownership_of(definition: Mapping[str, Any] | None) -> str | None:
    """The stack's model ownership, as the definition's run document carries it
    (``config.ownership`` of its first state)."""
    if not definition:
        return None
    text = json.dumps(definition)
    for value in ("exclusive", "shared"):
        if f'"ownership": "{value}"' in text:
            return value
    return None


def stack_checks(aws: Any, stack: Any, definition: Mapping[str, Any] | None = None) -> list[Check]:
    ownership = ownership_of(definition)
    return [
        _guard("source bucket notifies the queue", lambda: check_notification(aws, stack)),
        _guard("event source mapping", lambda: check_mapping(aws, stack)),
        _guard("model version", lambda: check_model(aws, stack, ownership)),
        _guard("function role", lambda: check_function_role(aws, stack)),
        _guard("schedule", lambda: check_schedule(aws, stack)),
        _guard("alarm subscription", lambda: check_alarm_topic(aws, stack)),
        _guard("dead-letter queue", lambda: check_dlq(aws, stack)),
        _guard("function errors (7 days)", lambda: check_function_errors(aws, stack)),
    ]
