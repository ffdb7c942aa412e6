"""Label alerts in the stack: the function's PutEvents grant (alertLabels) and the
optional rule -> topic -> e-mail (alertEmail), checked with Pulumi's mocks."""

from __future__ import annotations

import json

import pytest

from infra import alerts as alerts_infra
from infra import outputs, policies
from runtime import alerts
from runtime import settings as runtime_settings
from tests.infra.conftest import ACCOUNT, PIPELINE, REGION, ProgramRun, run_program
from tests.infra.test_policies import KEY_POLICY_ACCEPTED_ISSUES, findings

BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
ALERTS = {"alertLabels": '{"defect": 90}'}
EMAIL = {**ALERTS, "alertEmail": "qa@example.com"}


def statements(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


@pytest.fixture
def with_email(base_config: dict, monkeypatch: pytest.MonkeyPatch) -> ProgramRun:
    return run_program({**base_config, **EMAIL}, monkeypatch)


def test_without_alert_labels_the_function_may_not_put_events(program: ProgramRun) -> None:
    assert "PutLabelAlerts" not in statements(program.policy("inference-policy"))
    assert program.of_type(RULE) == []
    assert outputs.ALERT_TOPIC_ARN not in program.outputs


def test_alert_labels_grant_put_events_on_the_default_bus_for_the_alert_only(
    base_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_program({**base_config, **ALERTS}, monkeypatch)
    grant = statements(run.policy("inference-policy"))["PutLabelAlerts"]
    assert grant["Action"] == ["events:PutEvents"]
    assert grant["Resource"] == BUS
    assert grant["Condition"] == {
        "StringEquals": {
            "events:source": "rekognition-batch",
            "events:detail-type": "Rekognition Batch Label Detected",
        }
    }
    env = run.by_name("inference").inputs["environment"]["variables"]
    assert runtime_settings.Settings.from_env(env).alert_labels == {"defect": 90}
    assert run.of_type(RULE) == []  # no e-mail: no rule, no topic


def test_alert_email_routes_the_alert_events_to_an_encrypted_tls_only_topic(
    with_email: ProgramRun,
) -> None:
    rule = with_email.one(RULE)
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": [alerts.EVENT_SOURCE],
        "detail-type": [alerts.DETAIL_TYPE],
    }
    rule_arn = rule.state["arn"]
    topic = with_email.by_name("alerts-topic")
    target = with_email.one(TARGET)
    assert target.inputs["rule"] == rule.state["name"]
    assert target.inputs["arn"] == topic.state["arn"]
    assert "aws:sns/topicPolicy:TopicPolicy" in target.dependencies

    policy = statements(with_email.policy("alerts-topic-policy"))
    publish = policy["TheAlertRulePublishes"]
    assert publish["Principal"] == {"Service": "events.amazonaws.com"}
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == topic.state["arn"]
    assert publish["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}
    assert policy["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    [email] = [s for s in with_email.of_type(SUBSCRIPTION) if "alerts" in s.name]
    assert email.inputs["protocol"] == "email" and email.inputs["endpoint"] == "qa@example.com"
    assert with_email.outputs[outputs.ALERT_TOPIC_ARN] == topic.state["arn"]
    # Without a customer-managed key: EventBridge can not use the AWS-managed SNS key.
    assert "kmsMasterKeyId" not in topic.inputs
    assert findings(json.loads(with_email.by_name("alerts-topic-policy").inputs["policy"])) == []


def test_the_rule_arn_the_policies_name_is_the_rules(with_email: ProgramRun) -> None:
    rule = with_email.one(RULE)
    assert rule.inputs["name"] == alerts_infra.rule_name(
        rule.inputs["name"].removesuffix("-label-alerts")
    )
    assert alerts_infra.rule_arn("aws", REGION, ACCOUNT, rule.inputs["name"]) == rule.state["arn"]


def test_with_the_stack_key_the_topic_is_encrypted_and_the_key_admits_the_rule_only(
    base_config: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_program({**base_config, **EMAIL, "kmsKey": "create"}, monkeypatch)
    topic = run.by_name("alerts-topic")
    assert topic.inputs["kmsMasterKeyId"] == run.by_name("key-key").state["arn"]
    key_policy = json.loads(run.by_name("key-policy").inputs["policy"])
    admit = statements(key_policy)["TheAlertRulePublishesToTheEncryptedTopic"]
    assert admit["Principal"] == {"Service": "events.amazonaws.com"}
    assert admit["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert admit["Condition"] == {"ArnEquals": {"aws:SourceArn": run.one(RULE).state["arn"]}}
    found = [f for f in findings(key_policy) if f[0] not in KEY_POLICY_ACCEPTED_ISSUES]
    assert found == []


def test_rule_names_fit_eventbridge_limit() -> None:
    assert alerts_infra.rule_name("short") == "short-label-alerts"
    long = alerts_infra.rule_name("p" * 80)
    assert len(long) <= 64 and long.endswith("-label-alerts")
    assert long != alerts_infra.rule_name("p" * 79 + "q")


def test_parliament_reports_nothing_on_the_function_policy_with_alerts() -> None:
    policy = policies.function_policy(
        source_bucket_arn="arn:aws:s3:::src",
        final_bucket_arn="arn:aws:s3:::fin",
        queue_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
        project_version_arn=(
            f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/p/version/v/1700000000000"
        ),
        log_group_arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fn",
        alert_event_bus_arn=BUS,
    )
    assert findings(policy) == []


def test_every_new_resource_is_a_child_of_the_alerts_component(with_email: ProgramRun) -> None:
    for resource in [with_email.one(RULE), with_email.one(TARGET)]:
        assert resource.parent_type == alerts_infra.TYPE
        assert resource.name.startswith(f"{PIPELINE}-alerts")
