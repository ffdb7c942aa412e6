"""S3 fault injection (emulator/s3faults.py): which requests, which answers, seeded draws."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.s3faults import S3Faults, classify, normalise_rates
from emulator.server import LocalAws

BUCKET = "faulty"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
S3_AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261129/us-east-1/s3/aws4_request, ..."


def environ(method: str, path: str, query: str = "", **headers: str) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": "127.0.0.1:5000",
        "HTTP_AUTHORIZATION": S3_AUTH,
    }
    env.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return env


@pytest.mark.parametrize(
    ("request_env", "expected"),
    [
        (environ("GET", "/b/k.png"), ("GET", "b")),
        (environ("HEAD", "/b/dir/k.png"), ("HEAD", "b")),
        (environ("PUT", "/b/k.png"), ("PUT", "b")),
        (environ("PUT", "/b/k.png", x_amz_copy_source="/src/k.png"), ("COPY", "b")),
        (environ("DELETE", "/b/k.png"), ("DELETE", "b")),
        (environ("POST", "/b", "delete="), ("DELETE", "b")),
        (environ("PUT", "/b/k.png", "partNumber=1&uploadId=x"), ("PUT", "b")),
        ({**environ("GET", "/k.png"), "HTTP_HOST": "b.s3.amazonaws.com"}, ("GET", "b")),
        ({**environ("GET", "/b/k.png"), "HTTP_HOST": "s3.us-east-1.amazonaws.com"}, ("GET", "b")),
        (environ("GET", "/b"), None),  # ListObjects
        (environ("PUT", "/b"), None),  # CreateBucket
        (environ("GET", "/b/k.png", "tagging="), None),
        (environ("PUT", "/b/k.png", "acl="), None),
        (environ("POST", "/b/k.png", "uploads="), None),
        ({**environ("GET", "/b/k.png"), "HTTP_AUTHORIZATION": "... /sqs/aws4_request"}, None),
    ],
)
def test_only_object_operations_are_classified(
    request_env: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    assert classify(request_env) == expected


def test_rates_are_validated_and_a_number_means_slow_down() -> None:
    assert normalise_rates({"get": 0.1, "PUT": {"InternalError": 0.2, "SlowDown": 0}}) == {
        "GET": {"SlowDown": 0.1},
        "PUT": {"InternalError": 0.2},
    }
    assert set(normalise_rates({"*": 0.05, "HEAD": 0})) == {"GET", "PUT", "COPY", "DELETE"}
    for bad in ({"LIST": 0.1}, {"GET": {"NoSuchKey": 0.1}}, {"GET": 1.5}, {"GET": -0.1}):
        with pytest.raises(ValueError):
            normalise_rates(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sum to at most 1"):
        normalise_rates({"GET": {"SlowDown": 0.6, "InternalError": 0.6}})


@pytest.fixture
def s3(aws: LocalAws) -> Any:
    client = aws.client("s3", config=NO_RETRIES)
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="k.png", Body=b"image")
    return client


def error_of(call: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_each_operation_answers_s3s_error(aws: LocalAws, s3: Any) -> None:
    aws.s3_faults.configure(fault_rates={"*": {"SlowDown": 1.0}})
    assert error_of(s3.get_object, Bucket=BUCKET, Key="k.png") == (503, "SlowDown")
    assert error_of(s3.put_object, Bucket=BUCKET, Key="n.png", Body=b"x") == (503, "SlowDown")
    assert error_of(
        s3.copy_object, Bucket=BUCKET, Key="c.png", CopySource={"Bucket": BUCKET, "Key": "k.png"}
    ) == (503, "SlowDown")
    assert error_of(s3.delete_object, Bucket=BUCKET, Key="k.png") == (503, "SlowDown")
    assert error_of(s3.delete_objects, Bucket=BUCKET, Delete={"Objects": [{"Key": "k.png"}]}) == (
        503,
        "SlowDown",
    )
    status, _ = error_of(s3.head_object, Bucket=BUCKET, Key="k.png")
    assert status == 503  # HEAD errors carry no body: botocore names them by status
    aws.s3_faults.configure(fault_rates={})
    # Nothing the faulted calls would have changed happened; bucket calls were never faulted.
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {"k.png"}
    meter = aws.s3_faults.meter()
    assert meter["injected"] == {op: {"SlowDown": 1} for op in ("GET", "PUT", "COPY", "HEAD")} | {
        "DELETE": {"SlowDown": 2}
    }
    assert meter["injected_total"] == 6


def test_internal_error_is_a_500_with_s3s_code(aws: LocalAws, s3: Any) -> None:
    aws.s3_faults.configure(fault_rates={"PUT": {"InternalError": 1.0}})
    assert error_of(s3.put_object, Bucket=BUCKET, Key="n.png", Body=b"x") == (
        500,
        "InternalError",
    )
    assert s3.get_object(Bucket=BUCKET, Key="k.png")["Body"].read() == b"image"


def test_botocore_retries_a_slow_down_through(aws: LocalAws, s3: Any) -> None:
    aws.s3_faults.configure(fault_rates={"GET": 0.5}, seed=3)
    retrying = aws.client(
        "s3", config=Config(retries={"mode": "standard", "total_max_attempts": 10})
    )
    for _ in range(10):
        assert retrying.get_object(Bucket=BUCKET, Key="k.png")["Body"].read() == b"image"
    meter = aws.s3_faults.meter()
    assert meter["injected_total"] > 0 and meter["requests"]["GET"] == 10 + meter["injected_total"]


def pattern(aws: LocalAws, s3: Any, seed: int) -> list[bool]:
    aws.s3_faults.configure(fault_rates={"GET": 0.3}, seed=seed)
    outcomes = []
    for _ in range(200):
        try:
            s3.get_object(Bucket=BUCKET, Key="k.png")
            outcomes.append(False)
        except ClientError:
            outcomes.append(True)
    return outcomes


def test_draws_are_seeded_and_near_the_rate(aws: LocalAws, s3: Any) -> None:
    first = pattern(aws, s3, seed=11)
    again = pattern(aws, s3, seed=11)
    other = pattern(aws, s3, seed=12)
    assert first == again
    assert first != other
    assert 40 <= sum(first) <= 80  # 30 % of 200, seeded: deterministic


def test_a_bucket_filter_spares_the_other_buckets(aws: LocalAws, s3: Any) -> None:
    s3.create_bucket(Bucket="spared")
    aws.s3_faults.configure(fault_rates={"PUT": 1.0}, buckets=[BUCKET])
    s3.put_object(Bucket="spared", Key="a", Body=b"x")
    assert error_of(s3.put_object, Bucket=BUCKET, Key="a", Body=b"x") == (503, "SlowDown")


def test_reset_turns_faults_off() -> None:
    faults = S3Faults()
    faults.configure(fault_rates={"GET": 1.0}, seed=1)
    assert faults.draw("GET", "b") == "SlowDown"
    faults.reset()
    assert faults.draw("GET", "b") is None
    assert faults.meter()["injected_total"] == 0
