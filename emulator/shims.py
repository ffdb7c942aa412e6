"""moto parity shims: where moto 5.2.5 differs from AWS in a way the project's
AWS-correct definitions trip over, adapt moto here (never the definitions).
Plus performance shims: moto server overheads that change no behaviour.

Each parity shim says what AWS does; each performance shim says what it
saves. tests/emulator/test_emulator_shims.py holds a tripwire test per shim
that fails if moto changes underneath (so the shim can be dropped or must be
revised). Everything here is idempotent; ``install(endpoint)`` is called by
``LocalAws.start`` with a function naming the endpoint moto's own outgoing
calls (Step Functions tasks) must reach: the shims never import the server.
"""

from __future__ import annotations

import datetime
import importlib
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import moto

PINNED_MOTO = "5.2.5"

# moto modules that bind `boto_client_for` by name (from ... import boto_client_for).
_CLIENT_FACTORY_MODULE = "moto.stepfunctions.parser.asl.utils.boto_client"
_CLIENT_USERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
)
_AWS_SDK_MODULE = _CLIENT_USERS[0]

# AWS Step Functions names aws-sdk errors "<Service>.<Error>" with the SDK's
# PascalCase service name (e.g. "Rekognition.ResourceNotReadyException",
# "Lambda.ResourceConflictException", "Sqs.QueueDoesNotExistException",
# "S3.NoSuchKeyException"); moto only knows DynamoDb and Sfn and otherwise uses
# the lower-case resource name ("rekognition.ResourceNotReadyException"), so a
# Catch on the AWS name would never match.
SERVICE_ERROR_NAMES = {
    "rekognition": "Rekognition",
    "lambda": "Lambda",
    "sqs": "Sqs",
    "s3": "S3",
    "sfn": "Sfn",
    "dynamodb": "DynamoDb",
    "sns": "Sns",
    "eventbridge": "EventBridge",
}
# Step Functions names some services as the AWS SDKs do, not as boto3 does: an
# aws-sdk:eventbridge:putEvents task is boto3's "events" client (moto 5.2.5 has no
# such mapping and fails the task with "Unknown service: 'eventbridge'").
SDK_TO_BOTO3_SERVICE = {"eventbridge": "events"}

# What moto 5.2.5 ships (the tripwire test checks it still lacks ours).
MOTO_SERVICE_ERROR_NAMES = frozenset({"dynamodb", "sfn"})

# AWS Step Functions speaks PascalCase to every service through aws-sdk tasks,
# in both directions (`StateMachineArn`, `Uuid` in; `Executions[].ExecutionArn`
# out), whatever the API's own member names are (the Step Functions API is
# camelCase, Lambda's mapping id is `UUID`). moto 5.2.5 passes the parameters
# to boto3 unchanged and returns boto3's casing, so the aws-sdk tasks' clients
# map parameters to the API's member names (case-insensitively) and PascalCase
# every structure member of the result (map keys are data and stay).
# Timestamps in a result are ISO 8601 strings in UTC with milliseconds
# ("2024-05-01T12:00:00.123Z", what AWS's aws-sdk tasks return): moto hands on
# botocore's datetime objects, and a state output holding one makes
# DescribeExecution fail (its output can not be serialized).

# AWS Step Functions serializes an aws-sdk task's blob parameter as JSON: the
# s3:putObject Body "text data" is stored as the 11 bytes `"text data"` (quotes
# included; LocalStack's parity snapshots, recorded against AWS, show it, and
# so do users writing JSON Lines from a workflow), an object Body as compact
# JSON. moto 5.2.5 passes the Body to boto3 as it is: a string is stored raw
# (so a definition that works in moto writes unreadable objects on AWS) and an
# object fails the task. The aws-sdk tasks' S3 client stores what AWS stores.
_JSON_BODY_OPERATIONS = ("PutObject",)

