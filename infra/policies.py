"""IAM and resource policies as pure functions: plain ARNs in, a policy dict out.

The components call these inside ``Output.all(...).apply`` and serialise the
result with ``json.dumps``; tests call them directly and lint them with
``parliament``. Each statement grants one thing to one resource (the ``Sid``
says what for). ``"Resource": "*"`` appears only where the service authorization
reference defines no resource type for the action; the comment says which.

Resource types checked against the Service Authorization Reference:
- rekognition:DetectCustomLabels, StartProjectVersion, StopProjectVersion ->
  ``projectversion`` (arn:...:project/NAME/version/VERSION/TS)
- rekognition:DescribeProjectVersions -> ``project`` (arn:...:project/NAME/TS)
- lambda:UpdateEventSourceMapping -> ``eventSourceMapping``
  (arn:...:event-source-mapping:UUID)
- states:ListExecutions -> ``stateMachine``; states:StartExecution -> ``stateMachine``
- logs:CreateLogDelivery & co. (vended log delivery, used by Step Functions
  logging) -> no resource type: "*" is the only accepted value.
"""

from __future__ import annotations

from typing import Any

from infra.contract import EVENT_SOURCE
from runtime import alerts

Policy = dict[str, Any]
VERSION = "2012-10-17"

# What the inference function calls (runtime/): the contract these grants cover.
FUNCTION_S3_SOURCE_ACTIONS = ("s3:GetObject", "s3:GetObjectTagging", "s3:DeleteObject")
FUNCTION_S3_FINAL_ACTIONS = ("s3:PutObject", "s3:PutObjectTagging", "s3:GetObject")
FUNCTION_SQS_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# The handler's own call (runtime/visibility.py): records to retry come back in
# seconds. ChangeMessageVisibilityBatch is authorised per entry as this action.
FUNCTION_SQS_RETRY_ACTIONS = ("sqs:ChangeMessageVisibility",)

# Step Functions logging goes through CloudWatch Logs vended delivery; these
# actions have no resource-level permissions (AWS: "IAM policies for logging to
# CloudWatch Logs" in the Step Functions developer guide).
STATES_LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)


def _doc(*statements: dict[str, Any]) -> Policy:
    return {"Version": VERSION, "Statement": list(statements)}


def _allow(
    sid: str, actions: tuple[str, ...] | list[str], resources: list[str] | str
) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
    }


def objects_arn(bucket_arn: str, prefix: str = "") -> str:
    """ARN of the objects under ``prefix`` in a bucket (``arn:aws:s3:::b/prefix*``)."""
    return f"{bucket_arn}/{prefix}*"


def log_streams_arn(log_group_arn: str) -> str:
    """Log streams of a log group. pulumi-aws's LogGroup.arn has no trailing ``:*``."""
    return f"{log_group_arn.removesuffix(':*')}:*"


def event_source_mapping_arn(partition: str, region: str, account_id: str, uuid: str) -> str:
    return f"arn:{partition}:lambda:{region}:{account_id}:event-source-mapping:{uuid}"


