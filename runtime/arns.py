"""Rekognition Custom Labels ARN formats, in one place.

Standard library only: the Lambda bundle, the Pulumi program (infra/config/),
the local model emulator and the CLI all import these patterns.

- version: arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP
- project: arn:aws:rekognition:REGION:ACCOUNT:project/NAME/TIMESTAMP (the project's
  creation time, which the version ARN does not carry)
"""

from __future__ import annotations

import re

_PREFIX = (
    r"^arn:(?P<partition>aws[a-z-]*):rekognition:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"project/(?P<project>[A-Za-z0-9_.\-]{1,255})"
)
VERSION_ARN = re.compile(_PREFIX + r"/version/(?P<version>[A-Za-z0-9_.\-]{1,255})/(?P<ts>\d+)$")
PROJECT_ARN = re.compile(_PREFIX + r"/(?P<ts>\d+)$")