# AWS: the Lambda service *polls* an SQS queue for an enabled event source
# mapping; SendMessage never receives. moto instead pushes inside SendMessage:
# it receives a batch (raising ApproximateReceiveCount, i.e. walking messages
# towards the DLQ), invokes the function through Docker (absent here, so the
# invoke fails) and makes the messages visible again; with lambda
# use_docker=False it "succeeds" and deletes them unprocessed. The emulator's
# poller plays the Lambda service, so the queue-side push registry is emptied
# as mappings are created (moto's Lambda API keeps its own record of them).
_ESM_CREATE = ("moto.awslambda.models", "LambdaBackend", "create_event_source_mapping")

# AWS SQS hands each message to one receiver per visibility period and
# never loses a sent message. moto's Queue is not thread-safe: DeleteMessage
# rebuilds the message list without the queue's lock, so a concurrent
# SendMessage (an S3 notification arriving mid-run) can be lost and a
# concurrent ReceiveMessage can hand out a message just deleted. The server
# is threaded, so delete and receive are made to hold the queue's own lock
# (a Condition over an RLock, which long-poll waits release).
_SQS_QUEUE = ("moto.sqs.models", "Queue", "delete_message")
_SQS_BACKEND = ("moto.sqs.models", "SQSBackend", "receive_message")

# AWS CopyObject honours x-amz-copy-source-if-match: when the source's ETag
# differs it answers 412 PreconditionFailed and copies nothing. moto 5.2.5 checks
# only ...-if-none-match and copies whatever is there, so the runtime's pinning
# of the copy to the version it detected (CopySourceIfMatch) would go unchecked.
_S3_COPY = ("moto.s3.responses", "S3Response", "copy_object")

# AWS DeleteObjects honours each object's <ETag> (conditional deletes): a key now
# holding another ETag is refused with PreconditionFailed, a missing one with
# NoSuchKey, the others deleted. moto 5.2.5 checks If-Match on DeleteObject but
# ignores the ETag in DeleteObjects and deletes whatever is there, so the
# runtime's keeping of a source uploaded again before its delete would go unchecked.
# A body that is not XML (a key with a control character, which XML 1.0 can not
# carry) is S3's 400 MalformedXML, where moto fails with a 500.
_S3_DELETE_KEYS = ("moto.s3.responses", "S3Response", "_bucket_response_delete_keys")
_S3_BACKEND_DELETE_OBJECTS = ("moto.s3.models", "S3Backend", "delete_objects")
_DELETE_REFUSED = threading.local()  # keys the request being served refused (ETag)

# AWS StartExecution without a name gives the execution a generated unique
# name (a UUID); EventBridge Scheduler and `aws stepfunctions start-execution`
# pass none. moto 5.2.5's executing backend uses the missing name as is: the
# execution is called "None" (ARN ...:None, the run summary runs/None.json) and
# a second unnamed start is ExecutionAlreadyExists. Nor does it check a given
# name ("TODO: validate name format"): AWS refuses whitespace, brackets,
# wildcards, `"#%\\^|~`$&,;:/` and control characters with InvalidName; moto's
# non-executing backend has that check (_validate_name), which the shim calls.
_SFN_START = ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend", "start_execution")

# AWS sends one s3:ObjectCreated:CompleteMultipartUpload notification for a
# multipart upload. moto 5.2.5's CompleteMultipartUpload stores the object with
# put_object, which notifies ObjectCreated:Put, and then notifies
# CompleteMultipartUpload: every multipart upload (the AWS CLI's `s3 cp` of a
# file over 8 MB) was queued, and detected, twice.
_S3_COMPLETE_MULTIPART = ("moto.s3.models", "S3Backend", "complete_multipart_upload")
_S3_PUT_OBJECT = ("moto.s3.models", "S3Backend", "put_object")
_COMPLETING_MULTIPART = threading.local()  # set while this thread completes an upload

# Performance: moto's server resolves the backend of every request through
# `moto.backends.list_of_moto_modules()`, which lists moto's package directory
# and stats each of its ~180 entries (on every request, sometimes twice: about
# a fifth of an S3 request's CPU). The installed package does not change while
# the process runs, so the listing is taken once.
_MODULE_LISTING = ("moto.backends", "list_of_moto_modules")

