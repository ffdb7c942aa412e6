"""The local Lambda service honours a visibility the handler changed, as SQS does.

The poller receives from moto's SQS, so a ChangeMessageVisibilityBatch made by
the real handler (runtime/visibility.py) decides when a record reported for
retry is delivered again: seconds, not the queue's visibility timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from emulator.poller import Handler, run_poller, runtime_handler
from emulator.stack import provision_data_path
from infra import outputs as out
from runtime import settings as env_names
from tests.emulator.emu_helpers import VERSION_ARN
from tests.factories import square_image

QUEUE_VISIBILITY_S = 120  # what an unchanged record would wait


def wait_until(predicate: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not reached in time"
        time.sleep(0.05)
    return time.monotonic() - started


def one_attempt(environment: Mapping[str, str]) -> Handler:
    """The real handler, one SDK attempt per call (a fault reaches batchItemFailures at once)."""
    return runtime_handler({**environment, env_names.MAX_ATTEMPTS: "1"})


def test_a_retried_record_comes_back_after_the_handlers_visibility(aws) -> None:
    aws.model.configure(start_delay=0.2, stop_delay=0.2, tps_per_unit=1000)
    aws.model.create(VERSION_ARN, status="RUNNING")
    outputs = provision_data_path(
        aws,
        project_version_arn=VERSION_ARN,
        batching_window=0,
        maximum_concurrency=2,
        max_receive_count=5,
        visibility_timeout_seconds=QUEUE_VISIBILITY_S,
        retry_visibility_seconds=(1, 10),
    )
    sqs, s3 = aws.client("sqs"), aws.client("s3")
    sqs.purge_queue(QueueUrl=outputs[out.QUEUE_URL])  # the s3:TestEvent
    aws.model.configure(fault_rates={"InternalServerError": 1.0})
    s3.put_object(Bucket=outputs[out.SOURCE_BUCKET], Key="a.png", Body=square_image("PNG"))
    aws.client("lambda").update_event_source_mapping(
        UUID=outputs[out.EVENT_SOURCE_MAPPING_UUID], Enabled=True
    )
    with run_poller(aws, outputs, handler_factory=one_attempt) as poller:
        wait_until(lambda: poller.stats().reported_failures >= 1, timeout=30)
        aws.model.configure(fault_rates={})
        # Processed and deleted by the second invocation, long before the queue's timeout.
        waited = wait_until(lambda: poller.stats().deleted == 1, timeout=QUEUE_VISIBILITY_S / 4)
        stats = poller.stats()
    assert waited < QUEUE_VISIBILITY_S / 4
    assert stats.reported_failures >= 1 and stats.deleted == 1
    final = s3.list_objects_v2(Bucket=outputs[out.FINAL_BUCKET]).get("Contents", [])
    assert "a.png.json" in {o["Key"] for o in final}
    depth = sqs.get_queue_attributes(
        QueueUrl=outputs[out.QUEUE_URL],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert depth == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
