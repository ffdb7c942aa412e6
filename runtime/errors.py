"""Retryable or permanent: the one decision that makes the pipeline loss-free.

A *permanent* failure is a property of the image (wrong format, too large,
unreadable): retrying can never help, so the image moves under the failed
prefix with an error document and its message is acknowledged. Everything
else is *retryable*: the record goes into ``batchItemFailures``, SQS
redelivers it, and after ``maxReceiveCount`` the redrive policy parks it in
the DLQ. That includes errors this module does not know (an unknown error that
is retried costs a few invocations; an unknown error treated as permanent
would silently misfile a good image), and configuration errors such as
AccessDenied or a wrong model ARN (fix, then redrive the DLQ).

Pure: it reads the botocore error shape (``exc.response``) by duck typing and
needs no AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Rekognition codes that describe the image itself. Normalised (no
# "Exception" suffix, no "rekognition." prefix) so that the emulator's and
# Step Functions' spellings match too.
PERMANENT_CODES: frozenset[str] = frozenset(
    {
        "InvalidImageFormat",
        "ImageTooLarge",
        "InvalidS3Object",
    }
)

# Known transient codes, listed for documentation and metrics; any code not in
# PERMANENT_CODES is retried anyway.
RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        "Throttling",
        "ProvisionedThroughputExceeded",
        "LimitExceeded",
        "ResourceNotReady",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "PreconditionFailed",
        "ResourceNotFound",
        "AccessDenied",
        "InvalidParameter",
    }
)

# Codes of our own pre-checks, all permanent (the image is never sent to the model).
UNSUPPORTED_IMAGE_TYPE = "UnsupportedImageType"
IMAGE_TOO_LARGE = "ImageTooLarge"
EMPTY_OBJECT = "EmptyObject"
SOURCE_MISSING = "SourceMissing"
RESERVED_KEY_PREFIX = "ReservedKeyPrefix"
KEY_TOO_LONG = "KeyTooLong"
# Code of a retry caused by the invocation running out of time.
DEADLINE_EXCEEDED = "DeadlineExceeded"
# Not an error: a processed image whose source key was uploaded again before its
# delete; the new upload stays in the source bucket for its own notification.
SOURCE_REPLACED = "SourceReplaced"

# S3 answers a missing object with these (HEAD has no body, hence the bare 404).
NOT_FOUND_CODES: frozenset[str] = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class Classification:
    """How the handler treats an exception."""

    code: str
    message: str
    permanent: bool

    @property
    def retryable(self) -> bool:
        return not self.permanent


class PermanentImageError(Exception):
    """Raised by the runtime's own checks for an image that can never succeed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RetryImage(Exception):
    """An image that must be retried; carries the classified cause for logs and metrics."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def normalise_code(code: str) -> str:
    """``rekognition.InvalidImageFormatException`` -> ``InvalidImageFormat``."""
    code = code.strip()
    if "." in code:
        code = code.rsplit(".", 1)[1]
    if code.endswith("Exception") and code != "Exception":
        code = code[: -len("Exception")]
    return code


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (or look-alike), else None."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict) and error.get("Code") is not None:
            return str(error["Code"])
    return None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status code of a botocore ``ClientError`` (or look-alike), else None."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        meta = response.get("ResponseMetadata")
        status = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
        if isinstance(status, int):
            return status
    return None


def is_not_found(exc: BaseException) -> bool:
    """True when S3 says the object does not exist (HEAD 404, GET/Copy NoSuchKey)."""
    code = error_code(exc)
    if code is not None and code in NOT_FOUND_CODES:
        return True
    return code is None and http_status(exc) == 404


def classify(exc: BaseException) -> Classification:
    """Decide whether ``exc`` is permanent for the image or worth a retry."""
    if isinstance(exc, PermanentImageError):
        return Classification(exc.code, exc.message, permanent=True)
    if isinstance(exc, RetryImage):
        return Classification(exc.code, exc.message, permanent=False)
    code = error_code(exc)
    if code is not None:
        message = _client_error_message(exc)
        normalised = normalise_code(code)
        return Classification(normalised, message, permanent=normalised in PERMANENT_CODES)
    if isinstance(exc, TimeoutError):
        return Classification("Timeout", str(exc) or "timed out", permanent=False)
    # Connection errors, read timeouts, bugs: prefer a retry, the DLQ is the backstop.
    return Classification(type(exc).__name__, str(exc) or type(exc).__name__, permanent=False)


def _client_error_message(exc: BaseException) -> str:
    response: Any = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("Message"):
        return str(error["Message"])
    return str(exc)
