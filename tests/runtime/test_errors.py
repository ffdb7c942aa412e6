"""Retryable or permanent: the classification table of issue 2."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from runtime.errors import PermanentImageError, RetryImage, classify, is_not_found, normalise_code


def client_error(code: str, status: int = 400, message: str = "msg") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "DetectCustomLabels",
    )


@pytest.mark.parametrize(
    "code",
    [
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "InvalidS3ObjectException",
        "rekognition.InvalidImageFormatException",  # Step Functions/moto spelling
        "Rekognition.ImageTooLargeException",
    ],
)
def test_image_errors_are_permanent(code):
    assert classify(client_error(code)).permanent


@pytest.mark.parametrize(
    "code, status",
    [
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("ResourceNotReadyException", 400),
        ("InternalServerError", 500),
        ("LimitExceededException", 400),
        ("SlowDown", 503),
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("RequestTimeout", 400),
        ("PreconditionFailed", 412),
        ("AccessDeniedException", 400),
        ("ResourceNotFoundException", 400),
        ("SomethingNobodyHasSeenYet", 400),
    ],
)
def test_transient_config_and_unknown_errors_are_retried(code, status):
    result = classify(client_error(code, status))
    assert result.retryable
    assert result.code == normalise_code(code)


def test_network_errors_and_timeouts_are_retried():
    assert classify(EndpointConnectionError(endpoint_url="http://x")).retryable
    assert classify(ReadTimeoutError(endpoint_url="http://x")).retryable
    assert classify(TimeoutError()).retryable
    assert classify(ConnectionResetError()).retryable


def test_bugs_are_retried_rather_than_misfiled():
    result = classify(KeyError("oops"))
    assert result.retryable and result.code == "KeyError"


def test_own_exceptions_keep_their_code():
    assert classify(PermanentImageError("UnsupportedImageType", "m")).permanent
    assert classify(RetryImage("DeadlineExceeded", "m")).code == "DeadlineExceeded"


def test_message_comes_from_the_aws_error():
    assert (
        classify(client_error("InvalidImageFormatException", message="bad jpeg")).message
        == "bad jpeg"
    )


@pytest.mark.parametrize(
    "code, status, expected",
    [
        ("404", 404, True),
        ("NoSuchKey", 404, True),
        ("NoSuchBucket", 404, False),
        ("AccessDenied", 403, False),
    ],
)
def test_not_found_means_the_object_only(code, status, expected):
    assert is_not_found(client_error(code, status)) is expected


def test_normalise_code():
    assert normalise_code("rekognition.ThrottlingException") == "Throttling"
    assert normalise_code("SlowDown") == "SlowDown"
    assert normalise_code("Exception") == "Exception"
