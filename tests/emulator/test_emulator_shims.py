"""moto parity shims (emulator/shims.py): each test shows AWS's behaviour
through the emulator, and a tripwire test fails if moto itself changes."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import boto3
import moto
import pytest
from botocore.config import Config

from emulator import project_arn_of, shims, version_name_of
from tests.emulator.emu_helpers import VERSION_ARN

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def tiny_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def make_mapping(aws) -> tuple[str, str]:
    """A queue, a function and a DISABLED SQS mapping; returns (queue URL, mapping UUID)."""
    role = aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=ROLE_POLICY)
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam = aws.client("lambda")
    lam.create_function(
        FunctionName="fn",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": tiny_zip()},
    )
    esm = lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="fn", Enabled=False, BatchSize=10
    )
    return url, esm["UUID"]


def run_state_machine(aws, definition: dict, payload: dict, timeout: float = 20) -> dict:
    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"sm{time.monotonic_ns()}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=execution["executionArn"])
        if desc["status"] != "RUNNING":
            return desc
        time.sleep(0.1)
    raise AssertionError("execution did not finish")


def task(resource: str, parameters: dict, **extra) -> dict:
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::aws-sdk:{resource}",
        "Parameters": parameters,
        **extra,
    }


def test_moto_is_the_pinned_version():
    assert moto.__version__ == shims.PINNED_MOTO


def test_step_functions_tasks_reach_the_model_emulator(aws):
    aws.model.create(VERSION_ARN, status="RUNNING")
    definition = {
        "StartAt": "Describe",
        "States": {
            "Describe": task(
                "rekognition:describeProjectVersions",
                {"ProjectArn.$": "$.project", "VersionNames.$": "States.Array($.version)"},
                ResultSelector={
                    "Status.$": "States.ArrayGetItem($.ProjectVersionDescriptions[*].Status, 0)"
                },
                End=True,
            )
        },
    }
    payload = {"project": project_arn_of(VERSION_ARN), "version": version_name_of(VERSION_ARN)}
    desc = run_state_machine(aws, definition, payload)
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"]) == {"Status": "RUNNING"}
    assert aws.model.meter()["describes"] == 1


def test_sdk_errors_carry_the_aws_service_name(aws):
    aws.model.create(VERSION_ARN)  # TRAINING_COMPLETED: detect is not ready
    definition = {
        "StartAt": "Detect",
        "States": {
            "Detect": task(
                "rekognition:detectCustomLabels",
                {
                    "ProjectVersionArn": VERSION_ARN,
                    "Image": {"S3Object": {"Bucket": "b", "Name": "k.png"}},
                },
                Catch=[
                    {
                        "ErrorEquals": ["Rekognition.ResourceNotReadyException"],
                        "ResultPath": "$.error",
                        "Next": "Caught",
                    }
                ],
                End=True,
            ),
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    desc = run_state_machine(aws, definition, {})
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"])["error"]["Error"] == "Rekognition.ResourceNotReadyException"


def test_update_event_source_mapping_takes_the_step_functions_uuid_spelling(aws):
    _, uuid = make_mapping(aws)
    definition = {
        "StartAt": "Enable",
        "States": {
            "Enable": task(
                "lambda:updateEventSourceMapping",
                {"Uuid.$": "$.uuid", "Enabled": True},
                ResultSelector={"State.$": "$.State"},
                End=True,
            )
        },
    }
    desc = run_state_machine(aws, definition, {"uuid": uuid})
    assert desc["status"] == "SUCCEEDED", desc
    assert aws.client("lambda").get_event_source_mapping(UUID=uuid)["State"] == "Enabled"


def test_tripwire_moto_passes_uuid_to_boto3_unchanged():
    """If this fails, moto now maps Uuid itself: the aws-sdk casing shim may go."""
    factory = shims._original_factory
    assert factory is not None
    client = factory("us-east-1", "lambda")
    with pytest.raises(Exception) as info:  # noqa: B017 - the failure mode is moto's choice
        client.update_event_source_mapping(Uuid="x" * 36, Enabled=True)
    assert "UUID" in str(info.value) or "uuid" in str(info.value).lower()


def test_tripwire_moto_lacks_aws_service_error_names(aws):
    """If this fails, moto names these services itself: revise SERVICE_ERROR_NAMES.
    (``aws`` installs the shims, so the last line holds in any worker and order.)"""
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk as aws_sdk

    added = set(shims.SERVICE_ERROR_NAMES) - {"sfn", "dynamodb"}
    assert added.isdisjoint(shims.MOTO_SERVICE_ERROR_NAMES)
    assert aws_sdk._SERVICE_ERROR_NAMES["rekognition"] == "Rekognition"


def test_sending_to_a_queue_with_an_enabled_mapping_leaves_messages_alone(aws):
    """AWS: Lambda polls the queue; sending does not receive. moto pushes inside
    SendMessage (through Docker, absent here), bumping the receive count."""
    url, uuid = make_mapping(aws)
    aws.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=True)
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    got = sqs.receive_message(
        QueueUrl=url, AttributeNames=["ApproximateReceiveCount"], WaitTimeSeconds=0
    )["Messages"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in got] == ["1"]


def test_tripwire_moto_pushes_to_lambda_inside_send_message():
    """If this fails, moto no longer pushes SQS messages to Lambda on send:
    drop the event source mapping push shim."""
    import inspect

    from moto.sqs.models import Queue

    source = inspect.getsource(Queue.add_message)
    assert "lambda_event_source_mappings" in source and "send_sqs_batch" in source


def test_copy_object_honours_copy_source_if_match(aws):
    """AWS: a CopySourceIfMatch naming another ETag is 412 and copies nothing."""
    from botocore.exceptions import ClientError

    s3 = aws.client("s3")
    s3.create_bucket(Bucket="pinned")
    old = s3.put_object(Bucket="pinned", Key="k", Body=b"old")["ETag"]
    new = s3.put_object(Bucket="pinned", Key="k", Body=b"new")["ETag"]

    def copy(source_key: str, etag: str) -> str:
        """The error code of the conditional copy to "copy", or "" if it copied."""
        try:
            s3.copy_object(
                Bucket="pinned",
                Key="copy",
                CopySource={"Bucket": "pinned", "Key": source_key},
                CopySourceIfMatch=etag,
            )
        except ClientError as err:
            return err.response["Error"]["Code"]
        return ""

    assert copy("k", old) == "PreconditionFailed"
    assert "Contents" not in s3.list_objects_v2(Bucket="pinned", Prefix="copy")
    assert [copy("k", etag) for etag in (new, new.strip('"'))] == ["", ""]
    assert s3.get_object(Bucket="pinned", Key="copy")["Body"].read() == b"new"
    assert copy("gone", new) == "NoSuchKey"


def test_tripwire_moto_ignores_copy_source_if_match():
    """If this fails, moto checks x-amz-copy-source-if-match itself: drop the shim."""
    import inspect

    from moto.s3.responses import S3Response

    original = inspect.unwrap(S3Response.copy_object)
    assert "x-amz-copy-source-if-none-match" in inspect.getsource(original)
    assert "x-amz-copy-source-if-match" not in inspect.getsource(original)


def test_delete_objects_honours_each_objects_etag(aws):
    """AWS: DeleteObjects deletes a key only if it still has the ETag given for it."""
    from botocore.exceptions import ClientError

    s3 = aws.client("s3")
    s3.create_bucket(Bucket="conditional")
    old = s3.put_object(Bucket="conditional", Key="replaced", Body=b"old")["ETag"]
    s3.put_object(Bucket="conditional", Key="replaced", Body=b"new")
    same = s3.put_object(Bucket="conditional", Key="same", Body=b"same")["ETag"]
    s3.put_object(Bucket="conditional", Key="plain", Body=b"plain")

    response = s3.delete_objects(
        Bucket="conditional",
        Delete={
            "Objects": [
                {"Key": "replaced", "ETag": old},
                {"Key": "same", "ETag": same.strip('"')},
                {"Key": "gone", "ETag": same},
                {"Key": "plain"},
            ]
        },
    )

    errors = {e["Key"]: e["Code"] for e in response.get("Errors", [])}
    assert errors == {"replaced": "PreconditionFailed", "gone": "NoSuchKey"}
    assert sorted(d["Key"] for d in response.get("Deleted", [])) == ["plain", "same"]
    left = [o["Key"] for o in s3.list_objects_v2(Bucket="conditional").get("Contents", [])]
    assert left == ["replaced"]
    assert s3.get_object(Bucket="conditional", Key="replaced")["Body"].read() == b"new"
    # Every key refused: still one well-formed answer.
    response = s3.delete_objects(
        Bucket="conditional", Delete={"Objects": [{"Key": "replaced", "ETag": old}]}
    )
    assert [e["Code"] for e in response["Errors"]] == ["PreconditionFailed"]
    # XML 1.0 can not carry a control character: the request is malformed as a whole.
    with pytest.raises(ClientError) as refused:
        s3.delete_objects(Bucket="conditional", Delete={"Objects": [{"Key": "bad\x01key"}]})
    assert refused.value.response["Error"]["Code"] == "MalformedXML"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_conditional_delete_objects_keeps_odd_keys_exact(aws):
    """With a refused key in the request, the others are still deleted under their
    exact names (carriage return, leading space, tab, XML metacharacters)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="odd")
    old = s3.put_object(Bucket="odd", Key="r", Body=b"old")["ETag"]
    s3.put_object(Bucket="odd", Key="r", Body=b"new")
    keys = ["a\rb.png", " lead.png", "tab\t.png", "amp&<x>.png"]
    etags = {key: s3.put_object(Bucket="odd", Key=key, Body=b"x")["ETag"] for key in keys}
    objects = [{"Key": "r", "ETag": old}, *({"Key": k, "ETag": e} for k, e in etags.items())]

    response = s3.delete_objects(Bucket="odd", Delete={"Objects": objects})

    assert [e["Code"] for e in response["Errors"]] == ["PreconditionFailed"]
    # (moto writes a raw carriage return into the response XML, which the parser reads
    # as a newline: count the answers, and check the bucket for the names.)
    assert len(response["Deleted"]) == len(keys)
    left = {o["Key"] for o in s3.list_objects_v2(Bucket="odd").get("Contents", [])}
    assert left == {"r"}


