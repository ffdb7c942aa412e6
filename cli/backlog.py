"""How long the oldest image has been waiting, for ``rekbatch status``.

What is true on AWS and on the local emulator alike: the source bucket holds
exactly the images not yet worked off (the pipeline deletes a source only after
its result, or its error document under failed/, is written), so the oldest
``LastModified`` there is when the longest-waiting image was uploaded, which is
when S3 queued it. SQS does not expose a message's age through
GetQueueAttributes; the CloudWatch metric the stall alarm watches
(ApproximateAgeOfOldestMessage) exists only on AWS, needs another permission,
and lags by minutes. The bucket also shows images whose messages are gone (in
the DLQ, or expired after the queue's retention), which the queue metric can
not: they wait too.

Listing is bounded (:data:`MAX_LISTED` objects); past it the answer is the
oldest among those listed, flagged ``complete: False``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAX_LISTED = 10_000


def oldest_waiting(
    s3: Any, bucket: str, *, now: datetime | None = None, max_listed: int = MAX_LISTED
) -> dict[str, Any]:
    """``{"images", "oldestUploaded", "oldestAgeSeconds", "complete"}`` for ``bucket``."""
    now = now or datetime.now(UTC)
    count = 0
    oldest: datetime | None = None
    complete = True
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1000}
    )
    for page in pages:
        for item in page.get("Contents", ()):
            if str(item.get("Key", "")).endswith("/"):  # a console "folder", not an image
                continue
            if count >= max_listed:
                complete = False
                break
            count += 1
            modified = item.get("LastModified")  # optional in the API's model
            if modified is not None and (oldest is None or modified < oldest):
                oldest = modified
        if not complete:
            break
    return {
        "images": count,
        "oldestUploaded": oldest.isoformat(timespec="seconds") if oldest else None,
        "oldestAgeSeconds": max(0, int((now - oldest).total_seconds())) if oldest else None,
        "complete": complete,
    }


def describe(waiting: dict[str, Any]) -> str:
    """One status line: ``waiting  3 image(s), the oldest uploaded 2 h 05 min ago``."""
    if not waiting["images"]:
        return "waiting  no images in the source bucket"
    count = f"{waiting['images']:,}" + ("" if waiting["complete"] else "+")
    line = f"waiting  {count} image(s) in the source bucket"
    if waiting["oldestAgeSeconds"] is None:  # the listing gave no upload times
        line += ", upload times unknown"
    else:
        line += f", the oldest uploaded {age_text(waiting['oldestAgeSeconds'])} ago"
    if not waiting["complete"]:
        line += f" (oldest of the first {waiting['images']:,} listed)"
    return line


def age_text(seconds: int) -> str:
    """``45 s``, ``12 min``, ``2 h 05 min``, ``3 d 04 h``."""
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"
