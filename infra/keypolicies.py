"""IAM for a customer-managed key (stack config ``kmsKey``): the roles' usage
grants, scoped by ``kms:ViaService``, and the key policy of the key the stack
creates. Pure functions returning policy documents, like infra/policies.py."""

from __future__ import annotations

from infra.policies import Policy, _allow, _doc

# What encrypts/decrypts with the key on a caller's behalf (kms:ViaService).
KMS_USE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def kms_usage_policy(sid: str, key_arn: str, region: str, services: list[str]) -> Policy:
    """A role may use the stack's key, only through the named services (S3 reading
    and writing objects, which covers Rekognition reading the image with the
    caller's credentials; SQS messages; SNS publishing)."""
    statement = _allow(sid, KMS_USE_ACTIONS, key_arn)
    statement["Condition"] = {
        "StringEquals": {"kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services]}
    }
    return _doc(statement)


def log_group_arn(partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}"


def kms_key_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    source_bucket_arn: str,
    log_group_arns: list[str],
    alert_rule_arn: str | None = None,
) -> Policy:
    """The key policy of the key this stack creates. ``Resource: "*"`` in a key
    policy means the key itself (AWS KMS key policy syntax).

    - the account (root): IAM policies decide which roles use the key, as for
      any AWS resource (the roles' grants are scoped by kms:ViaService);
    - S3 may encrypt the source bucket's notifications to the encrypted queue;
    - CloudWatch Logs may encrypt the stack's two log groups only;
    - CloudWatch alarms of this account may publish to the encrypted alarm topic;
    - with ``alert_rule_arn`` (config alertEmail): EventBridge, for that rule only,
      may publish to the encrypted label alert topic.
    """
    policy = _doc(
        {
            "Sid": "AccountAdministersAndIamDelegates",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "S3NotifiesTheEncryptedQueue",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": sorted(KMS_USE_ACTIONS),
            "Resource": "*",
            "Condition": {
                "ArnEquals": {"aws:SourceArn": source_bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
        {
            "Sid": "CloudWatchLogsEncryptsTheStackLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            # As AWS documents for encrypted log groups, without kms:Describe*: the
            # encryption-context condition never matches a DescribeKey request.
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arns}},
        },
        {
            "Sid": "CloudWatchAlarmsPublishToTheEncryptedTopic",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": sorted(KMS_USE_ACTIONS),
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {
                    "aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*"
                },
            },
        },
    )
    if alert_rule_arn is not None:
        policy["Statement"].append(
            {
                "Sid": "TheAlertRulePublishesToTheEncryptedTopic",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": sorted(KMS_USE_ACTIONS),
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:SourceArn": alert_rule_arn}},
            }
        )
    return policy
