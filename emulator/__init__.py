"""Local AWS emulator: moto server + Rekognition Custom Labels model emulator
(same endpoint) + a Lambda service emulator for SQS event source mappings.

    from emulator import LocalAws
    with LocalAws() as aws:
        s3 = aws.client("s3")
        aws.model.create(version_arn, status="RUNNING")

See docs/emulator.md.
"""

from emulator.model import (
    ModelConfig,
    ModelEmulator,
    normal_latency,
    project_arn_of,
    uniform_latency,
    version_name_of,
)
from emulator.server import LocalAws

__all__ = [
    "LocalAws",
    "ModelConfig",
    "ModelEmulator",
    "normal_latency",
    "project_arn_of",
    "uniform_latency",
    "version_name_of",
]