# Performance: moto's SQS is quadratic in the queue's length. ReceiveMessage
# checks each message it hands out against the retention period by computing
# *all* queue attributes, three of which (the approximate counts) walk every
# message; GetQueueAttributes recomputes all attributes twice per name asked
# for; and each per-message visibility check reads the clock through datetime
# arithmetic (~10 us). Receiving 10 of 1000 queued messages took 1.4 s of
# server CPU, so a 1000-image backlog drained at a fraction of the model's TPS
# (bench/bench_model_time.py). The shims compute the same values directly:
# the retention period from the queue, the attributes once per request, the
# clock as time.time() (what moto's unix_time() computes, with more steps).
_SQS_MODELS = "moto.sqs.models"
_SQS_RETENTION = (_SQS_MODELS, "SQSBackend", "is_message_valid_based_on_retention_period")
_SQS_ATTRIBUTES = (_SQS_MODELS, "SQSBackend", "get_queue_attributes")
_SQS_CLOCKS = ("unix_time", "unix_time_millis")

_lock = threading.Lock()
_original_factory: Any = None


def _no_endpoint() -> str | None:
    return None


# Where moto's outgoing SDK calls go (set by install(); None: moto's own default).
_endpoint: Callable[[], str | None] = _no_endpoint


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _match_params(params: dict[str, Any], model: Any, **_: Any) -> None:
    """Rename Step Functions' PascalCase parameters to the API's member names
    (``StateMachineArn`` -> ``stateMachineArn``, ``Uuid`` -> ``UUID``)."""
    shape = model.input_shape
    if shape is None:
        return
    by_lower = {name.lower(): name for name in shape.members}
    for key in list(params):
        api_name = by_lower.get(key.lower())
        if api_name is not None and api_name != key and api_name not in params:
            params[api_name] = params.pop(key)


def aws_timestamp(value: datetime.datetime) -> str:
    """A timestamp as AWS's aws-sdk task results spell it: UTC, milliseconds, Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    text = value.astimezone(datetime.UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def aws_sdk_body(value: Any) -> bytes:
    """The bytes AWS stores for an aws-sdk task's blob parameter: its JSON (a
    string becomes a JSON string literal), compact, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json_body(params: dict[str, Any], **_: Any) -> None:
    if "Body" in params and not isinstance(params["Body"], bytes | bytearray):
        params["Body"] = aws_sdk_body(params["Body"])


