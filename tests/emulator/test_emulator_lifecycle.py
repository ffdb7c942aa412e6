"""Model lifecycle through the real API: statuses, delays, failures, metering."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from emulator import project_arn_of, version_name_of
from tests.emulator.emu_helpers import VERSION_ARN


def wait_for(aws, status: str, timeout: float = 3.0) -> float:
    """Poll DescribeProjectVersions like the workflow does; return the seconds waited."""
    rek = aws.client("rekognition")
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        desc = rek.describe_project_versions(
            ProjectArn=project_arn_of(VERSION_ARN), VersionNames=[version_name_of(VERSION_ARN)]
        )["ProjectVersionDescriptions"][0]
        if desc["Status"] == status:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"model never reached {status}")


def code_of(call) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"]


def test_arn_helpers_follow_the_documented_convention():
    assert project_arn_of(VERSION_ARN) == (
        "arn:aws:rekognition:us-east-1:123456789012:project/shapes/1714550400000"
    )
    assert version_name_of(VERSION_ARN) == "shapes.2024-05-01"
    with pytest.raises(ValueError):
        project_arn_of("arn:aws:s3:::bucket")


def test_start_runs_after_the_start_delay_then_stop_stops(aws):
    aws.model.configure(start_delay=0.3, stop_delay=0.2)
    aws.model.create(VERSION_ARN)
    rek = aws.client("rekognition")
    assert aws.model.status(VERSION_ARN) == "TRAINING_COMPLETED"
    started = time.monotonic()
    assert (
        rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=2)["Status"]
        == "STARTING"
    )
    wait_for(aws, "RUNNING")
    assert time.monotonic() - started >= 0.3
    assert rek.stop_project_version(ProjectVersionArn=VERSION_ARN)["Status"] == "STOPPING"
    wait_for(aws, "STOPPED")
    meter = aws.model.meter()
    assert meter["starts"] == 1 and meter["stops"] == 1
    assert meter["running_seconds"] > 0
    assert meter["inference_unit_seconds"] == pytest.approx(2 * meter["running_seconds"])


def test_describe_reports_units_and_epoch_timestamps(aws):
    aws.model.configure(start_delay=0)
    aws.model.create(VERSION_ARN)
    rek = aws.client("rekognition")
    rek.start_project_version(
        ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1, MaxInferenceUnits=3
    )
    desc = rek.describe_project_versions(ProjectArn=project_arn_of(VERSION_ARN))[
        "ProjectVersionDescriptions"
    ]
    assert [d["ProjectVersionArn"] for d in desc] == [VERSION_ARN]
    assert desc[0]["Status"] == "RUNNING"
    assert (desc[0]["MinInferenceUnits"], desc[0]["MaxInferenceUnits"]) == (1, 3)
    # boto3 parsed the JSON epoch number into a datetime: the version's ARN timestamp.
    assert desc[0]["CreationTimestamp"].timestamp() == pytest.approx(1714550400)


def test_describe_filters_by_version_name_and_matches_projects_by_name(aws):
    aws.model.create(VERSION_ARN)
    other = VERSION_ARN.replace("shapes.2024-05-01", "shapes.2024-06-01")
    aws.model.create(other)
    rek = aws.client("rekognition")
    any_timestamp = project_arn_of(VERSION_ARN).rsplit("/", 1)[0] + "/42"
    both = rek.describe_project_versions(ProjectArn=any_timestamp)["ProjectVersionDescriptions"]
    assert {d["ProjectVersionArn"] for d in both} == {VERSION_ARN, other}
    one = rek.describe_project_versions(
        ProjectArn=any_timestamp, VersionNames=["shapes.2024-06-01"]
    )["ProjectVersionDescriptions"]
    assert [d["ProjectVersionArn"] for d in one] == [other]


def test_describe_pages_with_next_token(aws):
    for day in range(1, 4):
        aws.model.create(VERSION_ARN.replace("2024-05-01", f"2024-05-0{day}"))
    rek = aws.client("rekognition")
    pages = rek.get_paginator("describe_project_versions").paginate(
        ProjectArn=project_arn_of(VERSION_ARN), PaginationConfig={"PageSize": 2}
    )
    sizes = [len(page["ProjectVersionDescriptions"]) for page in pages]
    assert sizes == [2, 1]


def test_unknown_project_is_resource_not_found(aws):
    rek = aws.client("rekognition")
    assert (
        code_of(lambda: rek.describe_project_versions(ProjectArn=project_arn_of(VERSION_ARN)))
        == "ResourceNotFoundException"
    )
    assert (
        code_of(
            lambda: rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
        )
        == "ResourceNotFoundException"
    )


@pytest.mark.parametrize("status", ["RUNNING"])
def test_starting_a_running_model_is_resource_in_use(aws, status):
    aws.model.create(VERSION_ARN, status=status)
    rek = aws.client("rekognition")
    assert (
        code_of(
            lambda: rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
        )
        == "ResourceInUseException"
    )


def test_starting_while_starting_and_stopping_a_stopped_model_are_resource_in_use(aws):
    aws.model.configure(start_delay=5)
    aws.model.create(VERSION_ARN, status="STOPPED")
    rek = aws.client("rekognition")
    assert code_of(lambda: rek.stop_project_version(ProjectVersionArn=VERSION_ARN)) == (
        "ResourceInUseException"
    )
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    assert (
        code_of(
            lambda: rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
        )
        == "ResourceInUseException"
    )


def test_a_starting_model_can_be_stopped_and_is_never_billed(aws):
    aws.model.configure(start_delay=5, stop_delay=0)
    aws.model.create(VERSION_ARN)
    rek = aws.client("rekognition")
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    rek.stop_project_version(ProjectVersionArn=VERSION_ARN)
    assert aws.model.status(VERSION_ARN) == "STOPPED"
    assert aws.model.meter()["running_seconds"] == 0


def test_start_can_end_failed_and_be_retried(aws):
    aws.model.configure(start_delay=0.1, start_fails=True)
    aws.model.create(VERSION_ARN)
    rek = aws.client("rekognition")
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    wait_for(aws, "FAILED")
    assert aws.model.meter()["running_seconds"] == 0
    aws.model.configure(start_fails=False)
    rek.start_project_version(ProjectVersionArn=VERSION_ARN, MinInferenceUnits=1)
    wait_for(aws, "RUNNING")


def test_invalid_units_are_invalid_parameter(aws):
    aws.model.create(VERSION_ARN)
    rek = aws.client("rekognition")
    assert (
        code_of(
            lambda: rek.start_project_version(
                ProjectVersionArn=VERSION_ARN, MinInferenceUnits=2, MaxInferenceUnits=1
            )
        )
        == "InvalidParameterException"
    )


def test_meter_counts_running_time_exactly_with_a_fake_clock():
    from emulator.model import ModelEmulator

    now = [100.0]
    model = ModelEmulator(clock=lambda: now[0])
    model.configure(start_delay=10, stop_delay=5)
    model.create(VERSION_ARN)
    model.start_project_version({"ProjectVersionArn": VERSION_ARN, "MinInferenceUnits": 3})
    now[0] = 109.9
    assert model.status(VERSION_ARN) == "STARTING"
    now[0] = 150.0  # RUNNING since 110, observed late: billing starts at 110 anyway
    assert model.status(VERSION_ARN) == "RUNNING"
    model.stop_project_version({"ProjectVersionArn": VERSION_ARN})
    now[0] = 200.0
    meter = model.meter()
    assert model.status(VERSION_ARN) == "STOPPED"
    assert meter["running_seconds"] == pytest.approx(40.0)
    assert meter["inference_unit_seconds"] == pytest.approx(120.0)


def test_describe_projects_finds_the_project_arn_by_name(aws):
    aws.model.create(VERSION_ARN)
    aws.model.create("arn:aws:rekognition:us-east-1:123456789012:project/other/version/v/1")
    rek = aws.client("rekognition")
    found = rek.describe_projects(ProjectNames=["shapes"])["ProjectDescriptions"]
    assert [p["ProjectArn"] for p in found] == [project_arn_of(VERSION_ARN)]
    assert len(rek.describe_projects()["ProjectDescriptions"]) == 2
