"""``rekbatch doctor`` on the emulator: it passes on the stack as provisioned and
fails, on the right row with advice, for each way a first run would go wrong.

Rows are found by what a state calls (``(service:action)``), never by state
names: the doctor does not know them either."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli import aslwalk, probes
from cli.demo import DEMO_VERSION_ARN
from emulator.workflow import provision_stack, role_name
from infra import outputs as out

ROLE_NAME = role_name("dev")  # the stack the tests provision


@pytest.fixture
def deployed(aws: Any, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    outputs = provision_stack(aws, project_version_arn=DEMO_VERSION_ARN)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs, default=str), encoding="utf-8")
    return outputs, path


def doctor(cli: Callable[..., Any], outputs_file: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    result = cli("doctor", "--outputs", outputs_file, "--json")
    report = json.loads(result.out)
    return result.code, {row["check"]: row for row in report["checks"]}


def row_calling(rows: dict[str, dict[str, Any]], api: str, index: int = 0) -> dict[str, Any]:
    found = [row for check, row in rows.items() if check.endswith(f"({api})")]
    assert found, f"no row for {api}: {sorted(rows)}"
    return found[index]


def failed(rows: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(check for check, row in rows.items() if row["result"] == "FAIL")


def _deploy(aws: Any, outputs: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> None:
    sfn = aws.client("stepfunctions")
    arn = outputs[out.STATE_MACHINE_ARN]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    edit(definition)
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))


def _first_task(definition: dict[str, Any], api: str) -> dict[str, Any]:
    for task in aslwalk.task_states(definition):
        if task.api == api:
            return definition["States"][task.name]  # type: ignore[no-any-return]
    raise AssertionError(f"no {api} task")


def test_the_provisioned_stack_passes_and_every_task_has_a_row(cli, deployed):
    outputs, path = deployed
    code, rows = doctor(cli, path)
    assert code == 0, failed(rows)
    assert not failed(rows)
    for api in (
        "sfn:listExecutions",
        "sqs:getQueueAttributes",
        "rekognition:describeProjectVersions",
        "rekognition:startProjectVersion",
        "lambda:updateEventSourceMapping",
        "s3:putObject",
    ):
        assert row_calling(rows, api)["result"] == "PASS"
    assert "ran with TestState" in row_calling(rows, "sqs:getQueueAttributes")["detail"]
    start = row_calling(rows, "rekognition:startProjectVersion")["detail"]
    assert "not executed" in start and "IAM allows" in start
    for check in (
        "source bucket notifies the queue",
        "event source mapping",
        "model version",
        "function role",
        "schedule",
        "alarm subscription",
        "dead-letter queue",
    ):
        assert rows[check]["result"] == "PASS", rows[check]


def test_the_mapping_disable_runs_for_real_when_it_changes_nothing(cli, deployed):
    _, path = deployed
    _, rows = doctor(cli, path)
    disables = [
        row
        for check, row in rows.items()
        if check.endswith("(lambda:updateEventSourceMapping)")
        and "ran with TestState" in row["detail"]
    ]
    assert disables and '"Disabled"' in disables[0]["detail"]


def test_a_grant_removed_from_the_workflow_role_fails_its_state(aws, cli, deployed):
    outputs, path = deployed
    iam = aws.client("iam")
    name = f"{ROLE_NAME}-policy"
    policy = iam.get_role_policy(RoleName=ROLE_NAME, PolicyName=name)["PolicyDocument"]
    for statement in policy["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        statement["Action"] = [a for a in actions if a != "rekognition:StartProjectVersion"] or [
            "s3:GetObject"
        ]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName=name, PolicyDocument=json.dumps(policy))
    code, rows = doctor(cli, path)
    assert code == 1
    row = row_calling(rows, "rekognition:startProjectVersion")
    assert row["result"] == "FAIL"
    assert "rekognition:StartProjectVersion" in row["detail"]
    assert "grant rekognition:StartProjectVersion" in row["advice"]
    assert row_calling(rows, "rekognition:stopProjectVersion")["result"] == "PASS"


def test_a_grant_removed_for_a_read_only_call_fails_too(aws, cli, deployed):
    outputs, path = deployed
    iam = aws.client("iam")
    name = f"{ROLE_NAME}-policy"
    policy = iam.get_role_policy(RoleName=ROLE_NAME, PolicyName=name)["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "NoDoubleRuns"]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName=name, PolicyDocument=json.dumps(policy))
    code, rows = doctor(cli, path)
    row = row_calling(rows, "sfn:listExecutions")
    assert code == 1 and row["result"] == "FAIL"
    assert "grant states:ListExecutions" in row["advice"]


def test_a_misspelt_parameter_fails_its_state(aws, cli, deployed):
    outputs, path = deployed

    def misspell(definition: dict[str, Any]) -> None:
        params = _first_task(definition, "sqs:getQueueAttributes")["Parameters"]
        params["QueueURLs"] = params.pop("QueueUrl")

    _deploy(aws, outputs, misspell)
    code, rows = doctor(cli, path)
    assert code == 1
    row = row_calling(rows, "sqs:getQueueAttributes")
    assert row["result"] == "FAIL"
    assert "'QueueURLs'" in row["detail"] and "requires 'QueueUrl'" in row["detail"]
    assert "fix state" in row["advice"]


def test_a_result_path_the_api_never_answers_fails_its_state(aws, cli, deployed):
    outputs, path = deployed

    def wrong_path(definition: dict[str, Any]) -> None:
        task = _first_task(definition, "sfn:listExecutions")
        task["ResultSelector"]["count.$"] = "States.ArrayLength($.ExecutionList)"

    _deploy(aws, outputs, wrong_path)
    code, rows = doctor(cli, path)
    row = row_calling(rows, "sfn:listExecutions")
    assert code == 1 and row["result"] == "FAIL"
    assert "'ExecutionList'" in row["detail"] and "Executions" in row["detail"]


def test_a_notification_filter_gone_fails_the_notification_row(aws, cli, deployed):
    outputs, path = deployed
    s3 = aws.client("s3")
    bucket = outputs[out.SOURCE_BUCKET]
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    kept = [
        c
        for c in config["QueueConfigurations"]
        if c["Filter"]["Key"]["FilterRules"][0]["Value"].lower() != ".png"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": kept}
    )
    code, rows = doctor(cli, path)
    row = rows["source bucket notifies the queue"]
    assert code == 1 and row["result"] == "FAIL"
    assert ".png, .PNG" in row["detail"]
    assert "pulumi up" in row["advice"] and "backfill" in row["advice"]


def test_a_mapping_left_enabled_fails_and_the_disable_is_not_executed(aws, cli, deployed):
    outputs, path = deployed
    uuid = outputs[out.EVENT_SOURCE_MAPPING_UUID]
    aws.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=True)
    code, rows = doctor(cli, path)
    row = rows["event source mapping"]
    assert code == 1 and row["result"] == "FAIL"
    assert "Enabled with no run in progress" in row["detail"]
    assert f"--uuid {uuid} --no-enabled" in row["advice"]
    details = [
        r["detail"] for c, r in rows.items() if c.endswith("(lambda:updateEventSourceMapping)")
    ]
    assert any("not executed: the mapping is Enabled" in d for d in details)
    assert aws.client("lambda").get_event_source_mapping(UUID=uuid)["State"] == "Enabled"


def test_a_missing_model_version_fails_the_model_row(aws, cli, deployed):
    _, path = deployed
    aws.model.reset()
    code, rows = doctor(cli, path)
    row = rows["model version"]
    assert code == 1 and row["result"] == "FAIL"
    assert "not found" in row["detail"] and "projectVersionArn" in row["advice"]


def test_the_table_names_each_check_and_the_verdict(cli, deployed):
    _, path = deployed
    result = cli("doctor", "--outputs", path)
    assert result.code == 0
    assert "ready for its first run" in result.out
    assert "source bucket notifies the queue" in result.out


def test_the_portability_probes_answer_on_the_emulator_as_recorded(aws, deployed):
    """The recorded moto answers (cli/probes.py) are what the emulator says."""
    rules = probes.rules()
    if not rules:
        pytest.skip("no portability list in this version")
    sfn = aws.client("stepfunctions")
    role = f"arn:aws:iam::{aws.account_id}:role/{ROLE_NAME}"
    for rule in rules:
        example = rule.example
        if not example or not probes.runnable(example["state"]):
            continue
        assert probes.run_probe(sfn, role, example) == probes.EMULATOR_ANSWERS[rule.code], rule.code


def test_with_a_stack_key_the_role_must_use_it_through_each_service(aws, cli, deployed, tmp_path):
    from infra.keypolicies import kms_usage_policy

    outputs, _ = deployed
    key = f"arn:aws:kms:{aws.region}:{aws.account_id}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    path = tmp_path / "with-key.json"
    path.write_text(json.dumps({**outputs, out.KMS_KEY_ARN: key}, default=str), encoding="utf-8")
    code, rows = doctor(cli, path)
    summary = row_calling(rows, "s3:putObject")
    assert code == 1 and summary["result"] == "FAIL"
    assert f"kms:GenerateDataKey on {key}" in summary["detail"]
    assert "kms:Decrypt" in rows["function role"]["detail"]
    iam = aws.client("iam")
    for role, services in (
        (ROLE_NAME, ["s3", "sqs", "sns"]),
        (f"{outputs[out.FUNCTION_NAME]}-role", ["s3", "sqs"]),
    ):
        grant = kms_usage_policy("UseTheStackKey", key, aws.region, services)
        iam.put_role_policy(RoleName=role, PolicyName="kms", PolicyDocument=json.dumps(grant))
    code, rows = doctor(cli, path)
    assert code == 0, failed(rows)
    assert "IAM allows kms:GenerateDataKey" in row_calling(rows, "s3:putObject")["detail"]
    assert "IAM allows kms:Decrypt" in row_calling(rows, "sqs:receiveMessage")["detail"]


def test_outputs_the_doctor_lacks_make_not_checkable_rows_not_passes(cli, deployed, tmp_path):
    outputs, _ = deployed
    path = tmp_path / "partial.json"
    partial = {k: v for k, v in outputs.items() if k not in (out.ALARM_TOPIC_ARN, out.DLQ_URL)}
    path.write_text(json.dumps(partial, default=str), encoding="utf-8")
    code, rows = doctor(cli, path)
    assert code == 0
    for check, name in (("alarm subscription", "alarmTopicArn"), ("dead-letter queue", "dlqUrl")):
        assert rows[check]["result"] == "NOT CHECKABLE" and name in rows[check]["detail"]


def test_a_function_role_without_detect_fails_before_the_model_is_started(aws, cli, deployed):
    outputs, path = deployed
    iam = aws.client("iam")
    role = f"{outputs[out.FUNCTION_NAME]}-role"
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    policy["Statement"] = [
        s for s in policy["Statement"] if s["Sid"] != "DetectWithTheModelVersion"
    ]
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(policy))
    code, rows = doctor(cli, path)
    row = rows["function role"]
    assert code == 1 and row["result"] == "FAIL"
    assert "rekognition:DetectCustomLabels" in row["detail"] and role in row["advice"]


def test_a_schedule_whose_role_may_not_start_the_workflow_fails(aws, cli, deployed):
    _, path = deployed
    iam = aws.client("iam")
    role = "rekbatch-dev-scheduler-role"
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    code, rows = doctor(cli, path)
    row = rows["schedule"]
    assert code == 1 and row["result"] == "FAIL"
    assert "states:StartExecution" in row["detail"] and "no run would start" in row["detail"]