def test_tripwire_moto_ignores_the_etag_in_delete_objects():
    """If this fails, moto checks DeleteObjects' <ETag> itself: drop the shim."""
    import inspect

    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    for function in (S3Response._bucket_response_delete_keys, S3Backend.delete_objects):
        source = inspect.getsource(inspect.unwrap(function))
        assert "ETag" not in source and "etag" not in source


def test_shims_do_not_touch_ordinary_clients(aws):
    lam = boto3.client("lambda", config=Config(parameter_validation=False))
    with pytest.raises(Exception):  # noqa: B017
        lam.update_event_source_mapping(Uuid="x" * 36, Enabled=True)


def test_concurrent_send_receive_delete_neither_loses_nor_duplicates(aws):
    """AWS SQS is safe under concurrency; moto's queue needs the lock shim."""
    import threading

    url = aws.client("sqs").create_queue(QueueName="busy", Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    per_sender, senders, receivers = 60, 3, 3
    sent_done = threading.Event()
    seen: list[str] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        sqs = aws.client("sqs")
        for i in range(0, per_sender, 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(j), "MessageBody": f"{n}-{i + j}"} for j in range(10)],
            )

    def receive() -> None:
        sqs = aws.client("sqs")
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got and sent_done.is_set():
                return
            with lock:
                seen.extend(m["Body"] for m in got)
            if got:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )

    senders_t = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    receivers_t = [threading.Thread(target=receive) for _ in range(receivers)]
    for t in senders_t + receivers_t:
        t.start()
    for t in senders_t:
        t.join()
    sent_done.set()
    for t in receivers_t:
        t.join()
    assert len(seen) == len(set(seen)) == per_sender * senders


