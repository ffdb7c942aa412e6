"""The real __main__.py under Pulumi mocks: every resource and its key properties."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from infra import outputs, policies
from infra.config import DISABLE_GRACE_MARGIN_SECONDS, visibility_timeout
from infra.sizing import derive_concurrency
from infra.statemachine import OWNERSHIP_SHARED, WorkflowParams, build_definition, names
from runtime import settings as runtime_settings
from tests.factories import s3_test_event_body, sqs_event, sqs_record
from tests.infra.conftest import (
    ACCOUNT,
    PROJECT_ARN,
    REGION,
    STACK,
    VERSION_ARN,
    ProgramRun,
    run_program,
)

ROOT = Path(__file__).resolve().parents[2]
ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"

BUCKET = "aws:s3/bucket:Bucket"
QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def statements(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"]}


# --------------------------------------------------------------------------- shape


def test_every_resource_belongs_to_a_component(program: ProgramRun) -> None:
    for resource in program.resources:
        if resource.type == "rekognition-batch:pipeline:Pipeline":
            assert resource.parent_type == "pulumi:pulumi:Stack", resource.name
        elif resource.type.startswith("rekognition-batch:"):
            assert resource.parent_type == "rekognition-batch:pipeline:Pipeline", resource.name
        else:
            assert resource.parent_type and resource.parent_type.startswith("rekognition-batch:"), (
                f"{resource.type} {resource.name} has parent {resource.parent_type}"
            )


def test_component_type_tokens(program: ProgramRun) -> None:
    components = sorted(
        r.type for r in program.resources if r.type.startswith("rekognition-batch:")
    )
    assert components == [
        "rekognition-batch:alarms:Alarms",
        "rekognition-batch:dashboard:Dashboard",
        "rekognition-batch:inference:InferenceFunction",
        "rekognition-batch:ingest:IngestQueue",
        "rekognition-batch:notifications:RunNotifications",
        "rekognition-batch:pipeline:Pipeline",
        "rekognition-batch:results:ResultsTables",
        "rekognition-batch:storage:SecureBucket",
        "rekognition-batch:storage:SecureBucket",
        "rekognition-batch:workflow:Workflow",
    ]


def test_no_resource_is_declared_inside_apply(program: ProgramRun) -> None:
    assert program.created_in_apply == []


def test_the_apply_detector_catches_a_resource_declared_inside_apply(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_config: dict
) -> None:
    """The check above can fail: a program that declares a queue inside apply is caught."""
    import pulumi
    import pulumi_aws as aws

    import tests.infra.conftest as harness

    bad = tmp_path / "__main__.py"
    bad.write_text(
        "import pulumi, pulumi_aws as aws\n"
        "q = aws.sqs.Queue('outer')\n"
        "q.arn.apply(lambda arn: aws.sqs.Queue('inner'))\n"
    )
    monkeypatch.setattr(harness, "ROOT", tmp_path)
    run = run_program(base_config, monkeypatch)
    assert run.created_in_apply == ["aws:sqs/queue:Queue inner"]
    assert pulumi and aws  # imported for the program above


# --------------------------------------------------------------------------- buckets


@pytest.mark.parametrize("bucket", ["source", "final"])
def test_buckets_are_private_encrypted_and_owner_enforced(program: ProgramRun, bucket: str) -> None:
    name = program.state_of(bucket, "bucket")
    assert program.by_name(bucket).inputs["forceDestroy"] is False
    pab = program.by_name(f"{bucket}-public-access").inputs
    assert pab["bucket"] == name
    assert all(
        pab[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    sse = program.by_name(f"{bucket}-encryption").inputs
    assert sse["bucket"] == name
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    ownership = program.by_name(f"{bucket}-ownership").inputs
    assert ownership == {"bucket": name, "rule": {"objectOwnership": "BucketOwnerEnforced"}}


@pytest.mark.parametrize("bucket", ["source", "final"])
def test_bucket_policy_denies_every_request_without_tls(program: ProgramRun, bucket: str) -> None:
    arn = program.state_of(bucket, "arn")
    policy_resource = program.by_name(f"{bucket}-tls-only")
    assert policy_resource.inputs["bucket"] == program.state_of(bucket, "bucket")
    assert "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" in policy_resource.dependencies
    (statement,) = program.policy(f"{bucket}-tls-only")["Statement"]
    assert statement == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_force_destroy_comes_from_config(base_config: dict, monkeypatch) -> None:
    run = run_program({**base_config, "forceDestroy": True}, monkeypatch)
    assert [b.inputs["forceDestroy"] for b in run.of_type(BUCKET)] == [True, True]


# --------------------------------------------------------------------------- ingest


def test_source_bucket_notifies_the_queue_for_each_suffix_in_both_cases(
    program: ProgramRun,
) -> None:
    notification = program.by_name("ingest-notification")
    assert notification.inputs["bucket"] == program.state_of("source", "bucket")
    queue_arn = program.state_of("ingest", "arn")
    entries = notification.inputs["queues"]
    assert sorted(e["filterSuffix"] for e in entries) == sorted(
        [".jpg", ".JPG", ".jpeg", ".JPEG", ".png", ".PNG"]
    )
    for entry in entries:
        assert entry["queueArn"] == queue_arn
        assert entry["events"] == ["s3:ObjectCreated:*"]
    assert "aws:sqs/queuePolicy:QueuePolicy" in notification.dependencies


def test_notification_suffixes_follow_config(base_config: dict, monkeypatch) -> None:
    run = run_program({**base_config, "imageSuffixes": [".PNG", ".webp"]}, monkeypatch)
    entries = run.by_name("ingest-notification").inputs["queues"]
    assert sorted(e["filterSuffix"] for e in entries) == [".PNG", ".WEBP", ".png", ".webp"]


def test_queue_and_dlq_are_encrypted_with_redrive(program: ProgramRun) -> None:
    queue = program.by_name("ingest").inputs
    dlq = program.by_name("ingest-dlq").inputs
    assert queue["sqsManagedSseEnabled"] is True and dlq["sqsManagedSseEnabled"] is True
    assert json.loads(queue["redrivePolicy"]) == {
        "deadLetterTargetArn": program.state_of("ingest-dlq", "arn"),
        "maxReceiveCount": 5,
    }
    # Ages count from the first enqueue: the DLQ must keep messages longer than the
    # queue, or a late dead letter expires within hours (AWS's DLQ guidance).
    assert dlq["messageRetentionSeconds"] == 14 * 24 * 3600  # SQS's maximum
    assert queue["messageRetentionSeconds"] == 10 * 24 * 3600
    allow = program.by_name("ingest-dlq-redrive-allow").inputs
    assert allow["queueUrl"] == program.state_of("ingest-dlq", "url")
    assert json.loads(allow["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [program.state_of("ingest", "arn")],
    }


def test_visibility_timeout_is_six_function_timeouts_plus_the_window(program: ProgramRun) -> None:
    timeout = program.one(FUNCTION).inputs["timeout"]
    window = program.one(MAPPING).inputs["maximumBatchingWindowInSeconds"]
    assert program.by_name("ingest").inputs["visibilityTimeoutSeconds"] == 6 * timeout + window


def test_max_receive_count_and_timeouts_come_from_config(base_config: dict, monkeypatch) -> None:
    config = {
        **base_config,
        "maxReceiveCount": 9,
        "lambdaTimeoutSeconds": 300,
        "batchWindowSeconds": 20,
    }
    run = run_program(config, monkeypatch)
    queue = run.by_name("ingest").inputs
    assert json.loads(queue["redrivePolicy"])["maxReceiveCount"] == 9
    assert queue["visibilityTimeoutSeconds"] == visibility_timeout(300, 20) == 1820
    assert run.one(FUNCTION).inputs["timeout"] == 300


def test_queue_policy_admits_only_the_source_bucket_of_this_account(program: ProgramRun) -> None:
    policy_resource = program.by_name("ingest-policy")
    assert policy_resource.inputs["queueUrl"] == program.state_of("ingest", "url")
    statement, tls = program.policy("ingest-policy")["Statement"]
    assert tls == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": [program.state_of("ingest", "arn")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == program.state_of("ingest", "arn")
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": program.state_of("source", "arn")},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_dead_letter_queue_denies_every_request_without_tls(program: ProgramRun) -> None:
    policy_resource = program.by_name("ingest-dlq-tls-only")
    assert policy_resource.inputs["queueUrl"] == program.state_of("ingest-dlq", "url")
    (statement,) = program.policy("ingest-dlq-tls-only")["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "sqs:*"
    assert statement["Resource"] == [program.state_of("ingest-dlq", "arn")]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --------------------------------------------------------------------------- function


def test_function_runtime_architecture_memory_and_logs(program: ProgramRun) -> None:
    fn = program.one(FUNCTION).inputs
    assert fn["runtime"] == "python3.12"
    assert fn["handler"] == "runtime.handler.lambda_handler"
    assert fn["architectures"] == ["arm64"]
    assert fn["memorySize"] == 512 and fn["timeout"] == 120
    assert fn["role"] == program.state_of("inference-role", "arn")
    logs = program.by_name("inference-logs")
    assert fn["loggingConfig"]["logGroup"] == logs.state["name"]
    assert logs.inputs["retentionInDays"] == 30
    assert logs.inputs["name"] == f"/aws/lambda/rekognition-batch-{STACK}-inference"
    assert "aws:iam/rolePolicy:RolePolicy" in program.one(FUNCTION).dependencies


def test_function_code_is_the_configured_archive_with_its_hash(
    program: ProgramRun, dummy_bundle: Path
) -> None:
    import base64
    import hashlib

    fn = program.one(FUNCTION).inputs
    assert fn["code"].path == str(dummy_bundle)
    expected = base64.b64encode(hashlib.sha256(dummy_bundle.read_bytes()).digest()).decode()
    assert fn["sourceCodeHash"] == expected


def test_architecture_memory_and_retention_follow_config(base_config: dict, monkeypatch) -> None:
    config = {
        **base_config,
        "lambdaArchitecture": "x86_64",
        "lambdaMemoryMb": 1024,
        "logRetentionDays": 90,
    }
    run = run_program(config, monkeypatch)
    fn = run.one(FUNCTION).inputs
    assert fn["architectures"] == ["x86_64"] and fn["memorySize"] == 1024
    assert {
        g.inputs["retentionInDays"] for g in run.of_type("aws:cloudwatch/logGroup:LogGroup")
    } == {90}


def test_environment_sets_every_variable_the_runtime_requires(program: ProgramRun) -> None:
    env = program.one(FUNCTION).inputs["environment"]["variables"]
    assert set(runtime_settings.REQUIRED) <= set(env)
    assert set(env) <= set(runtime_settings.ENV)
    settings = runtime_settings.Settings.from_env(env)
    assert settings.final_bucket == program.state_of("final", "bucket")
    assert settings.project_version_arn == VERSION_ARN
    assert settings.min_confidence == 50
    assert settings.image_suffixes == (".jpg", ".jpeg", ".png")
    assert settings.max_concurrency == 10  # = batchSize: a whole batch at once


def test_environment_follows_config(base_config: dict, monkeypatch) -> None:
    config = {
        **base_config,
        "minConfidence": "72.5",
        "maxResults": 3,
        "imageSuffixes": [".png"],
        "batchSize": 25,
        "batchWindowSeconds": 5,
        "labelThresholds": '{"cat": 80}',
        "alertLabels": '{"cat": 95, "dog": 90}',
    }
    run = run_program(config, monkeypatch)
    settings = runtime_settings.Settings.from_env(
        run.one(FUNCTION).inputs["environment"]["variables"]
    )
    assert settings.min_confidence == 72.5
    assert settings.label_thresholds == {"cat": 80}
    assert settings.alert_labels == {"cat": 95, "dog": 90}
    assert settings.max_results == 3
    assert settings.image_suffixes == (".png",)
    assert settings.max_concurrency == 25


def test_label_rules_too_large_for_the_function_environment_fail_naming_the_key(
    base_config: dict, monkeypatch
) -> None:
    many = {f"label-{n:04d}-{'x' * 20}": 90 for n in range(200)}
    with pytest.raises(Exception, match="labelThresholds: .*4096-byte limit"):
        run_program({**base_config, "labelThresholds": json.dumps(many)}, monkeypatch)


def test_mapping_is_created_disabled_with_partial_batch_responses(program: ProgramRun) -> None:
    mapping = program.one(MAPPING)
    inputs = mapping.inputs
    assert inputs["enabled"] is False
    assert inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert inputs["eventSourceArn"] == program.state_of("ingest", "arn")
    assert inputs["functionName"] == program.state_of("inference", "arn")
    assert inputs["batchSize"] == 10
    assert inputs["maximumBatchingWindowInSeconds"] == 1
    # the workflow owns them after creation: a `pulumi up --refresh` during a run
    # neither disables the mapping nor resets the plan's MaximumConcurrency
    assert mapping.ignore_changes == ["enabled", "scalingConfig"]
    assert inputs["scalingConfig"]["maximumConcurrency"] >= 2  # the value it is created with
    assert "aws:iam/rolePolicy:RolePolicy" in mapping.dependencies


def test_mapping_concurrency_is_derived_from_inference_units_by_default(
    base_config: dict, monkeypatch
) -> None:
    small = run_program(base_config, monkeypatch).one(MAPPING).inputs["scalingConfig"]
    assert small == {
        "maximumConcurrency": derive_concurrency(1, batch_size=10, handler_concurrency=10)
    }
    big = run_program({**base_config, "minInferenceUnits": 4, "maxInferenceUnits": 10}, monkeypatch)
    expected = derive_concurrency(10, batch_size=10, handler_concurrency=10)
    assert big.one(MAPPING).inputs["scalingConfig"] == {"maximumConcurrency": expected}
    assert expected > small["maximumConcurrency"]


def test_mapping_concurrency_and_batching_follow_config(base_config: dict, monkeypatch) -> None:
    config = {**base_config, "maxConcurrency": 7, "batchSize": 50, "batchWindowSeconds": 3}
    inputs = run_program(config, monkeypatch).one(MAPPING).inputs
    assert inputs["scalingConfig"] == {"maximumConcurrency": 7}
    assert inputs["batchSize"] == 50 and inputs["maximumBatchingWindowInSeconds"] == 3


def test_function_policy_grants_exactly_what_the_runtime_calls(program: ProgramRun) -> None:
    source = program.state_of("source", "arn")
    final = program.state_of("final", "arn")
    log_group = program.state_of("inference-logs", "arn")
    policy = statements(program.policy("inference-policy"))
    assert program.by_name("inference-policy").inputs["role"] == program.state_of(
        "inference-role", "name"
    )
    assert {sid: (s["Action"], s["Resource"]) for sid, s in policy.items()} == {
        "ReadAndDeleteSourceImages": (
            ["s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging"],
            f"{source}/*",
        ),
        "WriteResults": (["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"], f"{final}/*"),
        "MissingKeysAnswer404": (["s3:ListBucket"], [source, final]),
        "DetectWithTheModelVersion": (["rekognition:DetectCustomLabels"], VERSION_ARN),
        "ConsumeTheQueue": (
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            program.state_of("ingest", "arn"),
        ),
        "RetrySoon": (["sqs:ChangeMessageVisibility"], program.state_of("ingest", "arn")),
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], f"{log_group}:*"),
    }
    assert all(s["Effect"] == "Allow" for s in policy.values())


def test_function_role_trusts_only_lambda(program: ProgramRun) -> None:
    trust = json.loads(program.by_name("inference-role").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"


# --------------------------------------------------------------------------- workflow


def expected_params(program: ProgramRun, **overrides) -> WorkflowParams:
    values = dict(
        queue_url=program.state_of("ingest", "url"),
        project_arn=PROJECT_ARN,
        project_version_arn=VERSION_ARN,
        version_name="shapes.2025-06-01",
        event_source_mapping_uuid=program.state_of("inference-mapping", "uuid"),
        final_bucket=program.state_of("final", "bucket"),
        runs_prefix="runs/",
        min_inference_units=1,
        max_inference_units=None,
        ownership="exclusive",
        poll_interval_seconds=60,
        model_start_timeout_seconds=45 * 60,
        max_run_seconds=360 * 60,
        # The function timeout + the batching window + a margin (infra.config).
        disable_grace_seconds=int(
            program.one(FUNCTION).inputs["timeout"]
            + program.one(MAPPING).inputs["maximumBatchingWindowInSeconds"]
            + DISABLE_GRACE_MARGIN_SECONDS
        ),
        # The run-end notification: this stack's topic, this account's default bus.
        notification_topic_arn=program.state_of("notifications-topic", "arn"),
        event_bus_arn=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
        notify_outcomes=("drained", "max-run-reached", "failed"),
    )
    values.update(overrides)
    return WorkflowParams(**values)


def test_state_machine_definition_is_the_builders_output(program: ProgramRun) -> None:
    machine = program.one(STATE_MACHINE).inputs
    assert machine["type"] == "STANDARD"
    assert machine["roleArn"] == program.state_of("workflow-role", "arn")
    assert json.loads(machine["definition"]) == build_definition(expected_params(program))


def test_state_machine_definition_follows_config(base_config: dict, monkeypatch) -> None:
    config = {
        **base_config,
        "modelOwnership": OWNERSHIP_SHARED,
        "minInferenceUnits": 2,
        "maxInferenceUnits": 6,
        "pollIntervalSeconds": 30,
        "drainConfirmSeconds": 7,
        "modelStartTimeoutMinutes": 20,
        "maxRunMinutes": 90,
        "lambdaTimeoutSeconds": 200,
        "batchWindowSeconds": 4,
        "notifyOnOutcomes": ["failed", "skipped"],
    }
    run = run_program(config, monkeypatch)
    expected = expected_params(
        run,
        notify_outcomes=("failed", "skipped"),
        ownership=OWNERSHIP_SHARED,
        min_inference_units=2,
        max_inference_units=6,
        poll_interval_seconds=30,
        drain_confirm_seconds=7,
        model_start_timeout_seconds=20 * 60,
        max_run_seconds=90 * 60,
    )
    definition = json.loads(run.one(STATE_MACHINE).inputs["definition"])
    assert definition == build_definition(expected)
    assert definition["States"][names.WAIT_TO_CONFIRM_DRAIN]["Seconds"] == 7
    # After max-run the model waits for the batches in flight: timeout + window + margin.
    assert definition["States"][names.GRACE_FOR_IN_FLIGHT]["Seconds"] == 200 + 4 + 15


@pytest.mark.skipif(
    not ASL_VALIDATOR.exists(), reason="npm asl-validator not installed (make setup)"
)
def test_rendered_definition_passes_asl_validator(program: ProgramRun, tmp_path: Path) -> None:
    path = tmp_path / "definition.json"
    path.write_text(program.one(STATE_MACHINE).inputs["definition"])
    result = subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_state_machine_logs_to_its_own_group(program: ProgramRun) -> None:
    logging = program.one(STATE_MACHINE).inputs["loggingConfiguration"]
    group = program.by_name("workflow-logs")
    assert logging["logDestination"] == f"{group.state['arn']}:*"
    assert logging["level"] == "ERROR"
    assert group.inputs["name"] == f"/aws/vendedlogs/states/rekognition-batch-{STACK}-workflow"
    assert group.inputs["retentionInDays"] == 30


def test_workflow_log_level_follows_config(base_config: dict, monkeypatch) -> None:
    run = run_program({**base_config, "workflowLogLevel": "ALL"}, monkeypatch)
    assert run.one(STATE_MACHINE).inputs["loggingConfiguration"]["level"] == "ALL"


def test_state_machine_policy_grants_each_task_on_its_one_resource(program: ProgramRun) -> None:
    policy = statements(program.policy("workflow-policy"))
    final = program.state_of("final", "arn")
    assert {sid: (s["Action"], s["Resource"]) for sid, s in policy.items()} == {
        "NoDoubleRuns": (["states:ListExecutions"], program.state_of("workflow", "arn")),
        "MeasureTheBacklog": (["sqs:GetQueueAttributes"], program.state_of("ingest", "arn")),
        "DropS3TestEvents": (
            ["sqs:DeleteMessage", "sqs:ReceiveMessage"],
            program.state_of("ingest", "arn"),
        ),
        "DescribeTheModel": (["rekognition:DescribeProjectVersions"], PROJECT_ARN),
        "StartAndStopTheModel": (
            ["rekognition:StartProjectVersion", "rekognition:StopProjectVersion"],
            VERSION_ARN,
        ),
        "EnableAndDisableTheMapping": (
            ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
            program.state_of("inference-mapping", "arn"),
        ),
        "WriteRunSummaries": (["s3:PutObject"], f"{final}/runs/*"),
        "NotifyRunEnd": (["sns:Publish"], program.state_of("notifications-topic", "arn")),
        "EmitRunEndEvent": (
            ["events:PutEvents"],
            f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
        ),
    }
    # Only events this project emits: PutEvents supports the events:source condition.
    assert policy["EmitRunEndEvent"]["Condition"] == {
        "StringEquals": {"events:source": "rekognition-batch"}
    }


def test_state_machine_policy_covers_every_sdk_task_of_the_definition(program: ProgramRun) -> None:
    """Each aws-sdk Task's IAM action is granted, and nothing else is."""
    definition = json.loads(program.one(STATE_MACHINE).inputs["definition"])
    prefix = "arn:aws:states:::aws-sdk:"
    iam_service = {"sfn": "states", "eventbridge": "events"}
    needed = set()
    for state in _all_states(definition):
        resource = state.get("Resource", "")
        if state.get("Type") == "Task":
            assert resource.startswith(prefix), f"not an aws-sdk task: {resource}"
            service, api = resource.removeprefix(prefix).split(":")
            needed.add(f"{iam_service.get(service, service)}:{api[0].upper()}{api[1:]}")
    granted = {a for s in program.policy("workflow-policy")["Statement"] for a in s["Action"]}
    assert needed == granted  # nothing granted without a task using it
    assert {"sns:Publish", "events:PutEvents"} <= needed  # the run-end notification


