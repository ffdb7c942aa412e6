"""Label alerts: one event per image with a label of interest, batched into PutEvents
requests, failed entries and throttles retried, and the image never lost or failed
when EventBridge does not take the event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runtime import alerts
from runtime.clients import LoopResources
from tests.factories import s3_event_body, sqs_event, sqs_record, square_image
from tests.runtime.conftest import FINAL, SOURCE, VERSION_ARN


class Metrics:
    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


class Log:
    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        pass

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.errors.append(kwargs.get("extra") or {})


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutEvents",
    )


class FakeEvents:
    """PutEvents that answers from a script: per call, an exception or a list of per-entry
    error codes (None = accepted); once the script is used up, every entry is accepted."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.requests: list[list[dict[str, Any]]] = []

    async def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        assert 1 <= len(Entries) <= alerts.MAX_ENTRIES
        assert sum(alerts.entry_size(e) for e in Entries) <= alerts.MAX_REQUEST_BYTES
        self.requests.append(list(Entries))
        step = self.script.pop(0) if self.script else [None] * len(Entries)
        if isinstance(step, BaseException):
            raise step
        codes = list(step) + [None] * (len(Entries) - len(step))
        results = [
            {"EventId": f"id-{len(self.requests)}-{i}"}
            if code is None
            else {"ErrorCode": code, "ErrorMessage": "refused"}
            for i, code in enumerate(codes)
        ]
        return {"FailedEntryCount": sum(c is not None for c in codes), "Entries": results}


def entry(n: int, size: int = 10) -> dict[str, Any]:
    return alerts.build_entry({"imageKey": f"img-{n}.png", "padding": "x" * size})


def publish_all(client: FakeEvents, entries: list[dict[str, Any]], **options: Any):
    """Publish ``entries`` from as many concurrent images; (answers, metrics, log)."""
    metrics, log = Metrics(), Log()

    async def run() -> list[bool]:
        async def getter() -> FakeEvents:
            return client

        publisher = alerts.AlertPublisher(
            getter, logger=log, metrics=metrics, rng=lambda: 0.0, **options
        )

        async def image(e: dict[str, Any], n: int) -> bool:
            with publisher.working():
                await asyncio.sleep(0)
                return await publisher.publish(e, f"img-{n}.png")

        return list(await asyncio.gather(*(image(e, n) for n, e in enumerate(entries))))

    return asyncio.run(run()), metrics, log


def test_images_finishing_together_share_requests_of_at_most_ten_entries():
    client = FakeEvents()
    answers, metrics, log = publish_all(client, [entry(n) for n in range(25)])
    assert answers == [True] * 25
    assert [len(r) for r in client.requests] == [10, 10, 5]
    assert metrics.counts == {alerts.METRIC_SENT: 25}
    assert log.errors == []


def test_requests_stay_under_256_kb():
    client = FakeEvents()
    answers, _, _ = publish_all(client, [entry(n, size=100_000) for n in range(5)])
    assert answers == [True] * 5
    assert [len(r) for r in client.requests] == [2, 2, 1]


def test_only_the_failed_entries_are_sent_again():
    client = FakeEvents([None, "InternalFailure", None, "ThrottlingException"])
    answers, metrics, _ = publish_all(client, [entry(n) for n in range(4)])
    assert answers == [True] * 4
    assert len(client.requests[0]) == 4
    resent = [json.loads(e["Detail"])["imageKey"] for e in client.requests[1]]
    assert resent == ["img-1.png", "img-3.png"]
    assert metrics.counts == {alerts.METRIC_SENT: 4}


def test_throttled_and_failed_requests_are_retried():
    client = FakeEvents(
        client_error("ThrottlingException", 400), client_error("InternalException", 500)
    )
    answers, metrics, log = publish_all(client, [entry(1)])
    assert answers == [True]
    assert len(client.requests) == 3
    assert log.errors == []


def test_a_refused_entry_is_given_up_at_once_logged_and_counted():
    client = FakeEvents(["InvalidArgument", None])
    answers, metrics, log = publish_all(client, [entry(0), entry(1)])
    assert answers == [False, True]
    assert len(client.requests) == 1
    assert metrics.counts == {alerts.METRIC_SENT: 1, alerts.METRIC_FAILED: 1}
    assert log.errors[0]["key"] == "img-0.png" and "InvalidArgument" in log.errors[0]["problem"]