def test_tripwire_moto_queue_delete_is_unlocked():
    """If this fails, moto locks its queue itself: drop the SQS lock shim."""
    import inspect

    from moto.sqs.models import Queue

    original = inspect.getsource(Queue.delete_message.__wrapped__)
    assert "_messages_lock" not in original


# -- performance shims -------------------------------------------------------------


def test_moto_module_listing_is_taken_once(aws, monkeypatch):
    """moto resolves every request's backend through this listing; the shim
    answers from memory, with what moto's own listing says."""
    import os

    import moto.backends

    listing = moto.backends.list_of_moto_modules
    assert list(listing()) == list(listing.__wrapped__())
    assert "s3" in listing() and "awslambda" in listing()

    def no_listing(path):
        raise AssertionError(f"listed {path} during a request")

    s3 = aws.client("s3")
    s3.list_buckets()  # botocore lists data directories on first use of a model
    monkeypatch.setattr(os, "listdir", no_listing)
    assert listing() == listing()
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_tripwire_moto_lists_its_package_on_every_request(monkeypatch):
    """If this fails, moto no longer lists its directory per request (or no
    longer asks this function): drop the module listing shim."""
    import inspect
    import os

    import moto.backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    source = inspect.getsource(DomainDispatcherApplication.get_backend_for_host)
    assert "backends.list_of_moto_modules()" in source
    calls: list[str] = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: calls.append(path) or real_listdir(path))
    original = moto.backends.list_of_moto_modules.__wrapped__
    list(original())
    list(original())
    assert len(calls) == 2


