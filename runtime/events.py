"""Turn one SQS message body into the S3 objects it announces.

Pure functions (no AWS, no I/O) so that every input class the queue can carry
is tested without mocks. The handler acknowledges anything that is not an
``ObjectCreated`` notification: a message that can never become work must not
be retried until it lands in the DLQ.

Input classes:

- an S3 event notification (``{"Records": [...]}``) with one or more records;
  ``ObjectCreated:*`` records become :class:`ObjectRef`, any other event name
  (``ObjectRemoved:*``, ``ObjectRestore:*``, ...) is ignored;
- the ``s3:TestEvent`` S3 sends when a notification configuration is saved;
- an SNS envelope (S3 -> SNS -> SQS fan-out) whose ``Message`` is one of the above;
- anything else (not JSON, JSON that is not an S3 event, a record without a
  bucket or key) is invalid.

Keys in S3 notifications are URL-encoded form values: ``+`` is a space and
``%2B`` a plus sign, so they are decoded with ``unquote_plus`` (``unquote``
would turn ``my+photo.jpg`` into a key that does not exist).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus


class MessageKind(StrEnum):
    """What a message body turned out to be."""

    OBJECTS = "objects"  # at least one ObjectCreated record
    TEST_EVENT = "test_event"  # s3:TestEvent, sent once per notification config
    IGNORED = "ignored"  # a valid S3 event without ObjectCreated records
    INVALID = "invalid"  # not JSON, or not an S3 event


@dataclass(frozen=True)
class ObjectRef:
    """One source object announced by an ``ObjectCreated`` record."""

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    event_name: str = "ObjectCreated:Put"
    event_time: str | None = None


@dataclass(frozen=True)
class ParsedMessage:
    """The outcome of :func:`parse_message`; ``problems`` explain skipped records."""

    kind: MessageKind
    objects: tuple[ObjectRef, ...] = ()
    problems: tuple[str, ...] = field(default=())
    ignored_events: tuple[str, ...] = ()


def decode_key(raw: str) -> str:
    """Decode an S3-notification object key (form encoding: '+' means space)."""
    return unquote_plus(raw)


def parse_message(body: str | bytes | None) -> ParsedMessage:
    """Classify an SQS message body and extract its ObjectCreated objects.

    Never raises: a body that can not be understood is ``INVALID`` with a reason,
    so one bad message can not fail the batch it arrived in.
    """
    if body is None or (isinstance(body, (str, bytes)) and not body.strip()):
        return ParsedMessage(MessageKind.INVALID, problems=("empty message body",))
    try:
        document = json.loads(body)
    except (TypeError, ValueError) as exc:
        return ParsedMessage(MessageKind.INVALID, problems=(f"body is not JSON: {exc}",))
    return parse_document(document)


def parse_document(document: Any, *, _depth: int = 0) -> ParsedMessage:
    """Like :func:`parse_message` for an already decoded JSON document."""
    if not isinstance(document, dict):
        return ParsedMessage(
            MessageKind.INVALID,
            problems=(f"body is a JSON {type(document).__name__}, not an S3 event object",),
        )
    if document.get("Event") == "s3:TestEvent":
        return ParsedMessage(MessageKind.TEST_EVENT)
    if _is_sns_envelope(document) and _depth == 0:
        inner = document["Message"]
        try:
            decoded = json.loads(inner) if isinstance(inner, str) else inner
        except ValueError as exc:
            return ParsedMessage(MessageKind.INVALID, problems=(f"SNS Message is not JSON: {exc}",))
        return parse_document(decoded, _depth=1)
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        return ParsedMessage(MessageKind.INVALID, problems=("not an S3 event: no 'Records' list",))

    objects: list[ObjectRef] = []
    problems: list[str] = []
    ignored: list[str] = []
    for index, record in enumerate(records):
        ref, problem, ignored_name = _parse_record(record)
        if ref is not None:
            objects.append(ref)
        elif ignored_name is not None:
            ignored.append(ignored_name)
        else:
            problems.append(f"Records[{index}]: {problem}")

    if objects:
        kind = MessageKind.OBJECTS
    elif ignored and not problems:
        kind = MessageKind.IGNORED
    else:
        kind = MessageKind.INVALID
    return ParsedMessage(kind, tuple(objects), tuple(problems), tuple(ignored))


def _is_sns_envelope(document: dict[str, Any]) -> bool:
    return document.get("Type") == "Notification" and "Message" in document


def _parse_record(record: Any) -> tuple[ObjectRef | None, str | None, str | None]:
    """Return (object, None, None), (None, problem, None) or (None, None, ignored_event)."""
    if not isinstance(record, dict):
        return None, "record is not an object", None
    source = record.get("eventSource")
    if source != "aws:s3":
        return None, f"eventSource is {source!r}, not 'aws:s3'", None
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        return None, "record has no eventName", None
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, dict) else None
    obj = s3.get("object") if isinstance(s3, dict) else None
    bucket_name = bucket.get("name") if isinstance(bucket, dict) else None
    raw_key = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(bucket_name, str) or not bucket_name:
        return None, "record has no s3.bucket.name", None
    if not isinstance(raw_key, str) or not raw_key:
        return None, "record has no s3.object.key", None
    if not name.startswith("ObjectCreated:"):
        return None, None, name
    assert isinstance(obj, dict)
    size = obj.get("size")
    etag = obj.get("eTag") or obj.get("etag")
    version = obj.get("versionId")
    return (
        ObjectRef(
            bucket=bucket_name,
            key=decode_key(raw_key),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            etag=etag.strip('"') if isinstance(etag, str) and etag else None,
            version_id=version if isinstance(version, str) and version else None,
            event_name=name,
            event_time=record.get("eventTime")
            if isinstance(record.get("eventTime"), str)
            else None,
        ),
        None,
        None,
    )
