"""Turning failures into one line a person can act on.

The CLI is used by people who are not looking at a stack trace: a missing
credential, a stale stack output or the wrong region all surface from botocore
as exceptions whose text names an API operation, not the fix. ``explain``
maps the common ones to a sentence that says what to do; ``main`` prints it
and exits with ``EXIT_USER`` (2).

Three kinds of failure, told apart where they happen:

- from AWS: botocore's exceptions, and :class:`UnexpectedResponse`, raised by
  :func:`reading` around the code that reads a response (a field the API model
  requires is missing, or has another type): one line, ``EXIT_USER``;
- the user's: :class:`UserError`, one line, ``EXIT_USER``;
- anything else is a bug in rekbatch: one line naming the file the traceback
  was written to, ``EXIT_INTERNAL`` (sysexits' EX_SOFTWARE).
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

EXIT_OK = 0
EXIT_FAILED = 1  # the work ran and (partly) failed: a run failed, files could not be read
EXIT_USER = 2  # nothing (more) was done: fix the environment or the input and retry
EXIT_INTERNAL = 70  # a bug in rekbatch itself (sysexits' EX_SOFTWARE); the traceback is in a file
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem the user fixes (input, configuration, environment); exits 2."""

    exit_code = EXIT_USER


class UnexpectedResponse(Exception):
    """An AWS response outside its API model: a required field missing, or of another type."""


# What reading a response that breaks its model raises: a missing key or index,
# a value of another type, a number that is not one.
_MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)


@contextmanager
def reading(operation: str) -> Iterator[None]:
    """Wrap the code that reads ``operation``'s response, and only that code.

    A response that breaks its API model (an emulator, a proxy, an API change)
    is then reported as such; the same exception anywhere else is a bug in the
    CLI and keeps its traceback.
    """
    try:
        yield
    except _MALFORMED as exc:
        raise UnexpectedResponse(f"{operation}: {type(exc).__name__}: {exc}") from exc


def write_traceback(exc: BaseException, directory: str | None = None) -> str:
    """Write ``exc``'s traceback to a new file (in the temp directory); returns its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    fd, path = tempfile.mkstemp(prefix=f"rekbatch-{stamp}-", suffix=".txt", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("".join(traceback.format_exception(exc)))
    return path


_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "InvalidSignatureException",
}
_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "Forbidden"}
_WRONG_REGION = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
    "301",
}
_NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_NO_STATE_MACHINE = {"StateMachineDoesNotExist"}
_NOT_FOUND = {"ResourceNotFoundException", "ResourceNotFound"}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "TooManyRequestsException",
}


def error_code(exc: ClientError) -> str:
    """The service's error code (``NoSuchBucket``, ``404``, ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def explain(exc: BaseException, what: str | None = None) -> str | None:
    """One actionable sentence for a known AWS/botocore failure, else None.

    ``what`` names the resource being touched ("source bucket 'imgs'") so the
    message can say which stack output is wrong.
    """
    subject = what or "the resource"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials found: run `aws configure` / `aws sso login`, set AWS_PROFILE, "
            "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, ProfileNotFound | TokenRetrievalError):
        return f"AWS profile problem: {exc} (check AWS_PROFILE, or run `aws sso login`)"
    if isinstance(exc, NoRegionError):
        return (
            "no AWS region: pass --region, set AWS_REGION, or use the stack's outputs "
            "(its `region` output or resource ARNs name the region)"
        )
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}: check the network, "
            "the region, and AWS_ENDPOINT_URL (is the local emulator running?)"
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        op = getattr(exc, "operation_name", "") or "request"
        message = exc.response.get("Error", {}).get("Message") or ""
        if code in _BAD_CREDENTIALS:
            return (
                f"AWS rejected the credentials ({code} on {op}): they are invalid or expired; "
                "refresh them (`aws sso login`, new access keys) or pick another AWS_PROFILE"
            )
        if code in _ACCESS_DENIED:
            return (
                f"access denied ({op} on {subject}): your identity lacks the permission, "
                "or the resource belongs to another account"
            )
        if code in _WRONG_REGION:
            return (
                f"{subject} lives in another region ({code}): pass --region or set AWS_REGION "
                "to the stack's region"
            )
        if code in {"NoSuchBucket"} or (code in {"404", "NotFound"} and op == "HeadBucket"):
            return (
                f"{subject} does not exist: is the stack deployed (`pulumi up`), are the outputs "
                "current, and is this the right account and region?"
            )
        if code in _NO_QUEUE:
            return (
                f"{subject} does not exist: the stack is not deployed (or was destroyed), or the "
                "region is wrong"
            )
        if code in _NO_STATE_MACHINE:
            return (
                f"{subject} does not exist: the stack is not deployed (or was destroyed), or the "
                "region is wrong"
            )
        if code in _NOT_FOUND or (
            code == "InvalidParameterException" and "rekognition" in op.lower()
        ):
            return (
                f"{subject} was not found ({code}): check the model ARN "
                "(`pulumi config get projectVersionArn`), the account and the region"
            )
        if code in _THROTTLED:
            return f"AWS throttled {op} ({code}): wait a minute and retry, or lower --concurrency"
        return f"AWS error {code or type(exc).__name__} in {op}: {message}".rstrip(": ")
    if isinstance(exc, BotoCoreError):
        return f"AWS client error: {exc}"
    return None