def _backend_queue(aws, name: str):
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[aws.account_id][aws.region]
    return backend, backend.get_queue(name)


def test_receiving_from_a_long_queue_does_not_recount_the_queue_per_message(aws, monkeypatch):
    """The fast-SQS shim: a receive neither computes the queue's attributes (whose
    counts walk every message) nor pays for them per message handed out."""
    from moto.sqs.models import Queue

    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="long-queue")["QueueUrl"]
    for start in range(0, 200, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)],
        )
    computed = []
    original = Queue.attributes

    def counting(self):
        computed.append(self.name)
        return original.fget(self)

    monkeypatch.setattr(Queue, "attributes", property(counting))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 10
    assert computed == [], "ReceiveMessage computed every queue attribute"

    counts = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    assert counts == {
        "ApproximateNumberOfMessages": "190",
        "ApproximateNumberOfMessagesNotVisible": "10",
        "ApproximateNumberOfMessagesDelayed": "0",
    }
    assert computed == ["long-queue"], "all three counts from one pass over the attributes"


def test_messages_past_the_retention_period_are_still_not_delivered(aws):
    """AWS deletes messages older than MessageRetentionPeriod; the shim keeps that."""
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="retained", Attributes={"MessageRetentionPeriod": "60"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    backend, queue = _backend_queue(aws, "retained")
    queue._messages[0].sent_timestamp -= 61_000
    assert backend.is_message_valid_based_on_retention_period("retained", queue._messages[0]) is (
        backend.is_message_valid_based_on_retention_period.__wrapped__(
            backend, "retained", queue._messages[0]
        )
    )
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    sqs.send_message(QueueUrl=url, MessageBody="new")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["new"]


def test_the_fast_sqs_clock_tells_moto_time():
    import moto.sqs.models as sqs_models

    for name in ("unix_time", "unix_time_millis"):
        fast = getattr(sqs_models, name)
        assert abs(fast() - fast.__wrapped__()) < (50 if name.endswith("millis") else 0.05)


def test_tripwire_moto_sqs_recounts_the_queue_per_received_message():
    """If this fails, moto's SQS changed how it checks retention, reads attributes or
    the clock: re-measure bench/bench_model_time.py without the fast-SQS shim."""
    import inspect

    from moto.core import utils
    from moto.sqs.models import SQSBackend

    retention = inspect.getsource(SQSBackend.is_message_valid_based_on_retention_period.__wrapped__)
    assert "get_queue_attributes" in retention
    attributes = inspect.getsource(SQSBackend.get_queue_attributes.__wrapped__)
    assert "queue.attributes.get(name)" in attributes
    assert "utcnow()" in inspect.getsource(utils.unix_time)


def test_executions_started_without_a_name_get_unique_generated_names(aws):
    """AWS: StartExecution without a name generates a unique one (what
    EventBridge Scheduler and `aws stepfunctions start-execution` rely on)."""
    import uuid

    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="unnamed",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
    )["stateMachineArn"]
    started = [sfn.start_execution(stateMachineArn=arn)["executionArn"] for _ in range(2)]
    names = [sfn.describe_execution(executionArn=a)["name"] for a in started]
    assert len(set(started)) == 2
    assert [str(uuid.UUID(name)) for name in names] == names
    assert [a.rsplit(":", 1)[1] for a in started] == names
    named = sfn.start_execution(stateMachineArn=arn, name="mine")["executionArn"]
    assert named.endswith(":mine")


