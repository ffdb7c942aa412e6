"""Source deletes in bursts: one DeleteObjects per batch, refusals retried.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

from tests.factories import sqs_event
from tests.runtime.conftest import FINAL, SOURCE, failed_ids


def test_a_batch_finishing_together_deletes_its_sources_in_one_request(
    env, context, put_and_event, monkeypatch
):
    from runtime import deletes
    from runtime.deletes import SourceDeleter

    # Only "every image is waiting" may send: the images' S3 writes finish
    # one by one in moto, further apart than the default linger.
    monkeypatch.setattr(deletes, "LINGER_S", 30.0)
    requests: list[list[str]] = []
    original = SourceDeleter._delete_objects

    async def recording(self, bucket, items):
        requests.append(sorted(key for key, _, _ in items))
        await original(self, bucket, items)

    monkeypatch.setattr(SourceDeleter, "_delete_objects", recording)
    keys = [f"burst/{i}.png" for i in range(10)]

    assert env.handler()(put_and_event(*keys), context) == {"batchItemFailures": []}

    assert requests == [sorted(keys)]
    assert env.keys(SOURCE) == set()
    assert env.keys(FINAL) == set(keys) | {k + ".json" for k in keys}


def test_a_source_s3_would_not_delete_is_retried_and_the_others_acknowledged(
    env, context, put_and_event, monkeypatch, logs
):
    """DeleteObjects answers per key: only the refused key's message is retried."""
    from aiobotocore.client import AioBaseClient

    original = AioBaseClient._make_api_call

    async def refusing(self, operation, params):
        if operation != "DeleteObjects":
            return await original(self, operation, params)
        objects = params["Delete"]["Objects"]
        kept = [o for o in objects if o["Key"] != "keep/me.png"]
        # The two images may finish apart (a loaded machine): the refused key alone
        # is a request with no objects left, which S3 would refuse as malformed.
        response = (
            await original(
                self, operation, {**params, "Delete": {**params["Delete"], "Objects": kept}}
            )
            if kept
            else {}
        )
        if len(kept) < len(objects):
            response.setdefault("Errors", []).append(
                {
                    "Key": "keep/me.png",
                    "Code": "InternalError",
                    "Message": "We encountered an internal error.",
                }
            )
        return response

    monkeypatch.setattr(AioBaseClient, "_make_api_call", refusing)
    event = put_and_event("keep/me.png", "keep/other.png")

    response = env.handler()(event, context)

    assert failed_ids(response) == {"keep/me.png"}
    assert env.keys(SOURCE) == {"keep/me.png"}, "not deleted, so the retry finds it"
    assert logs.outcomes() == {"keep/me.png": "retry", "keep/other.png": "processed"}
    monkeypatch.setattr(AioBaseClient, "_make_api_call", original)
    assert env.handler()(sqs_event(event["Records"][0]), context) == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