def test_access_denied_is_not_retried():
    client = FakeEvents(client_error("AccessDeniedException", 400))
    answers, metrics, log = publish_all(client, [entry(0)])
    assert answers == [False] and len(client.requests) == 1
    assert "AccessDenied" in log.errors[0]["problem"]


def test_retries_stop_at_the_retry_window():
    always = [client_error("InternalException", 500)] * 1000
    client = FakeEvents(*always)
    answers, metrics, log = publish_all(client, [entry(0)], retry_window=0.5)
    assert answers == [False]
    assert 2 <= len(client.requests) < 20
    assert metrics.counts == {alerts.METRIC_FAILED: 1}


def test_an_oversized_detail_keeps_its_most_confident_labels():
    labels = [
        {"name": f"l{n}", "confidence": n / 100, "box": None, "pad": "x" * 1000}
        for n in range(1000)
    ]
    built = alerts.build_entry({"imageKey": "a.png", "labels": labels})
    assert alerts.entry_size(built) <= alerts.MAX_REQUEST_BYTES
    detail = json.loads(built["Detail"])
    assert detail["labelsOmitted"] == 1000 - len(detail["labels"])
    assert detail["labels"][0]["name"] == "l999"


# ------------------------------------------------------------------ through the handler


def alert_queue(aws: Any) -> str:
    """An EventBridge rule on the alert detail-type -> an SQS queue (what a user's rule does)."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName="label-alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="label-alerts",
        EventPattern=json.dumps(
            {"source": [alerts.EVENT_SOURCE], "detail-type": [alerts.DETAIL_TYPE]}
        ),
    )
    events.put_targets(Rule="label-alerts", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def received(aws: Any, url: str) -> list[dict[str, Any]]:
    messages = (
        aws.client("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        .get("Messages", [])
    )
    return [json.loads(m["Body"]) for m in messages]


def test_an_image_with_a_label_of_interest_puts_one_event_on_the_default_bus(env, context):
    url = alert_queue(env.aws)
    env.put("red.png", square_image("PNG", colour="red"))
    env.put("blue.png", square_image("PNG", colour="blue"))
    handler = env.handler(min_confidence=10.0, alert_labels={"red square": 90})

    response = handler(
        sqs_event(sqs_record(s3_event_body("red.png")), sqs_record(s3_event_body("blue.png"))),
        context,
    )

    assert response == {"batchItemFailures": []}
    events = received(env.aws, url)
    assert len(events) == 1
    event = events[0]
    assert event["source"] == alerts.EVENT_SOURCE
    assert event["detail-type"] == alerts.DETAIL_TYPE
    detail = event["detail"]
    assert detail["imageKey"] == "red.png" and detail["resultKey"] == "red.png.json"
    assert detail["bucket"] == FINAL and detail["source"]["bucket"] == SOURCE
    assert detail["projectVersionArn"] == VERSION_ARN
    [label] = detail["labels"]
    assert label["name"] == "red square" and label["confidence"] >= 90
    assert label["alertConfidence"] == 90
    assert set(label["box"]) == {"left", "top", "width", "height"}


class BrokenEvents:
    calls = 0

    async def put_events(self, **kwargs: Any) -> dict[str, Any]:
        BrokenEvents.calls += 1
        raise client_error("InternalException", 500)


def test_the_image_is_processed_when_put_events_keeps_failing(env, context, logs, monkeypatch):
    async def broken(self: LoopResources) -> BrokenEvents:
        return BrokenEvents()

    monkeypatch.setattr(LoopResources, "events", broken)
    monkeypatch.setattr(alerts, "RETRY_WINDOW_S", 0.3)
    env.put("red.png", square_image("PNG", colour="red"))
    handler = env.handler(min_confidence=10.0, alert_labels={"red square": 50})

    response = handler(sqs_event(sqs_record(s3_event_body("red.png"))), context)

    assert response == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == {"red.png", "red.png.json"}
    assert BrokenEvents.calls >= 2
    assert logs.outcomes() == {"red.png": "processed"}
    given_up = [r for r in logs.records if r.getMessage().startswith("label alert not delivered")]
    assert len(given_up) == 1 and given_up[0].key == "red.png"


@pytest.mark.parametrize("alert_labels", [{}, {"green circle": 50}])
def test_no_event_without_a_matching_label(env, context, alert_labels):
    url = alert_queue(env.aws)
    env.put("red.png", square_image("PNG", colour="red"))
    env.handler(min_confidence=10.0, alert_labels=alert_labels)(
        sqs_event(sqs_record(s3_event_body("red.png"))), context
    )
    assert received(env.aws, url) == []
