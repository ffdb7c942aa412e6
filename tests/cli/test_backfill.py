"""rekbatch backfill against the emulator: S3-shaped messages, no duplicates."""

from __future__ import annotations

import json

from runtime import documents
from runtime.events import MessageKind, parse_message
from tests.factories import PNG_SIGNATURE

KEYS = ["plain.jpg", "with space.png", "a+b.jpeg", "dir/ünïcode.jpg", "x/y/z.PNG"]


def drain(sqs, queue_url: str) -> list[dict]:
    """Every message in the queue (deleted as read)."""
    found = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def put_sources(s3, keys=KEYS) -> None:
    for key in keys:
        s3.put_object(Bucket="src-bucket", Key=key, Body=PNG_SIGNATURE + key.encode())


def test_enqueues_s3_event_messages_the_runtime_decodes_to_the_exact_keys(aws, stack, cli):
    s3, sqs = aws.client("s3"), aws.client("sqs")
    put_sources(s3)
    s3.put_object(Bucket="src-bucket", Key="readme.txt", Body=b"hello")

    result = cli("backfill")

    assert result.code == 0, result.err
    assert "enqueued 5 image(s) of 6 object(s)" in result.out
    assert "1 without an image suffix" in result.out
    bodies = drain(sqs, stack["queueUrl"])
    parsed = [parse_message(json.dumps(body)) for body in bodies]
    assert all(p.kind is MessageKind.OBJECTS for p in parsed)
    objects = [obj for p in parsed for obj in p.objects]
    assert sorted(o.key for o in objects) == sorted(KEYS)
    assert {o.bucket for o in objects} == {"src-bucket"}
    size = {o.key: o.size for o in objects}
    assert size["a+b.jpeg"] == len(PNG_SIGNATURE + b"a+b.jpeg")
    raw_keys = {r["s3"]["object"]["key"] for b in bodies for r in b["Records"]}
    assert "with+space.png" in raw_keys and "a%2Bb.jpeg" in raw_keys  # S3's own encoding


def test_skips_keys_with_a_result_or_a_failure_record(aws, stack, cli):
    s3, sqs = aws.client("s3"), aws.client("sqs")
    put_sources(s3)
    s3.put_object(Bucket="final-bucket", Key=documents.result_key("plain.jpg"), Body=b"{}")
    s3.put_object(Bucket="final-bucket", Key="plain.jpg", Body=b"copy")
    s3.put_object(
        Bucket="final-bucket", Key=documents.failed_document_key("failed/", "a+b.jpeg"), Body=b"{}"
    )

    result = cli("backfill")

    assert result.code == 0, result.err
    assert "skipped 2 already processed" in result.out
    keys = sorted(
        obj.key
        for b in drain(sqs, stack["queueUrl"])
        for obj in parse_message(json.dumps(b)).objects
    )
    assert keys == sorted(["with space.png", "dir/ünïcode.jpg", "x/y/z.PNG"])


def test_refuses_while_the_queue_holds_messages_so_a_rerun_adds_no_duplicates(aws, stack, cli):
    s3, sqs = aws.client("s3"), aws.client("sqs")
    put_sources(s3)
    assert cli("backfill").code == 0

    again = cli("backfill")

    assert again.code == 2
    assert "the queue holds 5 message(s)" in again.err
    assert "--allow-queued" in again.err
    assert len(drain(sqs, stack["queueUrl"])) == 5


def test_allow_queued_enqueues_anyway(aws, stack, cli):
    s3, sqs = aws.client("s3"), aws.client("sqs")
    put_sources(s3, ["one.jpg"])
    sqs.send_message(QueueUrl=stack["queueUrl"], MessageBody="{}")

    result = cli("backfill", "--allow-queued")

    assert result.code == 0, result.err
    assert len(drain(sqs, stack["queueUrl"])) == 2


def test_many_objects_go_out_in_batches_once_each(aws, stack, cli):
    s3, sqs = aws.client("s3"), aws.client("sqs")
    keys = [f"bulk/{i:03d}.jpg" for i in range(37)]
    put_sources(s3, keys)

    result = cli("backfill", "--prefix", "bulk/", "--batch-size", "7")

    assert result.code == 0, result.err
    assert "backfill: 37/37 files" in result.out
    got = [
        obj.key
        for b in drain(sqs, stack["queueUrl"])
        for obj in parse_message(json.dumps(b)).objects
    ]
    assert sorted(got) == keys  # each key exactly once


def test_dry_run_lists_and_sends_nothing(aws, stack, cli):
    s3, sqs = aws.client("s3"), aws.client("sqs")
    put_sources(s3, ["one.jpg", "two.png"])

    result = cli("backfill", "--dry-run")

    assert result.code == 0
    assert "would enqueue one.jpg" in result.out and "would enqueue two.png" in result.out
    assert "would enqueue 2 image(s)" in result.out
    assert drain(sqs, stack["queueUrl"]) == []


def test_bad_batch_size_is_a_user_error(aws, stack, cli):
    result = cli("backfill", "--batch-size", "11")

    assert result.code == 2
    assert "--batch-size must be between 1 and 10" in result.err


def test_missing_queue_is_a_clear_error(aws, stack, cli, monkeypatch):
    monkeypatch.setenv("REKBATCH_QUEUE_URL", stack["queueUrl"] + "-gone")

    result = cli("backfill")

    assert result.code == 2
    assert "does not exist" in result.err
    assert "Traceback" not in result.err