def assume_role_policy(service: str, account_id: str, source_arn: str | None = None) -> Policy:
    """Trust policy for an AWS service principal, with the confused-deputy guard
    (aws:SourceAccount, and aws:SourceArn where the caller is a known resource)."""
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return _doc(
        {
            "Sid": "AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }
    )


def lambda_assume_role_policy() -> Policy:
    """Lambda's execution-role trust policy, exactly as AWS documents it: the role
    is only ever passed to this account's function (iam:PassRole is the guard)."""
    return _doc(
        {
            "Sid": "AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )


def _deny_insecure_transport(action: str, resources: list[str]) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resources,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_bucket_policy(bucket_arn: str) -> Policy:
    """Deny every request to the bucket and its objects that does not use TLS."""
    return _doc(_deny_insecure_transport("s3:*", [bucket_arn, objects_arn(bucket_arn)]))


def tls_only_queue_policy(queue_arn: str) -> Policy:
    """Deny every request to the queue that does not use TLS (the DLQ's whole policy)."""
    return _doc(_deny_insecure_transport("sqs:*", [queue_arn]))


def queue_policy(queue_arn: str, source_bucket_arn: str, account_id: str) -> Policy:
    """Only the source bucket (of this account) may send its notifications; TLS only."""
    return _doc(
        {
            "Sid": "SourceBucketNotifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": source_bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
        _deny_insecure_transport("sqs:*", [queue_arn]),
    )


def function_policy(
    *,
    source_bucket_arn: str,
    final_bucket_arn: str,
    queue_arn: str,
    project_version_arn: str,
    log_group_arn: str,
    alert_event_bus_arn: str | None = None,
) -> Policy:
    """The inference Lambda: read/delete images, write results, detect, consume the queue.

    - source objects: GetObject (DetectCustomLabels reads the S3Object with the
      caller's permissions; CopyObject reads the source), DeleteObject (after the
      copy; also what DeleteObjects, the runtime's batched delete, checks per
      key: there is no s3:DeleteObjects action; the deletes are conditional on
      the processed ETag, which S3 authorises with DeleteObject + GetObject),
      GetObjectTagging (CopyObject's default TaggingDirective=COPY reads the
      source's tags).
    - final objects: PutObject (result JSON, image copy, error documents),
      PutObjectTagging (CopyObject writes the copied tags), GetObject (HeadObject on
      the result recognises a redelivered, already processed message).
    - both buckets: ListBucket, only so that HeadObject/GetObject on a missing key
      answer 404 instead of 403: the runtime tells "already processed / source gone"
      (a success on redelivery) from "access denied" (a retry) by that status.
    - the queue: what the event source mapping does with the function's role
      (receive, delete, read attributes), and ChangeMessageVisibility, which the
      handler calls itself so that records it reports for retry come back in
      seconds instead of after the queue's visibility timeout.
    - with ``alert_event_bus_arn`` (config alertLabels): PutEvents on that bus (the
      default bus of the stack's account and region), only for the label alert's
      source and detail-type (PutEvents' ``events:source`` and ``events:detail-type``
      condition keys), so the role can not impersonate another event.
    """
    policy = _doc(
        _allow(
            "ReadAndDeleteSourceImages", FUNCTION_S3_SOURCE_ACTIONS, objects_arn(source_bucket_arn)
        ),
        _allow("WriteResults", FUNCTION_S3_FINAL_ACTIONS, objects_arn(final_bucket_arn)),
        _allow("MissingKeysAnswer404", ["s3:ListBucket"], [source_bucket_arn, final_bucket_arn]),
        _allow(
            "DetectWithTheModelVersion", ["rekognition:DetectCustomLabels"], project_version_arn
        ),
        _allow("ConsumeTheQueue", FUNCTION_SQS_ACTIONS, queue_arn),
        _allow("RetrySoon", FUNCTION_SQS_RETRY_ACTIONS, queue_arn),
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            log_streams_arn(log_group_arn),
        ),
    )
    if alert_event_bus_arn is not None:
        statement = _allow("PutLabelAlerts", ["events:PutEvents"], alert_event_bus_arn)
        statement["Condition"] = {
            "StringEquals": {
                "events:source": alerts.EVENT_SOURCE,
                "events:detail-type": alerts.DETAIL_TYPE,
            }
        }
        policy["Statement"].append(statement)
    return policy


def state_machine_logging_policy() -> Policy:
    """What Step Functions needs to deliver its logs; attached BEFORE the state
    machine is created (CreateStateMachine checks it when logging is enabled)."""
    # Resource "*": the vended log delivery actions support no resource-level
    # permissions (Service Authorization Reference, CloudWatch Logs).
    return _doc(_allow("DeliverWorkflowLogs", STATES_LOG_DELIVERY_ACTIONS, "*"))


def state_machine_policy(
    *,
    state_machine_arn: str,
    queue_arn: str,
    project_arn: str,
    project_version_arn: str,
    event_source_mapping_arn: str,
    final_bucket_arn: str,
    runs_prefix: str,
    notification_topic_arn: str | None = None,
    event_bus_arn: str | None = None,
) -> Policy:
    """The orchestration workflow: every aws-sdk task of the definition, on its one resource."""
    policy = _doc(
        _allow("NoDoubleRuns", ["states:ListExecutions"], state_machine_arn),
        _allow("MeasureTheBacklog", ["sqs:GetQueueAttributes"], queue_arn),
        # A small backlog is peeked once per run; only s3:TestEvent messages are deleted.
        _allow("DropS3TestEvents", ["sqs:ReceiveMessage", "sqs:DeleteMessage"], queue_arn),
        _allow("DescribeTheModel", ["rekognition:DescribeProjectVersions"], project_arn),
        _allow(
            "StartAndStopTheModel",
            ["rekognition:StartProjectVersion", "rekognition:StopProjectVersion"],
            project_version_arn,
        ),
        _allow(
            "EnableAndDisableTheMapping",
            # Get: the cleanup confirms the mapping is Disabled before the stop.
            ["lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"],
            event_source_mapping_arn,
        ),
        _allow("WriteRunSummaries", ["s3:PutObject"], objects_arn(final_bucket_arn, runs_prefix)),
    )
    policy["Statement"] += notify_statements(notification_topic_arn, event_bus_arn)
    return policy


def scheduler_policy(state_machine_arn: str) -> Policy:
    """EventBridge Scheduler may start this state machine and nothing else."""
    return _doc(_allow("StartTheWorkflow", ["states:StartExecution"], state_machine_arn))


def actions_of(policy: Policy) -> set[str]:
    """Every action an Allow statement of ``policy`` grants (for tests and docs)."""
    granted: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        actions = statement["Action"]
        granted.update([actions] if isinstance(actions, str) else actions)
    return granted


# --------------------------------------------------------------- run notification


def tls_only_topic_policy(topic_arn: str, account_id: str) -> Policy:
    """The run notification topic: this account may use it (its IAM policies decide
    who), and no request without TLS is accepted."""
    return _doc(
        {
            "Sid": "ThisAccountOnly",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{_partition(topic_arn)}:iam::{account_id}:root"},
            "Action": ["sns:GetTopicAttributes", "sns:Publish", "sns:Subscribe"],
            "Resource": topic_arn,
        },
        _deny_insecure_transport("sns:*", [topic_arn]),
    )


def alert_topic_policy(topic_arn: str, account_id: str, rule_arn: str) -> Policy:
    """The label alert topic: this account (its IAM policies decide who), and EventBridge
    for the one rule that forwards the alerts (``aws:SourceArn``); TLS only."""
    policy = tls_only_topic_policy(topic_arn, account_id)
    policy["Statement"].insert(
        1,
        {
            "Sid": "TheAlertRulePublishes",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        },
    )
    return policy


def default_event_bus_arn(partition: str, region: str, account_id: str) -> str:
    return f"arn:{partition}:events:{region}:{account_id}:event-bus/default"


def notify_statements(topic_arn: str | None, event_bus_arn: str | None) -> list[dict[str, Any]]:
    """sns:Publish on the run topic; events:PutEvents on the default bus, only for
    events whose Source is this project's (events:source condition of PutEvents)."""
    statements: list[dict[str, Any]] = []
    if topic_arn is not None:
        statements.append(_allow("NotifyRunEnd", ["sns:Publish"], topic_arn))
    if event_bus_arn is not None:
        statement = _allow("EmitRunEndEvent", ["events:PutEvents"], event_bus_arn)
        statement["Condition"] = {"StringEquals": {"events:source": EVENT_SOURCE}}
        statements.append(statement)
    return statements


def _partition(arn: str) -> str:
    return arn.split(":", 2)[1]