@pytest.mark.parametrize("name", ["has space", "semi;colon", "a/b", "star*", "tab\t"])
def test_execution_names_aws_refuses_are_invalid_names(aws, name):
    from botocore.exceptions import ClientError

    sfn = aws.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="names",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
    )["stateMachineArn"]
    with pytest.raises(ClientError) as info:
        sfn.start_execution(stateMachineArn=arn, name=name)
    assert info.value.response["Error"]["Code"] == "InvalidName"
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_tripwire_moto_names_an_unnamed_execution_none():
    """If this fails, moto generates execution names itself: drop the shim."""
    import inspect

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    source = inspect.getsource(inspect.unwrap(StepFunctionsParserBackend.start_execution))
    assert "exec_name = name" in source and "uuid" not in source
    assert "_validate_name" not in source


def _notifying_bucket(aws, bucket: str) -> str:
    """A bucket whose ObjectCreated events go to a new queue; returns the queue URL."""
    sqs, s3 = aws.client("sqs"), aws.client("s3")
    url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return url


def _object_created_events(aws, url: str) -> list[tuple[str, str]]:
    """(eventName, key) of every ObjectCreated record in the queue (s3:TestEvent skipped)."""
    sqs, found = aws.client("sqs"), []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return sorted(found)
        for message in got:
            body = json.loads(message["Body"])
            found += [(r["eventName"], r["s3"]["object"]["key"]) for r in body.get("Records", [])]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_multipart_upload_notifies_once(aws):
    """AWS: one ObjectCreated:CompleteMultipartUpload per multipart upload."""
    s3 = aws.client("s3")
    url = _notifying_bucket(aws, "multi")
    upload = s3.create_multipart_upload(Bucket="multi", Key="big.png")["UploadId"]
    parts = [
        {"PartNumber": n, "ETag": s3.upload_part(
            Bucket="multi", Key="big.png", UploadId=upload, PartNumber=n, Body=body
        )["ETag"]}
        for n, body in ((1, b"a" * (5 * 1024 * 1024)), (2, b"b"))
    ]  # fmt: skip
    s3.complete_multipart_upload(
        Bucket="multi", Key="big.png", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    s3.put_object(Bucket="multi", Key="small.png", Body=b"c")
    assert _object_created_events(aws, url) == [
        ("ObjectCreated:CompleteMultipartUpload", "big.png"),
        ("ObjectCreated:Put", "small.png"),
    ]
    assert s3.head_object(Bucket="multi", Key="big.png")["ContentLength"] == 5 * 1024 * 1024 + 1


def test_tripwire_moto_notifies_put_inside_complete_multipart_upload():
    """If this fails, moto's CompleteMultipartUpload no longer stores the object
    through a notifying put_object: drop the shim."""
    import inspect

    from moto.s3.models import S3Backend

    source = inspect.getsource(inspect.unwrap(S3Backend.complete_multipart_upload))
    put_call = source[source.index("self.put_object(") :]
    put_call = put_call[: put_call.index(")\n")]
    assert "disable_notification" not in put_call
    assert "OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT" in source


# ------------------------------------------------ TestState, SimulatePrincipalPolicy


def _queue_state(url: str, **extra) -> dict:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
        "Parameters": {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]},
        "ResultSelector": {
            "visible.$": "States.StringToJson($.Attributes.ApproximateNumberOfMessages)"
        },
        "ResultPath": "$.queue",
        "End": True,
    }
    state.update(extra)
    return state


