"""runtime/deletes.py: source deletes in bursts, each image still answered for its own key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runtime.deletes import SourceDeleter


class FakeS3:
    """Records DeleteObjects requests; ``errors`` maps keys to error codes to answer."""

    def __init__(self, errors: dict[str, str] | None = None, fail: Exception | None = None):
        self.calls: list[tuple[str, list[str]]] = []
        self.errors = errors or {}
        self.fail = fail

    async def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        keys = [o["Key"] for o in Delete["Objects"]]
        assert Delete["Quiet"] is True
        self.calls.append((Bucket, keys))
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        return {
            "Errors": [
                {"Key": k, "Code": self.errors[k], "Message": "no"}
                for k in keys
                if k in self.errors
            ]
        }


async def image(deleter: SourceDeleter, bucket: str, key: str, work: float = 0.0) -> str:
    with deleter.working():
        await asyncio.sleep(work)
        await deleter.delete(bucket, key)
    return key


def test_images_that_finish_together_share_one_request():
    async def main() -> FakeS3:
        s3 = FakeS3()
        deleter = SourceDeleter(s3, linger=10)
        done = await asyncio.gather(*(image(deleter, "src", f"k{i}") for i in range(10)))
        assert done == [f"k{i}" for i in range(10)]
        return s3

    s3 = asyncio.run(main())
    assert s3.calls == [("src", [f"k{i}" for i in range(10)])]


def test_the_last_image_at_work_sends_without_waiting_for_the_linger():
    async def main() -> tuple[FakeS3, float]:
        s3 = FakeS3()
        deleter = SourceDeleter(s3, linger=10)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(image(deleter, "src", "fast"), image(deleter, "src", "slow", 0.05))
        return s3, loop.time() - started

    s3, took = asyncio.run(main())
    assert s3.calls == [("src", ["fast", "slow"])]
    assert took < 5, "sent when nothing else was at work, not after the 10 s linger"


def test_an_image_finishing_without_a_delete_releases_the_waiting_ones():
    async def no_delete(deleter: SourceDeleter) -> None:
        with deleter.working():
            await asyncio.sleep(0.02)

    async def main() -> FakeS3:
        s3 = FakeS3()
        deleter = SourceDeleter(s3, linger=10)
        await asyncio.wait_for(
            asyncio.gather(image(deleter, "src", "a"), no_delete(deleter)), timeout=5
        )
        return s3

    assert asyncio.run(main()).calls == [("src", ["a"])]


def test_a_straggler_does_not_hold_the_others_back_longer_than_the_linger():
    async def main() -> tuple[FakeS3, list[str]]:
        s3 = FakeS3()
        deleter = SourceDeleter(s3, linger=0.01)
        order: list[str] = []

        async def tracked(key: str, work: float) -> None:
            await image(deleter, "src", key, work)
            order.append(key)

        await asyncio.gather(tracked("a", 0), tracked("b", 0), tracked("straggler", 0.3))
        return s3, order

    s3, order = asyncio.run(main())
    assert s3.calls == [("src", ["a", "b"]), ("src", ["straggler"])]
    assert order == ["a", "b", "straggler"]


def test_a_key_s3_refused_raises_in_its_image_only():
    async def main() -> list[Any]:
        deleter = SourceDeleter(FakeS3(errors={"bad": "AccessDenied"}), linger=10)
        return await asyncio.gather(
            image(deleter, "src", "ok"), image(deleter, "src", "bad"), return_exceptions=True
        )

    ok, bad = asyncio.run(main())
    assert ok == "ok"
    assert isinstance(bad, ClientError)
    assert bad.response["Error"]["Code"] == "AccessDenied"
    assert bad.operation_name == "DeleteObjects"


def test_a_failed_request_raises_in_every_image_of_the_burst():
    boom = ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "DeleteObjects")

    async def main() -> list[Any]:
        deleter = SourceDeleter(FakeS3(fail=boom), linger=10)
        return await asyncio.gather(
            *(image(deleter, "src", k) for k in ("a", "b")), return_exceptions=True
        )

    assert asyncio.run(main()) == [boom, boom]


def test_duplicates_are_sent_once_and_both_answered():
    async def main() -> FakeS3:
        s3 = FakeS3()
        deleter = SourceDeleter(s3, linger=10)
        assert await asyncio.gather(image(deleter, "src", "d"), image(deleter, "src", "d")) == [
            "d",
            "d",
        ]
        return s3

    assert asyncio.run(main()).calls == [("src", ["d"])]


def test_buckets_get_a_request_each_and_max_keys_splits_a_burst():
    async def main() -> FakeS3:
        s3 = FakeS3()
        deleter = SourceDeleter(s3, linger=10, max_keys=3)
        keys = [("one", f"k{i}") for i in range(4)] + [("two", "x")]
        await asyncio.gather(*(image(deleter, b, k) for b, k in keys))
        return s3

    calls = asyncio.run(main()).calls
    assert sorted(calls) == [("one", ["k0", "k1", "k2"]), ("one", ["k3"]), ("two", ["x"])]


def test_a_cancelled_image_does_not_disturb_the_others():
    async def main() -> tuple[FakeS3, str]:
        s3 = FakeS3()
        deleter = SourceDeleter(s3, linger=0.05)
        cancelled = asyncio.ensure_future(image(deleter, "src", "cancelled"))
        waiting = asyncio.ensure_future(image(deleter, "src", "kept"))
        blocker = asyncio.ensure_future(image(deleter, "src", "late", 0.2))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        result = await waiting
        await blocker
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return s3, result

    s3, result = asyncio.run(main())
    assert result == "kept"
    assert ("src", ["cancelled", "kept"]) in s3.calls, (
        "its key still deleted: result and copy exist"
    )


class ConditionalS3(FakeS3):
    """Also records each object's ETag, and answers DeleteObject per key."""

    def __init__(
        self, current: dict[str, str], fail: Exception | None = None, literal: bool = False
    ):
        super().__init__(fail=fail)
        self.current = dict(current)  # key -> ETag now in the bucket
        self.literal = literal  # compare ETags as given, quotes and all
        self.objects: list[list[dict[str, str]]] = []
        self.singles: list[tuple[str, str | None]] = []

    def _answer(self, key: str, etag: str | None) -> str:
        if key not in self.current:
            return "NoSuchKey"
        given = etag if self.literal else (etag or "").strip('"')
        if etag is not None and given != self.current[key]:
            return "PreconditionFailed"
        del self.current[key]
        return ""

    async def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.objects.append(list(Delete["Objects"]))
        self.calls.append((Bucket, [o["Key"] for o in Delete["Objects"]]))
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        answers = {o["Key"]: self._answer(o["Key"], o.get("ETag")) for o in Delete["Objects"]}
        return {"Errors": [{"Key": k, "Code": c, "Message": "no"} for k, c in answers.items() if c]}

    async def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if Key not in self.current:
            raise ClientError(
                {"Error": {"Code": "404"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                "HeadObject",
            )
        return {"ETag": f'"{self.current[Key]}"'}

    async def delete_object(self, Bucket: str, Key: str, IfMatch: str | None = None) -> None:  # noqa: N803
        self.singles.append((Key, IfMatch))
        code = self._answer(Key, IfMatch)
        if code:
            status = {"NoSuchKey": 404, "PreconditionFailed": 412}[code]
            raise ClientError(
                {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                "DeleteObject",
            )


async def versioned(deleter: SourceDeleter, key: str, etag: str) -> bool:
    with deleter.working():
        await asyncio.sleep(0)  # every image at work before the first delete
        return await deleter.delete("src", key, etag)


def delete_versions(s3: ConditionalS3, *versions: tuple[str, str]) -> list[bool]:
    """Each (key, ETag) deleted by its own image, all finishing together."""

    async def main() -> list[bool]:
        deleter = SourceDeleter(s3, linger=10)
        return await asyncio.gather(*(versioned(deleter, k, e) for k, e in versions))

    return asyncio.run(main())


def test_deletes_are_conditional_on_the_processed_version():
    """Deleted if still that version, kept if uploaded again, settled if already gone."""

    s3 = ConditionalS3({"same": "e1", "replaced": "new"})
    answers = delete_versions(s3, ("same", "e1"), ("replaced", "old"), ("gone", "e3"))
    assert answers == [True, False, True]
    assert s3.objects == [
        [
            {"Key": "same", "ETag": '"e1"'},
            {"Key": "replaced", "ETag": '"old"'},
            {"Key": "gone", "ETag": '"e3"'},
        ]
    ]
    assert s3.current == {"replaced": "new"}, "the newer upload is kept for its own event"


def test_two_versions_of_one_key_go_in_separate_requests():
    s3 = ConditionalS3({"k": "v2"})
    answers = delete_versions(s3, ("k", "v1"), ("k", "v2"), ("k", "v2"))
    assert answers == [False, True, True]
    assert s3.calls == [("src", ["k"]), ("src", ["k"])]
    assert s3.current == {}


def test_a_request_refused_as_a_whole_is_retried_key_by_key():
    """A key XML can not carry makes DeleteObjects a 400: each key then gets a DeleteObject."""
    malformed = ClientError(
        {"Error": {"Code": "MalformedXML"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "DeleteObjects",
    )

    s3 = ConditionalS3({"bad\x01key": "e1", "ok": "e2", "moved": "new"}, fail=malformed)
    answers = delete_versions(
        s3, ("bad\x01key", "e1"), ("ok", "e2"), ("moved", "old"), ("gone", "e4")
    )
    assert answers == [True, True, False, True]
    assert sorted(s3.singles) == [
        ("bad\x01key", '"e1"'),
        ("gone", '"e4"'),
        ("moved", '"old"'),
        ("ok", '"e2"'),
    ]
    assert s3.current == {"moved": "new"}


def test_a_412_for_the_version_still_there_is_retried_with_the_bare_etag():
    """Insurance against an ETag-format quirk: S3 refusing the quoted form must not
    leave processed sources behind. A HEAD shows the processed version is still there,
    so it is deleted with the bare ETag; a truly replaced key is still kept."""
    s3 = ConditionalS3({"ours": "e1", "replaced": "new"}, literal=True)
    answers = delete_versions(s3, ("ours", "e1"), ("replaced", "old"))

    assert answers == [True, False]
    assert s3.singles == [("ours", "e1")]
    assert s3.current == {"replaced": "new"}
