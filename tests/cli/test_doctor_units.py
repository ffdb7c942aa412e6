"""The pure parts of ``rekbatch doctor``: reading a definition (cli/aslwalk.py),
the API models (cli/awsmodel.py), the schedule's next time, and the emulator's
policy evaluation (emulator/apishims.evaluate)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli import aslwalk, awsmodel
from cli.stackchecks import next_fire, ownership_of
from emulator.apishims import evaluate

SDK = aslwalk.SDK_PREFIX


def task(resource: str, next_state: str | None = None, **fields) -> dict:
    state = {"Type": "Task", "Resource": SDK + resource, **fields}
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def test_tasks_are_found_in_nested_parallel_and_map_states_with_their_parents():
    inner = {"StartAt": "Count", "States": {"Count": task("sqs:getQueueAttributes")}}
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {"Type": "Parallel", "Branches": [inner], "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Stop",
                    "States": {"Stop": task("rekognition:stopProjectVersion")},
                },
                "End": True,
            },
        },
    }
    found = {t.label: (t.api, t.kind) for t in aslwalk.task_states(definition)}
    assert found == {
        "Both/Count": ("sqs:getQueueAttributes", aslwalk.KIND_READ),
        "Each/Stop": ("rekognition:stopProjectVersion", aslwalk.KIND_CHANGE),
    }


def test_only_a_mapping_update_that_sets_enabled_false_alone_is_a_disable():
    def kind(parameters: dict) -> str:
        state = task("lambda:updateEventSourceMapping", Parameters=parameters)
        return aslwalk.TaskState("S", (), state, "lambda", "updateEventSourceMapping").kind

    assert kind({"Uuid": "u", "Enabled": False}) == aslwalk.KIND_DISABLE
    assert kind({"Uuid": "u", "Enabled": True}) == aslwalk.KIND_CHANGE
    assert kind({"Uuid": "u", "Enabled": False, "BatchSize": 5}) == aslwalk.KIND_CHANGE
    other = aslwalk.TaskState("S", (), {"Type": "Task", "Resource": "arn:aws:lambda:x"}, "", "")
    assert other.kind == aslwalk.KIND_OTHER


def test_a_standalone_state_ends_where_it_went_on():
    alone = aslwalk.standalone(task("sqs:getQueueAttributes", "Next", Catch=[{"Next": "X"}]))
    assert "Next" not in alone and alone["End"] is True and alone["Catch"] == [{"Next": "X"}]


def test_context_paths_are_written_in_as_values_in_plain_and_intrinsic_fields():
    context = aslwalk.context_values(
        state_machine_arn="arn:aws:states:eu-west-1:1:stateMachine:m",
        role_arn="arn:aws:iam::1:role/r",
        state_name="S",
        now_iso="2026-01-01T00:00:00.000Z",
    )
    unknown: set[str] = set()
    filled = aslwalk.fill_context(
        {
            "Arn.$": "$$.StateMachine.Id",
            "Key.$": "States.Format('{}{}.json', $.prefix, $$.Execution.Name)",
            "Odd.$": "$$.Map.Item.Value",
            "Plain.$": "$.x",
        },
        context,
        unknown,
    )
    assert filled["Arn"] == "arn:aws:states:eu-west-1:1:stateMachine:m"
    assert filled["Key.$"] == "States.Format('{}{}.json', $.prefix, 'rekbatch-doctor')"
    assert filled["Plain.$"] == "$.x"
    assert unknown == {"$$.Map.Item.Value"}


def test_the_input_of_a_state_is_what_the_states_before_it_wrote():
    definition = {
        "StartAt": "Init",
        "States": {
            "Init": {
                "Type": "Pass",
                "Result": {"prefix": "runs/"},
                "ResultPath": "$.config",
                "Next": "Count",
            },
            "Count": task(
                "sqs:getQueueAttributes",
                "Route",
                ResultSelector={
                    "n.$": "States.ArrayLength($.Messages)",
                    "ids.$": "$.Messages[*].Id",
                },
                ResultPath="$.queue",
            ),
            "Route": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.queue.n", "NumericEquals": 0, "Next": "Done"}],
                "Default": "Write",
            },
            "Done": {
                "Type": "Pass",
                "Result": "nothing",
                "ResultPath": "$.outcome",
                "Next": "Write",
            },
            "Write": task("s3:putObject", "Aside"),
            "Aside": {"Type": "Pass", "Result": 1, "ResultPath": "$.aside", "End": True},
        },
    }
    document = aslwalk.input_at(definition, "Write")
    assert document["source"] == "schedule"  # the schedule's input
    assert document["config"] == {"prefix": "runs/"}
    assert document["queue"] == {"n": 0, "ids": []}
    assert document["outcome"] == "nothing"
    assert "aside" not in document  # written after Write only


def test_json_paths_are_read_from_intrinsics_but_not_from_literals_or_the_context():
    expression = "States.Format('{} $.not', $.config.runsPrefix, $$.Execution.Name)"
    assert aslwalk.json_paths(expression) == ["$.config.runsPrefix"]
    assert aslwalk.path_steps("$.a['b c'][0].d") == ["a", "b c", "[0]", "d"]


def test_parameter_names_are_checked_against_the_request_shape():
    op = awsmodel.operation("lambda", "updateEventSourceMapping")
    assert awsmodel.parameter_problems(op, {"Uuid": "u", "Enabled": False}) == []
    nested = {"Uuid": "u", "ScalingConfig": {"MaximumConcurency.$": "$.plan.concurrency"}}
    (problem,) = awsmodel.parameter_problems(op, nested)
    assert "'MaximumConcurency'" in problem and "MaximumConcurrency" in problem
    sqs = awsmodel.operation("sqs", "getQueueAttributes")
    assert any("requires 'QueueUrl'" in p for p in awsmodel.parameter_problems(sqs, {}))


def test_result_paths_are_checked_against_the_response_shape():
    op = awsmodel.operation("sfn", "listExecutions")
    assert awsmodel.result_path_problems(op, {"arns.$": "$.Executions[*].ExecutionArn"}) == []
    (listed,) = awsmodel.result_path_problems(op, {"a.$": "$.Executions.ExecutionArn"})
    assert "a list" in listed
    (cased,) = awsmodel.result_path_problems(op, {"a.$": "States.ArrayLength($.executions)"})
    assert "'Executions'" in cased
    sqs = awsmodel.operation("sqs", "getQueueAttributes")
    assert awsmodel.result_path_problems(sqs, {"v.$": "$.Attributes.AnyName"}) == []  # a map


def test_an_unknown_action_is_named():
    try:
        awsmodel.operation("sqs", "getQueueAttribute")
    except awsmodel.UnknownApi as exc:
        assert "GetQueueAttribute" in str(exc)
    else:
        raise AssertionError("no UnknownApi")


def _task(service: str, action: str) -> aslwalk.TaskState:
    return aslwalk.TaskState("S", (), {}, service, action)


def test_each_call_is_authorised_on_its_exact_resource():
    where = {"partition": "aws", "region": "eu-west-1", "account": "111122223333"}
    (queue,) = awsmodel.authorisations(
        _task("sqs", "receiveMessage"),
        {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/work"},
        **where,
    )
    assert queue == awsmodel.Authorisation(
        "sqs:ReceiveMessage", "arn:aws:sqs:eu-west-1:111122223333:work"
    )
    (mapping,) = awsmodel.authorisations(
        _task("lambda", "updateEventSourceMapping"), {"Uuid": "u-1"}, **where
    )
    assert mapping.resource == "arn:aws:lambda:eu-west-1:111122223333:event-source-mapping:u-1"
    (summary,) = awsmodel.authorisations(
        _task("s3", "putObject"), {"Bucket": "final", "Key": "runs/x.json"}, **where
    )
    assert summary.resource == "arn:aws:s3:::final/runs/x.json"
    (event,) = awsmodel.authorisations(
        _task("eventbridge", "putEvents"), {"Entries": [{"Source": "rekognition-batch"}]}, **where
    )
    assert event.action == "events:PutEvents"
    assert event.resource == "arn:aws:events:eu-west-1:111122223333:event-bus/default"
    assert event.context == {"events:source": "rekognition-batch"}
    assert awsmodel.iam_action(_task("sfn", "listExecutions")) == "states:ListExecutions"


def test_the_stack_key_is_asked_for_through_the_calling_service():
    found = awsmodel.kms_authorisations(
        _task("sns", "publish"), "arn:aws:kms:eu-west-1:1:key/k", "eu-west-1"
    )
    assert {a.action for a in found} == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert all(a.context == {"kms:ViaService": "sns.eu-west-1.amazonaws.com"} for a in found)
    assert awsmodel.kms_authorisations(_task("rekognition", "startProjectVersion"), "k", "r") == []


def test_the_emulators_policy_evaluation_follows_iams_rules():
    doc = {
        "Statement": [
            {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "arn:aws:s3:::b/runs/*"},
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            },
        ]
    }
    policies = [("p", doc)]
    assert (
        evaluate(policies, "s3:PutObject", "arn:aws:s3:::b/runs/x.json", {})["EvalDecision"]
        == "allowed"
    )
    assert (
        evaluate(policies, "s3:DeleteObject", "arn:aws:s3:::b/runs/x", {})["EvalDecision"]
        == "implicitDeny"
    )
    assert (
        evaluate(policies, "s3:PutObject", "arn:aws:s3:::b/other", {})["EvalDecision"]
        == "implicitDeny"
    )
    undecided = evaluate(policies, "kms:Decrypt", "k", {"aws:sourceip": ["10.1.1.1"]})
    assert undecided["EvalDecision"] == "implicitDeny"
    assert undecided["MissingContextValues"] == ["aws:SourceIp"]  # an operator it can not evaluate


def test_the_next_fire_time_is_told_in_the_schedules_zone():
    now = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)
    found = next_fire("cron(0 8 * * ? *)", "Europe/Paris", None, now)
    assert isinstance(found, datetime)
    assert found.astimezone(UTC) == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)
    assert "can not tell" in str(next_fire("every hour", "UTC", None, now))


def test_the_ownership_is_read_from_the_run_document():
    assert (
        ownership_of({"States": {"Init": {"Parameters": {"config": {"ownership": "shared"}}}}})
        == "shared"
    )
    assert ownership_of(None) is None


def test_a_mocked_response_has_the_apis_shape_in_step_functions_casing():
    sample = awsmodel.sample_response(awsmodel.operation("rekognition", "startProjectVersion"))
    assert set(sample) == {"Status"}
    assert sample["Status"] == "TRAINING_IN_PROGRESS"  # the enum's first value
    listed = awsmodel.sample_response(awsmodel.operation("sfn", "listExecutions"))
    assert set(listed["Executions"][0]) >= {"ExecutionArn", "Status"}


class _FakeSfn:
    """A Step Functions client whose TestState takes ``mock`` (a newer SDK)."""

    def __init__(self, with_mock: bool) -> None:
        members = {"definition": 1, "roleArn": 1, **({"mock": 1} if with_mock else {})}
        shape = type("Shape", (), {"members": members})()
        operation = type("Op", (), {"input_shape": shape})()
        model = type("Model", (), {"operation_model": lambda self, name: operation})()
        self.meta = type("Meta", (), {"service_model": model})()
        self.calls: list[dict] = []

    def test_state(self, **kwargs):
        self.calls.append(kwargs)
        return {"status": "SUCCEEDED", "output": "{}"}


def test_mock_is_used_only_where_the_sdk_knows_it():
    from cli import doctor

    assert doctor.mock_supported(_FakeSfn(with_mock=True))
    assert not doctor.mock_supported(_FakeSfn(with_mock=False))
    import boto3

    pinned = boto3.client("stepfunctions", region_name="us-east-1")
    assert not doctor.mock_supported(pinned)  # botocore 1.40.61
    fake = _FakeSfn(with_mock=True)
    flow = doctor.Workflow(
        {}, "arn:aws:states:r:1:stateMachine:m", "role", "aws", "r", "1", None, "t", True, ""
    )
    start = aslwalk.TaskState("S", (), {"Type": "Task"}, "rekognition", "startProjectVersion")
    verdict, text = doctor._mocked(fake, flow, start, {"Type": "Task"}, {})
    assert verdict == doctor.PASS and "STRICT" in text
    assert fake.calls[0]["mock"]["fieldValidationMode"] == "STRICT"
    assert '"Status"' in fake.calls[0]["mock"]["result"]


SNAPSHOTS = sorted((Path(__file__).parents[1] / "workflow" / "snapshots").glob("*.asl.json"))


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.name.split(".")[0])
def test_every_task_of_every_rendered_variant_matches_the_api_models(snapshot):
    """What the doctor checks statically holds for the definitions the project builds."""
    definition = json.loads(snapshot.read_text(encoding="utf-8"))
    tasks = aslwalk.task_states(definition)
    assert tasks
    for found in tasks:
        op = awsmodel.operation(found.service, found.action)
        assert awsmodel.parameter_problems(op, found.state.get("Parameters") or {}) == [], (
            found.label
        )
        assert awsmodel.result_path_problems(op, found.state.get("ResultSelector")) == [], (
            found.label
        )


def test_a_retriable_answer_is_asked_again_and_a_lasting_one_reported():
    from cli import doctor

    class Flaky(_FakeSfn):
        def __init__(self, answers: list[str]) -> None:
            super().__init__(with_mock=False)
            self.answers = answers

        def test_state(self, **kwargs):
            self.calls.append(kwargs)
            return {"status": self.answers.pop(0)}

    waits: list[float] = []
    healed = Flaky(["RETRIABLE", "SUCCEEDED"])
    assert doctor._test_state(healed, {}, "role", {}, sleep=waits.append)["status"] == "SUCCEEDED"
    assert len(healed.calls) == 2 and waits == [doctor.RETRIABLE_PAUSE]
    lasting = Flaky(["RETRIABLE"] * doctor.RETRIABLE_TRIES)
    assert doctor._test_state(lasting, {}, "role", {}, sleep=waits.append)["status"] == "RETRIABLE"
    assert len(lasting.calls) == doctor.RETRIABLE_TRIES


def test_a_simulator_answer_outside_its_model_is_not_checkable_not_a_crash():
    from cli.checkrows import NOT_CHECKABLE, simulate

    class Broken:
        def simulate_principal_policy(self, **_):
            return {"EvaluationResults": [{"EvalActionName": "sqs:GetQueueAttributes"}]}

    verdict, text = simulate(
        Broken(), "role", awsmodel.Authorisation("sqs:GetQueueAttributes", "q")
    )
    assert verdict == NOT_CHECKABLE and "unexpected response from AWS" in text
