"""DetectCustomLabels: labels from content, filters, and every error as AWS spells it."""

from __future__ import annotations

import aioboto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator.emu_helpers import VERSION_ARN, run_off_main_thread
from tests.factories import PNG_SIGNATURE, shapes_image

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def error_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def detect(aws, **kwargs):
    return aws.client("rekognition", config=NO_RETRY).detect_custom_labels(
        ProjectVersionArn=VERSION_ARN, **kwargs
    )


def test_labels_describe_the_image_content(aws, running_model, bucket, png):
    aws.client("s3").put_object(Bucket=bucket, Key="shapes.png", Body=png)
    labels = detect(aws, Image={"S3Object": {"Bucket": bucket, "Name": "shapes.png"}})[
        "CustomLabels"
    ]
    by_name = {label["Name"]: label for label in labels}
    assert set(by_name) == {"white background", "red circle", "blue rectangle"}
    assert "Geometry" not in by_name["white background"]
    circle = by_name["red circle"]["Geometry"]["BoundingBox"]
    assert circle["Left"] == pytest.approx(0.1, abs=0.03)
    assert circle["Width"] == pytest.approx(0.3, abs=0.03)
    rect = by_name["blue rectangle"]["Geometry"]["BoundingBox"]
    assert rect["Left"] == pytest.approx(0.6, abs=0.03)
    assert rect["Top"] == pytest.approx(0.1, abs=0.03)
    assert len(by_name["blue rectangle"]["Geometry"]["Polygon"]) == 4
    confidences = [label["Confidence"] for label in labels]
    assert confidences == sorted(confidences, reverse=True)


def test_bytes_and_s3_and_jpeg_give_the_same_labels(aws, running_model, bucket, png, jpeg):
    aws.client("s3").put_object(Bucket=bucket, Key="a.png", Body=png)
    from_s3 = detect(aws, Image={"S3Object": {"Bucket": bucket, "Name": "a.png"}})
    from_bytes = detect(aws, Image={"Bytes": png})
    from_jpeg = detect(aws, Image={"Bytes": jpeg})
    names = [label["Name"] for label in from_s3["CustomLabels"]]
    assert names == [label["Name"] for label in from_bytes["CustomLabels"]]
    assert sorted(names) == sorted(label["Name"] for label in from_jpeg["CustomLabels"])


def test_min_confidence_and_max_results_filter(aws, running_model, png):
    everything = detect(aws, Image={"Bytes": png}, MinConfidence=0)["CustomLabels"]
    assert len(everything) == 3
    top = detect(aws, Image={"Bytes": png}, MinConfidence=0, MaxResults=1)["CustomLabels"]
    assert top == everything[:1]
    threshold = everything[-1]["Confidence"] + 0.001
    filtered = detect(aws, Image={"Bytes": png}, MinConfidence=threshold)["CustomLabels"]
    assert filtered == everything[:-1]


def test_not_running_is_resource_not_ready(aws, png):
    aws.model.create(VERSION_ARN)
    assert error_of(lambda: detect(aws, Image={"Bytes": png})) == ("ResourceNotReadyException", 400)


def test_unknown_version_is_resource_not_found(aws, png):
    assert error_of(lambda: detect(aws, Image={"Bytes": png})) == ("ResourceNotFoundException", 400)


@pytest.mark.parametrize(
    ("key", "body", "code"),
    [
        ("text.png", b"not an image at all", "InvalidImageFormatException"),
        ("gif.jpg", b"GIF89a" + b"\0" * 64, "InvalidImageFormatException"),
        ("corrupt.png", PNG_SIGNATURE + b"\0" * 64, "InvalidImageFormatException"),
        ("huge.png", PNG_SIGNATURE + b"\0" * (15 * 1024 * 1024), "ImageTooLargeException"),
    ],
)
def test_s3_image_errors(aws, running_model, bucket, key, body, code):
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    image = {"S3Object": {"Bucket": bucket, "Name": key}}
    assert error_of(lambda: detect(aws, Image=image)) == (code, 400)


