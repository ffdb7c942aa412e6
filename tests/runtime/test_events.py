"""Every input class an SQS message body can be, parsed without AWS."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest

from runtime.events import MessageKind, ObjectRef, decode_key, parse_message
from tests.factories import s3_notification, s3_record, s3_test_event_body


@pytest.mark.parametrize(
    "key",
    [
        "plain.jpg",
        "with space.jpg",
        "plus+sign.png",
        "100%.jpg",
        "dir/sub/é ü 漢.jpeg",
        "a&b=c?.jpg",
    ],
)
def test_keys_are_decoded_like_s3_encodes_them(key):
    parsed = parse_message(s3_notification(s3_record(quote_plus(key))))
    assert parsed.kind is MessageKind.OBJECTS
    assert [o.key for o in parsed.objects] == [key]


def test_slash_encoded_as_percent_2f_is_decoded():
    # moto (unlike AWS) also encodes '/'.
    assert parse_message(s3_notification(s3_record("a%2Fb%2Fc.jpg"))).objects[0].key == "a/b/c.jpg"


def test_plus_means_space_not_plus():
    assert decode_key("my+photo.jpg") == "my photo.jpg"
    assert decode_key("my%2Bphoto.jpg") == "my+photo.jpg"


def test_several_records_in_one_message_all_become_objects():
    parsed = parse_message(
        s3_notification(
            s3_record("a.jpg"), s3_record("b.png", "ObjectCreated:CompleteMultipartUpload")
        )
    )
    assert [o.key for o in parsed.objects] == ["a.jpg", "b.png"]


def test_object_metadata_is_kept():
    parsed = parse_message(
        s3_notification(s3_record("a.jpg", size=1234, eTag="abc", versionId="v1", sequencer="00"))
    )
    assert parsed.objects == (
        ObjectRef(
            bucket="src",
            key="a.jpg",
            size=1234,
            etag="abc",
            version_id="v1",
            event_name="ObjectCreated:Put",
            event_time="2026-11-25T10:00:00.000Z",
        ),
    )


def test_s3_test_event_is_recognised():
    parsed = parse_message(s3_test_event_body())
    assert parsed.kind is MessageKind.TEST_EVENT
    assert parsed.objects == ()


@pytest.mark.parametrize(
    "event", ["ObjectRemoved:Delete", "ObjectRestore:Completed", "LifecycleExpiration:Delete"]
)
def test_non_object_created_events_are_ignored(event):
    parsed = parse_message(s3_notification(s3_record("a.jpg", event)))
    assert parsed.kind is MessageKind.IGNORED
    assert parsed.ignored_events == (event,)
    assert parsed.objects == ()


def test_created_records_are_kept_when_mixed_with_removed_ones():
    parsed = parse_message(
        s3_notification(s3_record("gone.jpg", "ObjectRemoved:Delete"), s3_record("new.jpg"))
    )
    assert parsed.kind is MessageKind.OBJECTS
    assert [o.key for o in parsed.objects] == ["new.jpg"]


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "",
        "   ",
        None,
        "[1, 2]",
        "42",
        '"a string"',
        "{}",
        '{"Records": []}',
        '{"Records": "nope"}',
        '{"hello": "world"}',
    ],
)
def test_bodies_that_are_not_s3_events_are_invalid_without_raising(raw):
    parsed = parse_message(raw)
    assert parsed.kind is MessageKind.INVALID
    assert parsed.problems
    assert parsed.objects == ()


@pytest.mark.parametrize(
    "record, problem",
    [
        ({"eventSource": "aws:sqs"}, "eventSource"),
        ("string", "not an object"),
        ({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}, "bucket"),
        (
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"}, "object": {}},
            },
            "key",
        ),
        (
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}},
            "eventName",
        ),
    ],
)
def test_malformed_records_are_reported(record, problem):
    parsed = parse_message(json.dumps({"Records": [record]}))
    assert parsed.kind is MessageKind.INVALID
    assert problem in parsed.problems[0]


def test_valid_records_survive_a_malformed_sibling():
    parsed = parse_message(
        json.dumps({"Records": [{"eventSource": "aws:sqs"}, s3_record("ok.jpg")]})
    )
    assert parsed.kind is MessageKind.OBJECTS
    assert [o.key for o in parsed.objects] == ["ok.jpg"]
    assert len(parsed.problems) == 1


def test_sns_envelope_is_unwrapped():
    envelope = {
        "Type": "Notification",
        "MessageId": "m",
        "Message": s3_notification(s3_record("in+sns.jpg")),
    }
    parsed = parse_message(json.dumps(envelope))
    assert [o.key for o in parsed.objects] == ["in sns.jpg"]


def test_sns_envelope_with_bad_message_is_invalid():
    envelope = {"Type": "Notification", "Message": "{broken"}
    assert parse_message(json.dumps(envelope)).kind is MessageKind.INVALID


def test_bytes_body_is_accepted():
    assert parse_message(s3_notification(s3_record("a.jpg")).encode()).objects[0].key == "a.jpg"
