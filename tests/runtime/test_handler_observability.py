"""Observability: one structured log line per image, one EMF document per invocation.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

import json

from runtime.handler import logger as runtime_logger
from tests.factories import s3_event_body, sqs_event, sqs_record
from tests.runtime.conftest import SOURCE, FakeContext


def test_one_structured_log_line_per_image(env, context, logs):
    env.put("ok.png")
    env.put("bad.txt", b"x", "text/plain")
    event = sqs_event(sqs_record(s3_event_body("ok.png", "bad.txt"), "m1"))
    env.handler()(event, FakeContext(aws_request_id="req-1"))

    lines = logs.images()
    assert len(lines) == 2
    formatted = [json.loads(runtime_logger.registered_formatter.format(r)) for r in lines]
    by_key = {line["key"]: line for line in formatted}
    assert by_key["ok.png"]["outcome"] == "processed"
    assert by_key["bad.txt"]["outcome"] == "failed"
    assert by_key["bad.txt"]["code"] == "UnsupportedImageType"
    for line in formatted:
        assert line["message_id"] == "m1"
        assert line["bucket"] == SOURCE
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0


def test_metrics_are_emitted_as_one_emf_document_per_invocation(env, context, capsys):
    import threading
    import time

    env.put("ok.png")
    env.put("bad.txt", b"x", "text/plain")
    env.put("slow.png")
    env.put("again.png")
    handler = env.handler()
    capsys.readouterr()

    handler(sqs_event(sqs_record(s3_event_body("ok.png", "bad.txt"), "ok")), context)

    # Throttled until the model has refused twice, then served: the image is
    # processed within the invocation, however slow the machine (no deadline involved).
    env.aws.model.configure(fault_rates={"ThrottlingException": 1.0})
    done = threading.Event()

    def lift_throttling() -> None:
        while env.aws.model.meter()["faults_injected"] < 2 and not done.is_set():
            time.sleep(0.002)
        env.aws.model.configure(fault_rates={})

    lifter = threading.Thread(target=lift_throttling, daemon=True)
    lifter.start()
    try:
        handler(sqs_event(sqs_record(s3_event_body("slow.png"), "slow")), context)
    finally:
        done.set()
        lifter.join()

    # A transient model error with no SDK attempts left: the image goes back to SQS.
    env.aws.model.configure(fault_rates={"InternalServerError": 1.0})
    handler(sqs_event(sqs_record(s3_event_body("again.png"), "again")), context)
    env.aws.model.configure(fault_rates={})

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 3, "one EMF document per invocation"
    processed, throttled, retried = emf
    assert processed["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CustomLabelsPipeline"
    assert processed["service"] == "custom-labels-inference"
    assert processed["ImagesProcessed"] == [1.0]
    assert processed["ImagesFailed"] == [1.0]
    assert len(processed["DetectCustomLabelsLatency"]) == 1, "the .txt never reaches the model"
    assert "ImagesRetried" not in processed
    assert "DetectCustomLabelsThrottled" not in processed
    # Throttles are retried within the invocation: one latency per attempt, one
    # throttle per refused attempt, and the image ends processed, not retried.
    assert len(throttled["DetectCustomLabelsThrottled"]) >= 2
    assert (
        len(throttled["DetectCustomLabelsLatency"])
        == len(throttled["DetectCustomLabelsThrottled"]) + 1
    )
    assert throttled["ImagesProcessed"] == [1.0]
    assert "ImagesRetried" not in throttled
    assert retried["ImagesRetried"] == [1.0]
    assert "ImagesProcessed" not in retried
