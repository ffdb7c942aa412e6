"""Fixtures of the emulator's own tests: images and a registered model version."""

from __future__ import annotations

import pytest

from tests.emulator.emu_helpers import VERSION_ARN
from tests.factories import shapes_image


@pytest.fixture
def png() -> bytes:
    return shapes_image("PNG")


@pytest.fixture
def jpeg() -> bytes:
    return shapes_image("JPEG")


@pytest.fixture
def running_model(aws):
    """A RUNNING model version with fast, fault-free defaults."""
    aws.model.configure(start_delay=0.2, stop_delay=0.2, tps_per_unit=1000)
    return aws.model.create(VERSION_ARN, status="RUNNING")


@pytest.fixture
def bucket(aws) -> str:
    aws.client("s3").create_bucket(Bucket="images")
    return "images"