def test_state_machine_logging_grants_are_the_only_wildcard(program: ProgramRun) -> None:
    logging = program.by_name("workflow-logging-policy")
    (statement,) = json.loads(logging.inputs["policy"])["Statement"]
    assert statement["Resource"] == "*"
    assert set(statement["Action"]) == set(policies.STATES_LOG_DELIVERY_ACTIONS)
    assert ROLE_POLICY in program.one(STATE_MACHINE).dependencies  # exists before creation
    for resource in program.of_type(ROLE_POLICY):
        if resource.name == "pipeline-workflow-logging-policy":
            continue
        for s in json.loads(resource.inputs["policy"])["Statement"]:
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            assert "*" not in resources, resource.name


def test_workflow_role_trusts_step_functions_of_this_account(program: ProgramRun) -> None:
    trust = json.loads(program.by_name("workflow-role").inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "states.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


# --------------------------------------------------------------------------- schedule


def test_schedule_starts_the_state_machine_hourly_with_its_own_role(program: ProgramRun) -> None:
    schedule = program.one(SCHEDULE)
    inputs = schedule.inputs
    assert inputs["scheduleExpression"] == "rate(1 hour)"
    assert inputs["scheduleExpressionTimezone"] == "UTC"
    assert inputs["flexibleTimeWindow"] == {"mode": "OFF"}
    assert inputs["target"]["arn"] == program.state_of("workflow", "arn")
    assert inputs["target"]["roleArn"] == program.state_of("workflow-scheduler-role", "arn")
    assert schedule.dependencies.count(ROLE_POLICY) == 2  # scheduler + workflow policies first


def test_schedule_follows_config(base_config: dict, monkeypatch) -> None:
    config = {
        **base_config,
        "schedule": "cron(0 6 ? * MON-FRI *)",
        "scheduleTimezone": "Europe/Paris",
    }
    inputs = run_program(config, monkeypatch).one(SCHEDULE).inputs
    assert inputs["scheduleExpression"] == "cron(0 6 ? * MON-FRI *)"
    assert inputs["scheduleExpressionTimezone"] == "Europe/Paris"


def test_scheduler_role_may_only_start_this_state_machine(program: ProgramRun) -> None:
    (statement,) = program.policy("workflow-scheduler-policy")["Statement"]
    assert statement["Action"] == ["states:StartExecution"]
    assert statement["Resource"] == program.state_of("workflow", "arn")
    trust = json.loads(program.by_name("workflow-scheduler-role").inputs["assumeRolePolicy"])
    (assume,) = trust["Statement"]
    assert assume["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert assume["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {
            "aws:SourceArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/default"
        },
    }
    # ... and the schedule is in that group (no group named: the default one).
    assert program.one("aws:scheduler/schedule:Schedule").inputs.get("groupName") in (
        None,
        "default",
    )


# --------------------------------------------------------------------------- alarms


def test_dlq_alarm_fires_on_any_message(program: ProgramRun) -> None:
    alarm = program.by_name("alarms-dlq-not-empty").inputs
    assert alarm["namespace"] == "AWS/SQS"
    assert alarm["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["dimensions"] == {"QueueName": program.state_of("ingest-dlq", "name")}
    assert alarm["threshold"] == 0 and alarm["comparisonOperator"] == "GreaterThanThreshold"
    assert alarm["alarmActions"] == [program.state_of("alarms-topic", "arn")]


def test_workflow_alarm_sums_failed_and_timed_out_executions(program: ProgramRun) -> None:
    alarm = program.by_name("alarms-workflow-failed").inputs
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    arn = program.state_of("workflow", "arn")
    assert {q["metric"]["metricName"] for q in queries.values() if "metric" in q} == {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }
    for query in queries.values():
        if "metric" in query:
            assert query["metric"]["namespace"] == "AWS/States"
            assert query["metric"]["dimensions"] == {"StateMachineArn": arn}
    returned = [q for q in queries.values() if q.get("returnData")]
    assert len(returned) == 1 and "failed" in returned[0]["expression"]
    assert "timedout" in returned[0]["expression"]
    assert alarm["threshold"] == 0 and alarm["comparisonOperator"] == "GreaterThanThreshold"


def test_model_alarm_fires_after_start_timeout_plus_max_run_plus_margin(
    program: ProgramRun,
) -> None:
    alarm = program.by_name("alarms-model-running-too-long").inputs
    assert alarm["namespace"] == "AWS/Rekognition"
    assert alarm["metricName"] == "InServiceInferenceUnits"
    assert alarm["dimensions"] == {"ProjectName": "shapes", "VersionName": "shapes.2025-06-01"}
    # start timeout + max run + the grace after it (120 s timeout + window + 15 s:
    # 3 started minutes) + margin, in 5-minute periods rounded up.
    minutes = 45 + 360 + 3 + 15
    assert alarm["period"] == 300
    assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == -(-minutes // 5) == 85
    assert alarm["period"] * alarm["evaluationPeriods"] <= 86400  # CloudWatch's limit
    assert alarm["treatMissingData"] == "notBreaching"


def test_alarm_email_subscription_only_when_configured(
    program: ProgramRun, base_config: dict, monkeypatch
) -> None:
    subscription = "aws:sns/topicSubscription:TopicSubscription"
    assert program.of_type(subscription) == []
    run = run_program({**base_config, "alarmEmail": "ops@example.com"}, monkeypatch)
    sub = run.one(subscription).inputs
    assert sub == {
        "topic": run.state_of("alarms-topic", "arn"),
        "protocol": "email",
        "endpoint": "ops@example.com",
    }


# --------------------------------------------------------------------------- outputs


def test_stack_outputs_carry_every_contract_name_with_real_values(program: ProgramRun) -> None:
    names = [v for k, v in vars(outputs).items() if k.isupper() and isinstance(v, str)]
    assert set(names) - set(outputs.CONDITIONAL) <= set(program.outputs)
    assert outputs.KMS_KEY_ARN not in program.outputs  # SSE-S3 by default
    out = program.outputs
    assert out[outputs.SOURCE_BUCKET] == program.state_of("source", "bucket")
    assert out[outputs.FINAL_BUCKET] == program.state_of("final", "bucket")
    assert out[outputs.QUEUE_URL].startswith(f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/")
    assert out[outputs.QUEUE_ARN] == program.state_of("ingest", "arn")
    assert out[outputs.DLQ_URL] == program.state_of("ingest-dlq", "url")
    assert out[outputs.FUNCTION_NAME] == program.state_of("inference", "name")
    assert out[outputs.EVENT_SOURCE_MAPPING_UUID] == program.state_of("inference-mapping", "uuid")
    assert out[outputs.STATE_MACHINE_ARN] == program.state_of("workflow", "arn")
    assert out[outputs.PROJECT_ARN] == PROJECT_ARN
    assert out[outputs.PROJECT_VERSION_ARN] == VERSION_ARN
    assert out[outputs.VERSION_NAME] == "shapes.2025-06-01"
    assert out[outputs.REGION] == REGION
    assert out[outputs.MIN_INFERENCE_UNITS] == 1
    assert out[outputs.PRICE_PER_INFERENCE_UNIT_HOUR] == 4.0
    assert out[outputs.RUNS_PREFIX] == "runs/"
    assert out[outputs.FAILED_PREFIX] == runtime_settings.DEFAULTS[runtime_settings.FAILED_PREFIX]
    assert out[outputs.NOTIFICATION_TOPIC_ARN] == program.state_of("notifications-topic", "arn")
    assert out[outputs.DASHBOARD_URL] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        f"#dashboards/dashboard/rekognition-batch-{STACK}"
    )
    for name in outputs.REQUIRED_BY_CLI:
        assert out[name], name


def test_upload_command_syncs_only_queued_suffixes(program: ProgramRun) -> None:
    command = program.outputs[outputs.UPLOAD_COMMAND]
    bucket = program.state_of("source", "bucket")
    assert command.startswith(
        f"aws s3 sync ./images s3://{bucket}/ --region {REGION} --exclude '*'"
    )
    for suffix in (".jpg", ".JPG", ".png", ".PNG", ".jpeg", ".JPEG"):
        assert f"--include '*{suffix}'" in command


def test_console_urls_point_at_this_stacks_resources(program: ProgramRun) -> None:
    urls = program.outputs[outputs.CONSOLE_URLS]
    assert program.state_of("workflow", "arn") in urls["stateMachine"]
    assert program.state_of("source", "bucket") in urls["sourceBucket"]
    assert program.state_of("inference", "name") in urls["function"]
    assert all(url.startswith("https://") and REGION in url for url in urls.values())


def _all_states(definition: dict):
    for state in definition.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from _all_states(branch)
        if "Iterator" in state:
            yield from _all_states(state["Iterator"])
        if "ItemProcessor" in state:
            yield from _all_states(state["ItemProcessor"])


# --------------------------------------------------------------------------- program paths


def test_the_handler_starts_with_the_environment_the_program_sets(
    program: ProgramRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolve the configured handler as the Lambda runtime does and invoke it, with
    exactly the function's environment: a missing or invalid variable fails here."""
    import importlib

    fn = program.one(FUNCTION).inputs
    module_name, _, attribute = fn["handler"].rpartition(".")
    for name in runtime_settings.ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in fn["environment"]["variables"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    module = importlib.import_module(module_name)
    monkeypatch.setattr(module, "_handler", None)  # a fresh execution environment
    handler = getattr(module, attribute)
    try:
        # The s3:TestEvent message: the handler is built, no AWS call is made.
        event = sqs_event(sqs_record(s3_test_event_body(), message_id="test-event"))
        assert handler(event, None) == {"batchItemFailures": []}
    finally:
        module._handler.close()


def test_without_a_prebuilt_archive_the_program_builds_the_bundle_for_its_architecture(
    base_config: dict, monkeypatch, dummy_bundle: Path
) -> None:
    import infra.bundle

    calls = []

    def fake_build(architecture, python_version, **kwargs):
        calls.append((architecture, python_version))
        return infra.bundle.Bundle(path=dummy_bundle, sha256="00" * 32, inputs_hash="x")

    monkeypatch.setattr(infra.bundle, "build_bundle", fake_build)
    config = {k: v for k, v in base_config.items() if k != "lambdaBundle"}
    run = run_program({**config, "lambdaArchitecture": "x86_64"}, monkeypatch)
    assert calls == [("x86_64", "3.12")]
    fn = run.one(FUNCTION).inputs
    assert fn["code"].path == str(dummy_bundle)
    assert (
        fn["sourceCodeHash"] == infra.bundle.Bundle(dummy_bundle, "00" * 32, "x").source_code_hash
    )


def test_without_project_arn_the_program_looks_it_up_once(base_config: dict, monkeypatch) -> None:
    import boto3

    calls = []

    class FakeRekognition:
        def describe_projects(self, ProjectNames):  # noqa: N803 - boto3 spelling
            calls.append(ProjectNames)
            return {"ProjectDescriptions": [{"ProjectArn": PROJECT_ARN}]}

    def fake_client(service, region_name=None, **kwargs):
        assert (service, region_name) == ("rekognition", REGION)
        return FakeRekognition()

    monkeypatch.setattr(boto3, "client", fake_client)
    config = {k: v for k, v in base_config.items() if k != "projectArn"}
    run = run_program(config, monkeypatch)
    assert calls == [["shapes"]]
    assert run.outputs[outputs.PROJECT_ARN] == PROJECT_ARN
    assert statements(run.policy("workflow-policy"))["DescribeTheModel"]["Resource"] == PROJECT_ARN


def test_invalid_config_fails_before_any_resource_is_declared(
    base_config: dict, monkeypatch
) -> None:
    import pulumi

    with pytest.raises(pulumi.RunError, match=r"^invalid stack config: maxConcurrency: ") as info:
        run_program({**base_config, "maxConcurrency": 5000}, monkeypatch)
    assert info.value.__cause__.key == "maxConcurrency"


def test_missing_prebuilt_archive_fails_naming_the_key(base_config: dict, monkeypatch) -> None:
    import pulumi

    with pytest.raises(pulumi.RunError, match=r"lambdaBundle: no such file"):
        run_program({**base_config, "lambdaBundle": "/nonexistent/lambda.zip"}, monkeypatch)