def test_test_state_runs_one_state_and_answers_with_inspection_data(aws):
    url = aws.client("sqs").create_queue(QueueName="work")["QueueUrl"]
    answer = aws.client("stepfunctions").test_state(
        definition=json.dumps(_queue_state(url)),
        roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
        input=json.dumps({"keep": 1}),
        inspectionLevel="DEBUG",
    )
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == {"keep": 1, "queue": {"visible": 0}}
    data = answer["inspectionData"]
    assert json.loads(data["afterParameters"])["QueueUrl"] == url
    assert json.loads(data["result"]) == {"Attributes": {"ApproximateNumberOfMessages": "0"}}
    assert json.loads(data["afterResultSelector"]) == {"visible": 0}


def test_test_state_reports_a_caught_error_with_the_catchers_next_state(aws):
    state = _queue_state(
        f"{aws.endpoint}/{aws.account_id}/no-such-queue",
        Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Cleanup"}],
    )
    answer = aws.client("stepfunctions").test_state(
        definition=json.dumps(state), roleArn=f"arn:aws:iam::{aws.account_id}:role/r"
    )
    assert answer["status"] == "CAUGHT_ERROR"
    assert answer["nextState"] == "Cleanup"
    assert answer["error"]


def test_test_state_refuses_states_it_can_not_run_as_invalid_definition(aws):
    with pytest.raises(aws.client("stepfunctions").exceptions.InvalidDefinition):
        aws.client("stepfunctions").test_state(
            definition=json.dumps({"Type": "Parallel", "Branches": [], "End": True}),
            roleArn=f"arn:aws:iam::{aws.account_id}:role/r",
        )


def test_tripwire_moto_serves_no_test_state():
    from moto.stepfunctions.responses import StepFunctionResponse

    from emulator import apishims

    shim = StepFunctionResponse.__dict__["test_state"]
    assert getattr(shim, apishims.SHIM_MARK, False)
    import moto.stepfunctions.responses as module

    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "def test_state" not in source  # moto serves it itself: drop the shim


def _role_with(aws, statements: list[dict]) -> str:
    iam = aws.client("iam")
    arn = iam.create_role(RoleName="wf", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="wf",
        PolicyName="grants",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return arn


def _decisions(aws, role: str, actions: list[str], resource: str, **kw) -> dict[str, dict]:
    results = aws.client("iam").simulate_principal_policy(
        PolicySourceArn=role, ActionNames=actions, ResourceArns=[resource], **kw
    )["EvaluationResults"]
    return {r["EvalActionName"]: r for r in results}


def test_simulate_principal_policy_allows_denies_and_matches_wildcards(aws):
    queue = f"arn:aws:sqs:{aws.region}:{aws.account_id}:work"
    role = _role_with(
        aws,
        [
            {"Effect": "Allow", "Action": "sqs:Get*", "Resource": queue},
            {"Effect": "Allow", "Action": "SQS:ReceiveMessage", "Resource": f"{queue[:-4]}w?rk"},
            {"Effect": "Deny", "Action": "sqs:GetQueueUrl", "Resource": "*"},
        ],
    )
    found = _decisions(
        aws,
        role,
        ["sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:GetQueueUrl", "sqs:DeleteMessage"],
        queue,
    )
    assert found["sqs:GetQueueAttributes"]["EvalDecision"] == "allowed"
    assert found["sqs:ReceiveMessage"]["EvalDecision"] == "allowed"  # actions ignore case
    assert found["sqs:GetQueueUrl"]["EvalDecision"] == "explicitDeny"
    assert found["sqs:DeleteMessage"]["EvalDecision"] == "implicitDeny"
    other = _decisions(aws, role, ["sqs:GetQueueAttributes"], queue.upper())
    assert other["sqs:GetQueueAttributes"]["EvalDecision"] == "implicitDeny"  # resources do not


def test_simulate_principal_policy_names_a_condition_key_it_was_not_given(aws):
    bus = f"arn:aws:events:{aws.region}:{aws.account_id}:event-bus/default"
    role = _role_with(
        aws,
        [
            {
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": bus,
                "Condition": {"StringEquals": {"events:source": "rekognition-batch"}},
            }
        ],
    )
    without = _decisions(aws, role, ["events:PutEvents"], bus)["events:PutEvents"]
    assert without["EvalDecision"] == "implicitDeny"
    assert without["MissingContextValues"] == ["events:source"]
    entry = {
        "ContextKeyName": "events:source",
        "ContextKeyValues": ["rekognition-batch"],
        "ContextKeyType": "string",
    }
    given = _decisions(aws, role, ["events:PutEvents"], bus, ContextEntries=[entry])
    assert given["events:PutEvents"]["EvalDecision"] == "allowed"
    entry["ContextKeyValues"] = ["someone-else"]
    wrong = _decisions(aws, role, ["events:PutEvents"], bus, ContextEntries=[entry])
    assert wrong["events:PutEvents"]["EvalDecision"] == "implicitDeny"


def test_tripwire_moto_serves_no_simulate_principal_policy():
    import moto.iam.responses as module

    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "def simulate_principal_policy" not in source  # moto serves it: drop the shim


def _put_summary(aws, body_parameter: dict) -> bytes:
    aws.client("s3").create_bucket(Bucket="final")
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": task(
                "s3:putObject",
                {"Bucket": "final", "Key": "runs/r.json", **body_parameter},
                ResultSelector={"ETag.$": "$.ETag"},
                End=True,
            )
        },
    }
    payload = {"summary": {"outcome": "drained", "polls": 3, "note": "été", "error": None}}
    desc = run_state_machine(aws, definition, payload)
    assert desc["status"] == "SUCCEEDED", desc
    return aws.client("s3").get_object(Bucket="final", Key="runs/r.json")["Body"].read()