def _pascal_result(shape: Any, value: Any) -> Any:
    """boto3's parsed output with every structure member PascalCased (maps keep
    their keys: they are data) and timestamps as AWS's strings."""
    kind = getattr(shape, "type_name", None)
    if kind == "timestamp" and isinstance(value, datetime.datetime):
        return aws_timestamp(value)
    if kind == "structure" and isinstance(value, dict):
        result = {}
        for key, item in value.items():
            member = shape.members.get(key)
            result[_pascal(key)] = _pascal_result(member, item) if member is not None else item
        return result
    if kind == "list" and isinstance(value, list):
        return [_pascal_result(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _pascal_result(shape.value, item) for key, item in value.items()}
    return value


def _pascal_output(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    if model.output_shape is None or not isinstance(parsed, dict):
        return
    converted = _pascal_result(model.output_shape, parsed)
    parsed.clear()
    parsed.update(converted)


def _with_sdk_casing(client: Any) -> Any:
    """Register the Step Functions casing hooks on one boto3 client (only the
    clients of aws-sdk tasks get them; every other client keeps boto3's casing)."""
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(
        f"provide-client-params.{service_id}", _match_params, unique_id="rekbatch-sdk-params"
    )
    client.meta.events.register(
        f"after-call.{service_id}", _pascal_output, unique_id="rekbatch-sdk-output"
    )
    if service_id == "s3":
        for operation in _JSON_BODY_OPERATIONS:
            client.meta.events.register(
                f"provide-client-params.s3.{operation}",
                _json_body,
                unique_id=f"rekbatch-sdk-json-body-{operation}",
            )
    return client


# moto builds a new boto3 client for every task (0.1-0.9 s of model loading each,
# which made every state of a drain loop slow); clients are thread-safe and the
# endpoint is fixed per server, so they are reused. (moto's factory does not sign
# with the task's role: the emulator does not check it.)
_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _cached_client(region: str, service: str, sdk_casing: bool) -> Any:
    key = (region, service, _endpoint(), sdk_casing)
    with _clients_lock:
        cached = _clients.get(key)
    if cached is not None:
        return cached
    client = _client_factory(region, service)
    if sdk_casing:
        client = _with_sdk_casing(client)
    with _clients_lock:
        return _clients.setdefault(key, client)


def _task_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """Client factory of every Step Functions task type (except aws-sdk)."""
    return _cached_client(region, service, sdk_casing=False)


def _aws_sdk_task_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """Client factory of aws-sdk tasks: Step Functions' casing on top."""
    return _cached_client(region, SDK_TO_BOTO3_SERVICE.get(service, service), sdk_casing=True)


def _client_factory(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's Step Functions client factory, pointed at the running LocalAws
    (127.0.0.1:port rather than localhost:$MOTO_PORT, which may resolve to ::1)."""
    from botocore.config import Config

    endpoint = _endpoint()
    if endpoint is None:  # no server in this process (e.g. mock_aws decorator mode)
        return _original_factory(region, service, state_credentials)
    import boto3
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    client = boto3.session.Session().client(
        service_name=service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="ak",
        aws_secret_access_key="sk",
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
    )
    return client


def install(endpoint: Callable[[], str | None] | None = None) -> None:
    """Apply every shim (idempotent).

    ``endpoint()`` names the running emulator (``http://127.0.0.1:PORT``) that
    moto's Step Functions tasks call, or None to leave moto's own default.
    """
    global _original_factory, _endpoint
    if moto.__version__ != PINNED_MOTO:
        raise RuntimeError(
            f"emulator shims are written for moto {PINNED_MOTO}, found {moto.__version__}: "
            "re-run tests/emulator/test_emulator_shims.py and revise emulator/shims.py"
        )
    with _lock:
        if endpoint is not None:
            _endpoint = endpoint
        factory_module: Any = importlib.import_module(_CLIENT_FACTORY_MODULE)
        if _original_factory is None:
            _original_factory = factory_module.boto_client_for
        factory_module.boto_client_for = _task_client
        for name in _CLIENT_USERS:
            importlib.import_module(name)
        # Every moto module that bound the original by name (installing twice
        # finds ours there and leaves it).
        module: Any  # a moto module: its attributes are set below
        for name, module in list(sys.modules.items()):
            if name.startswith("moto.") and getattr(module, "boto_client_for", None) is (
                _original_factory
            ):
                module.boto_client_for = _task_client
        aws_sdk: Any = importlib.import_module(_AWS_SDK_MODULE)
        aws_sdk.boto_client_for = _aws_sdk_task_client
        aws_sdk._SERVICE_ERROR_NAMES.update(SERVICE_ERROR_NAMES)
        _install_no_sqs_push()
        _install_unnamed_executions()
        _install_one_multipart_notification()
        _install_copy_source_if_match()
        _install_delete_objects_if_match()
        _install_sqs_queue_locks()
        _install_module_listing_cache()
        _install_fast_sqs()


def _replace(owner: Any, name: str, build: Callable[[Any], Callable[..., Any]]) -> None:
    """Set ``owner.name`` to ``build(original)`` unless a shim is already there.

    The replacement is marked (installing twice changes nothing) and keeps the
    original as ``__wrapped__``, which the tripwire tests read.
    """
    original = getattr(owner, name)
    if getattr(original, "_rekbatch_shim", False):
        return
    replacement = build(original)
    replacement._rekbatch_shim = True  # type: ignore[attr-defined]  # a marker on a function
    replacement.__wrapped__ = original  # type: ignore[attr-defined]  # as functools.wraps sets it
    setattr(owner, name, replacement)


def _install_module_listing_cache() -> None:
    module_name, function_name = _MODULE_LISTING

    def build(original: Any) -> Callable[[], tuple[str, ...]]:
        listing = tuple(original())

        def list_of_moto_modules() -> tuple[str, ...]:
            return listing

        return list_of_moto_modules

    _replace(importlib.import_module(module_name), function_name, build)


def _install_fast_sqs() -> None:
    module = importlib.import_module(_SQS_MODELS)
    for name in _SQS_CLOCKS:
        scale = 1000.0 if name.endswith("_millis") else 1.0

        def build_clock(original: Any, scale: float = scale) -> Callable[..., float]:
            def clock(dt: Any = None) -> float:
                return time.time() * scale if dt is None else original(dt)

            return clock

        _replace(module, name, build_clock)

    _, class_name, retention_name = _SQS_RETENTION
    backend_class = getattr(module, class_name)

    def build_retention(original: Any) -> Callable[..., bool]:
        def is_message_valid_based_on_retention_period(
            self: Any, queue_name: str, message: Any
        ) -> bool:
            retention = int(self.get_queue(queue_name).message_retention_period)
            return retention + message.sent_timestamp / 1000 > time.time()

        return is_message_valid_based_on_retention_period

    _replace(backend_class, retention_name, build_retention)

    def build_attributes(original: Any) -> Callable[..., dict[str, Any]]:
        def get_queue_attributes(
            self: Any, queue_name: str, attribute_names: list[str]
        ) -> dict[str, Any]:
            if not attribute_names or "All" in attribute_names:
                return original(self, queue_name, attribute_names)
            queue = self.get_queue(queue_name)
            valid = {"All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES}
            if any(name not in valid for name in attribute_names):
                return original(self, queue_name, attribute_names)  # its error
            current = queue.attributes
            return {
                name: current[name] for name in attribute_names if current.get(name) is not None
            }

        return get_queue_attributes

    _replace(backend_class, _SQS_ATTRIBUTES[2], build_attributes)


def _install_copy_source_if_match() -> None:
    module_name, class_name, method_name = _S3_COPY

    def build(original: Any) -> Callable[[Any], Any]:
        def copy_object(self: Any) -> Any:
            wanted = self.headers.get("x-amz-copy-source-if-match")
            if wanted:
                from urllib.parse import parse_qs, unquote, urlparse

                from moto.s3.exceptions import PreconditionFailed

                copy_source = self.headers.get("x-amz-copy-source")
                if isinstance(copy_source, bytes):
                    copy_source = copy_source.decode("utf-8")
                parsed = urlparse(copy_source)
                bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
                version = parse_qs(parsed.query).get("versionId", [None])[0]
                # A missing source falls through: moto answers NoSuchKey, like AWS.
                source = self.backend.get_object(bucket, key, version_id=version)
                if source is not None and wanted.strip('"') != source.etag.strip('"'):
                    raise PreconditionFailed(failed_condition="x-amz-copy-source-If-Match")
            return original(self)

        return copy_object

    _replace(getattr(importlib.import_module(module_name), class_name), method_name, build)


def _install_delete_objects_if_match() -> None:
    module_name, class_name, method_name = _S3_DELETE_KEYS

    def build(original: Any) -> Callable[..., Any]:
        def delete_keys(self: Any, bucket_name: str, authenticated: bool = True) -> Any:
            from xml.parsers.expat import ExpatError

            import xmltodict
            from moto.core.responses import ActionResult
            from moto.s3.exceptions import MalformedXML

            try:
                parsed = xmltodict.parse(self.body, strip_whitespace=False)
            except ExpatError:  # moto answers 500; S3 says 400 MalformedXML
                raise MalformedXML() from None
            objects = (parsed.get("Delete") or {}).get("Object") or []
            if not isinstance(objects, list):
                objects = [objects]
            refused = []
            for item in objects:
                etag = item.get("ETag") if isinstance(item, dict) else None
                if not etag:
                    continue
                current = self.backend.get_object(bucket_name, item["Key"])
                if current is None:
                    refused.append(
                        {
                            "Key": item["Key"],
                            "Code": "NoSuchKey",
                            "Message": "The specified key does not exist.",
                        }
                    )
                elif etag.strip('"') != current.etag.strip('"'):
                    refused.append(
                        {
                            "Key": item["Key"],
                            "Code": "PreconditionFailed",
                            "Message": "At least one of the pre-conditions you specified did not hold",
                        }
                    )
            if not refused:
                return original(self, bucket_name, authenticated)
            serialized = self.serialized

            def with_refused(result: Any) -> Any:
                body = dict(result.result)
                body["Errors"] = [*body.get("Errors", []), *refused]
                return serialized(ActionResult(body))

            # moto parses the untouched body itself (keys exactly as sent); the
            # backend skips the refused keys (this thread's request only), and
            # the response gains their errors.
            self.serialized = with_refused  # this request's own response object
            _DELETE_REFUSED.keys = {item["Key"] for item in refused}
            try:
                return original(self, bucket_name, authenticated)
            finally:
                _DELETE_REFUSED.keys = None

        return delete_keys

    def build_backend(original: Any) -> Callable[..., Any]:
        def delete_objects(self: Any, bucket_name: str, objects: Any, *args: Any) -> Any:
            skip = getattr(_DELETE_REFUSED, "keys", None)
            if skip:
                objects = [item for item in objects if item["Key"] not in skip]
            return original(self, bucket_name, objects, *args)

        return delete_objects

    _replace(getattr(importlib.import_module(module_name), class_name), method_name, build)
    backend_module, backend_class, backend_method = _S3_BACKEND_DELETE_OBJECTS
    _replace(
        getattr(importlib.import_module(backend_module), backend_class),
        backend_method,
        build_backend,
    )


def _install_sqs_queue_locks() -> None:
    module_name, queue_class_name, delete_name = _SQS_QUEUE
    _, backend_class_name, receive_name = _SQS_BACKEND
    module = importlib.import_module(module_name)

    def build_delete(original: Any) -> Callable[..., None]:
        def delete_message(self: Any, receipt_handle: str) -> None:
            with self._messages_lock:
                original(self, receipt_handle)

        return delete_message

    def build_receive(original: Any) -> Callable[..., Any]:
        def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            queue = self.get_queue(queue_name)
            with queue._messages_lock:
                return original(self, queue_name, *args, **kwargs)

        return receive_message

    _replace(getattr(module, queue_class_name), delete_name, build_delete)
    _replace(getattr(module, backend_class_name), receive_name, build_receive)


def _install_no_sqs_push() -> None:
    module_name, class_name, method_name = _ESM_CREATE

    def build(original: Any) -> Callable[..., Any]:
        def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
            esm = original(self, spec)
            from moto.sqs.models import sqs_backends

            queues = sqs_backends[self.account_id][self.region_name].queues.values()
            for queue in queues:
                registry = queue.lambda_event_source_mappings
                for key, value in list(registry.items()):
                    if value is esm:
                        del registry[key]
            return esm

        return create_event_source_mapping

    _replace(getattr(importlib.import_module(module_name), class_name), method_name, build)


def _install_unnamed_executions() -> None:
    module_name, class_name, method_name = _SFN_START

    def build(original: Any) -> Callable[..., Any]:
        def start_execution(
            self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
        ) -> Any:
            import uuid

            if name:
                self._validate_name(name)
            return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

        return start_execution

    _replace(getattr(importlib.import_module(module_name), class_name), method_name, build)


def _install_one_multipart_notification() -> None:
    module_name, class_name, complete_name = _S3_COMPLETE_MULTIPART
    backend_class = getattr(importlib.import_module(module_name), class_name)

    def build_complete(original: Any) -> Callable[..., Any]:
        def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
            _COMPLETING_MULTIPART.active = True
            try:
                return original(self, *args, **kwargs)
            finally:
                _COMPLETING_MULTIPART.active = False

        return complete_multipart_upload

    def build_put(original: Any) -> Callable[..., Any]:
        def put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(_COMPLETING_MULTIPART, "active", False):
                # The upload's own CompleteMultipartUpload event follows.
                kwargs["disable_notification"] = True
            return original(self, *args, **kwargs)

        return put_object

    _replace(backend_class, complete_name, build_complete)
    _replace(backend_class, _S3_PUT_OBJECT[2], build_put)
