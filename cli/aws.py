"""AWS clients for the CLI, and the pre-flight checks that name what is wrong.

The endpoint is never configured here: botocore reads AWS_ENDPOINT_URL (and
AWS_ENDPOINT_URL_<SERVICE>) itself, so the very same code talks to AWS and to
the local emulator. The region is the stack's (read from its outputs/ARNs)
when known, because a stack lives in exactly one region and a mismatched
AWS_REGION is the most common cause of "bucket does not exist".
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import UserError, error_code, explain
from .operations import queue_depth
from .stack import Stack


class Aws:
    """Lazily created, thread-safe boto3 clients sharing one session."""

    def __init__(
        self, region: str | None, *, max_pool: int = 32, profile: str | None = None
    ) -> None:
        self.session = boto3.Session(region_name=region, profile_name=profile)
        self.config = Config(
            max_pool_connections=max_pool,
            retries={"mode": "adaptive", "max_attempts": 8},
            connect_timeout=10,
            read_timeout=60,
        )

    @classmethod
    def for_stack(cls, stack: Stack, *, region: str | None = None, max_pool: int = 32) -> Aws:
        try:
            return cls(region or stack.region, max_pool=max_pool)
        except BotoCoreError as exc:
            raise UserError(explain(exc) or str(exc)) from None

    @functools.cache  # noqa: B019 - one client per service for the life of this object
    def client(self, service: str) -> Any:
        try:
            return self.session.client(service, config=self.config)
        except BotoCoreError as exc:
            raise UserError(explain(exc) or str(exc)) from None

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")


def check_bucket(aws: Aws, bucket: str, role: str) -> None:
    """Fail early with a clear line when a stack bucket is missing or unreachable."""
    try:
        aws.s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        what = f"{role} {bucket!r}"
        if code in {"404", "NoSuchBucket", "NotFound"}:
            raise UserError(
                f"{what} does not exist: is the stack deployed (`pulumi up`), are the outputs "
                "current, and is this the right account and region?"
            ) from None
        if code in {"301", "PermanentRedirect"}:
            actual = (
                exc.response.get("ResponseMetadata", {})
                .get("HTTPHeaders", {})
                .get("x-amz-bucket-region")
            )
            where = f" ({actual})" if actual else ""
            raise UserError(
                f"{what} lives in another region{where}: pass --region or set AWS_REGION"
            ) from None
        if code in {"403", "AccessDenied"}:
            raise UserError(
                f"access denied to {what}: your identity lacks s3:ListBucket on it, or the "
                "credentials belong to another account"
            ) from None
        raise UserError(explain(exc, what) or str(exc)) from None
    except BotoCoreError as exc:
        raise UserError(explain(exc, f"{role} {bucket!r}") or str(exc)) from None


def queue_depths(aws: Aws, queue_url: str, role: str = "queue") -> dict[str, int]:
    """visible / inFlight / delayed / total message counts (SQS's approximate numbers)."""
    try:
        return queue_depth(aws.sqs, queue_url)
    except ClientError as exc:
        raise UserError(explain(exc, f"{role} {queue_url}") or str(exc)) from None
