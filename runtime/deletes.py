"""Source deletes in bursts: one DeleteObjects for the images that finish together.

Deleting the source is the last step of every image (runtime/pipeline.py), and
the images of a batch tend to reach it together: they wait for their model
calls at the same time. One ``DeleteObjects`` request for all of them instead
of a ``DeleteObject`` each saves a request per image, which is CPU in the
Lambda (signing, parsing) and a round trip (bench/bench_handler.py).

The order that makes the pipeline loss-free is unchanged: an image asks for its
delete only after its result document and its copy exist, and its ``delete``
returns only when S3 has answered for its key. A per-key error, or the request
failing as a whole, raises in exactly the images concerned, which are then
retried like any failed step.

Every delete is conditional on the ETag of the version that was processed (S3
conditional deletes: the ``ETag`` of each object in DeleteObjects, ``If-Match``
on DeleteObject). An image uploaded again under the same key after its copy and
before its delete is therefore kept (412: its own notification processes it),
where an unconditional delete would remove a version nobody processed. A key
already gone (404: a duplicate message finished it) counts as deleted. A 412 is
confirmed with a HEAD before the source is kept: if the key still holds the
processed ETag, the delete is retried with the bare ETag (insurance against an
ETag-format quirk leaving processed sources behind).

A request S3 refuses as a whole with a 400 (a key XML 1.0 can not carry, such as
one with a control character, makes the whole DeleteObjects malformed) is
retried one DeleteObject per key, the key in the URL, so one odd key does not
send every image of its burst back to the queue.

When a burst is sent: runtime/bursts.py (shared with the label alerts).
"""

from __future__ import annotations

import asyncio
from typing import Any

from botocore.exceptions import ClientError

from runtime import errors as error_codes
from runtime.bursts import Burst

MAX_KEYS = 1000  # DeleteObjects takes at most 1000 keys
LINGER_S = 0.05

# Per-key answers that settle an image without deleting anything: already gone
# (a duplicate deleted it), or replaced (a newer upload, kept for its own event).
_GONE = error_codes.NOT_FOUND_CODES
_REPLACED = frozenset({"PreconditionFailed", "412"})

_Item = tuple[str, str | None, "asyncio.Future[bool]"]  # key, ETag, the image's answer


class SourceDeleter(Burst[tuple[str, _Item]]):
    """Collects the source deletes of one invocation's images (one event loop)."""

    def __init__(self, s3: Any, *, linger: float | None = None, max_keys: int = MAX_KEYS) -> None:
        super().__init__(linger=LINGER_S if linger is None else linger, max_items=max_keys)
        self.s3 = s3

    async def delete(self, bucket: str, key: str, etag: str | None = None) -> bool:
        """Delete ``key`` from ``bucket`` with the next burst, if it is still ``etag``.

        True: deleted, or already gone. False: the key now holds another version
        (uploaded after this one was processed), which is kept for its own
        notification. Raises the key's error, if any.
        """
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        return await self._join((bucket, (key, etag, future)), future)

    def _dispatch(self, pending: list[tuple[str, _Item]]) -> None:
        by_bucket: dict[str, list[_Item]] = {}
        for bucket, item in pending:
            by_bucket.setdefault(bucket, []).append(item)
        for bucket, items in by_bucket.items():
            self._spawn(self._delete_objects(bucket, items))

    async def _delete_objects(self, bucket: str, items: list[_Item]) -> None:
        answers: dict[tuple[str, str | None], bool | BaseException] = {}
        try:
            for objects in _rounds(items):
                answers.update(await self._delete_round(bucket, objects))
        except BaseException as exc:
            for _, _, future in items:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for key, etag, future in items:
            if future.done():  # its image was cancelled meanwhile
                continue
            answer = answers[(key, etag)]
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _delete_round(
        self, bucket: str, objects: dict[str, str | None]
    ) -> dict[tuple[str, str | None], bool | BaseException]:
        """One DeleteObjects for keys that are all different; each key's answer."""
        try:
            response = await self.s3.delete_objects(
                Bucket=bucket,
                Delete={
                    "Objects": [_identifier(key, etag) for key, etag in objects.items()],
                    "Quiet": True,
                },
            )
        except ClientError as exc:
            if error_codes.http_status(exc) != 400:
                raise
            answers = await asyncio.gather(
                *(self._delete_one(bucket, key, etag) for key, etag in objects.items()),
                return_exceptions=True,
            )
            return dict(zip(objects.items(), answers, strict=True))
        refused = {e.get("Key"): e for e in response.get("Errors") or []}
        result: dict[tuple[str, str | None], bool | BaseException] = {}
        replaced: list[tuple[str, str | None]] = []
        for key, etag in objects.items():
            error = refused.get(key)
            code = str(error.get("Code") or "InternalError") if error else ""
            if error is None or code in _GONE:
                result[(key, etag)] = True
            elif code in _REPLACED:
                replaced.append((key, etag))
            else:
                message = str(error.get("Message") or "DeleteObjects failed")
                result[(key, etag)] = ClientError(
                    {"Error": {"Code": code, "Message": message}}, "DeleteObjects"
                )
        if replaced:
            answers = await asyncio.gather(
                *(self._confirm_replaced(bucket, key, etag) for key, etag in replaced),
                return_exceptions=True,
            )
            result.update(zip(replaced, answers, strict=True))
        return result

    async def _confirm_replaced(self, bucket: str, key: str, etag: str | None) -> bool:
        """A 412 keeps the source only if a HEAD shows another version there.

        Rare (an upload between copy and delete), so a HEAD is cheap insurance: if
        the key still holds the processed ETag, the condition failed on its form,
        not its value, and the delete is retried with the bare ETag, so a source
        is never left behind by a format quirk.
        """
        try:
            head = await self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_codes.is_not_found(exc):
                return True
            raise
        if etag is None or str(head.get("ETag", "")).strip('"') != etag.strip('"'):
            return False
        return await self._delete_one(bucket, key, etag, quote=False)

    async def _delete_one(
        self, bucket: str, key: str, etag: str | None, *, quote: bool = True
    ) -> bool:
        extra = {"IfMatch": _quoted(etag) if quote else etag.strip('"')} if etag else {}
        try:
            await self.s3.delete_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            if error_codes.is_not_found(exc):
                return True
            if error_codes.error_code(exc) in _REPLACED or error_codes.http_status(exc) == 412:
                return await self._confirm_replaced(bucket, key, etag) if quote else False
            raise
        return True


def _quoted(etag: str) -> str:
    return f'"{etag.strip(chr(34))}"'


def _identifier(key: str, etag: str | None) -> dict[str, str]:
    return {"Key": key, "ETag": _quoted(etag)} if etag else {"Key": key}


def _rounds(items: list[_Item]) -> list[dict[str, str | None]]:
    """The (key, ETag) pairs to delete, as few requests of distinct keys as possible.

    A duplicate message (same key, same ETag) is deleted once; the same key with
    two ETags (two versions, each processed by its own message) goes in separate
    requests, one after the other, so that each gets its own answer.
    """
    rounds: list[dict[str, str | None]] = []
    for key, etag, _ in items:
        for objects in rounds:
            if objects.get(key, etag) == etag:  # absent, or the same version
                objects[key] = etag
                break
        else:
            rounds.append({key: etag})
    return rounds