def test_put_object_from_a_workflow_stores_an_object_body_as_compact_json(aws):
    stored = _put_summary(aws, {"Body.$": "$.summary"})
    assert stored == '{"outcome":"drained","polls":3,"note":"été","error":null}'.encode()


def test_put_object_from_a_workflow_stores_a_string_body_as_a_json_string_literal(aws):
    """What AWS does (LocalStack's parity snapshots, recorded against AWS): the
    quotes are part of the object."""
    assert _put_summary(aws, {"Body": "text data"}) == b'"text data"'
    stored = _put_summary(aws, {"Body.$": "States.JsonToString($.summary)"})
    assert json.loads(json.loads(stored)) == {
        "outcome": "drained",
        "polls": 3,
        "note": "été",
        "error": None,
    }


def test_ordinary_s3_clients_store_bodies_unchanged(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="plain")
    s3.put_object(Bucket="plain", Key="k", Body="text data")
    assert s3.get_object(Bucket="plain", Key="k")["Body"].read() == b"text data"


def test_tripwire_moto_hands_the_body_to_boto3_unchanged():
    """If this fails, moto's aws-sdk S3 calls serialize the Body themselves:
    revise the JSON Body shim (_JSON_BODY_OPERATIONS)."""
    import inspect

    import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk as aws_sdk

    source = inspect.getsource(aws_sdk.StateTaskServiceAwsSdk._eval_service_task)
    assert "getattr(api_client, api_action)(**normalised_parameters)" in source
    assert "json" not in source.lower()


def test_aws_sdk_results_carry_timestamps_as_aws_strings(aws):
    sfn = aws.client("stepfunctions")
    definition = {
        "StartAt": "List",
        "States": {
            "List": task(
                "sfn:listExecutions",
                {"StateMachineArn.$": "$$.StateMachine.Id", "StatusFilter": "RUNNING"},
                ResultSelector={"executions.$": "$.Executions"},
                End=True,
            )
        },
    }
    desc = run_state_machine(aws, definition, {})
    assert desc["status"] == "SUCCEEDED", desc
    (execution,) = json.loads(desc["output"])["executions"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", execution["StartDate"])
    assert execution["ExecutionArn"] == desc["executionArn"]
    assert sfn.describe_execution(executionArn=desc["executionArn"])["status"] == "SUCCEEDED"


def test_tripwire_moto_hands_on_botocore_datetimes():
    """If this fails, moto converts aws-sdk results itself: revise aws_timestamp."""
    import inspect

    import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk as aws_sdk

    source = inspect.getsource(aws_sdk.StateTaskServiceAwsSdk._eval_service_task)
    assert "env.stack.append(response)" in source
    assert "datetime" not in source and "isoformat" not in source