def test_png_named_like_anything_is_accepted(aws, running_model, bucket, png):
    aws.client("s3").put_object(Bucket=bucket, Key="really-a-png.txt", Body=png)
    image = {"S3Object": {"Bucket": bucket, "Name": "really-a-png.txt"}}
    assert detect(aws, Image=image)["CustomLabels"]


@pytest.mark.parametrize("where", [("images", "missing.png"), ("no-such-bucket", "a.png")])
def test_missing_object_or_bucket_is_invalid_s3_object(aws, running_model, bucket, where):
    image = {"S3Object": {"Bucket": where[0], "Name": where[1]}}
    assert error_of(lambda: detect(aws, Image=image)) == ("InvalidS3ObjectException", 400)


def test_bytes_above_4_mb_are_too_large(aws, running_model):
    data = shapes_image() + b"\0" * (4 * 1024 * 1024)
    assert error_of(lambda: detect(aws, Image={"Bytes": data})) == ("ImageTooLargeException", 400)


def test_invalid_parameters(aws, running_model, png):
    code, status = error_of(lambda: detect(aws, Image={"Bytes": png}, MinConfidence=101))
    assert (code, status) == ("InvalidParameterException", 400)


def test_injected_faults_fire_at_the_configured_rate(aws, running_model, png):
    aws.model.configure(
        fault_rates={"InternalServerError": 0.2, "ThrottlingException": 0.1}, seed=7
    )
    client = aws.client("rekognition", config=NO_RETRY)
    seen: dict[str, int] = {}
    n = 400
    for _ in range(n):
        try:
            client.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": png})
            seen["ok"] = seen.get("ok", 0) + 1
        except ClientError as err:
            code = err.response["Error"]["Code"]
            assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 500
            seen[code] = seen.get(code, 0) + 1
    # Binomial(400, p): 4 standard deviations is well inside these bounds.
    assert 80 - 32 <= seen["InternalServerError"] <= 80 + 32
    assert 40 - 24 <= seen["ThrottlingException"] <= 40 + 24
    meter = aws.model.meter()
    assert meter["detect_calls"] == n
    assert meter["faults_injected"] == seen["InternalServerError"] + seen["ThrottlingException"]
    assert meter["throttles"] == seen["ThrottlingException"]
    assert meter["detect_succeeded"] == seen["ok"]


def test_latency_callable_is_applied_per_admitted_call(aws, running_model, png):
    calls: list[int] = []
    aws.model.configure(latency=lambda: calls.append(1) or 0.0)
    detect(aws, Image={"Bytes": png})
    detect(aws, Image={"Bytes": png})
    assert len(calls) == 2


def test_aioboto3_sees_the_same_error_codes(aws, png):
    aws.model.create(VERSION_ARN)

    async def call() -> str:
        async with aioboto3.Session().client("rekognition", config=NO_RETRY) as rek:
            try:
                await rek.detect_custom_labels(ProjectVersionArn=VERSION_ARN, Image={"Bytes": png})
            except rek.exceptions.ResourceNotReadyException as err:
                return err.response["Error"]["Code"]
        return "no error"

    assert run_off_main_thread(call()) == "ResourceNotReadyException"


def test_latency_distributions_are_seeded_and_bounded():
    from emulator import normal_latency, uniform_latency

    a, b = normal_latency(0.05, 0.5, seed=3), normal_latency(0.05, 0.5, seed=3)
    samples = [a() for _ in range(200)]
    assert samples == [b() for _ in range(200)]
    assert min(samples) == 0.0  # floored: a wide normal would go negative
    u = uniform_latency(0.01, 0.02, seed=1)
    assert all(0.01 <= u() <= 0.02 for _ in range(100))


def test_latency_delays_each_admitted_call(aws, running_model, png, monkeypatch):
    slept: list[float] = []
    # Observe the delay instead of timing it; monkeypatch puts the real sleep
    # back, since the server (and its model) outlive this test.
    monkeypatch.setattr(aws.model, "_sleep", slept.append)
    aws.model.configure(latency=0.25)
    detect(aws, Image={"Bytes": png})
    assert slept == [0.25]
