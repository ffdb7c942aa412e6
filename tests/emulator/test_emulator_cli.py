"""``python -m emulator``: a standalone server the AWS CLI / boto3 can use."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("engine", "access_key"),
    [
        ("moto", "testing"),
        pytest.param("localstack", "123456789012", marks=pytest.mark.xdist_group("localstack")),
    ],
)
def test_standalone_server_prints_its_env_provisions_and_stops_on_ctrl_c(engine, access_key):
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--engine", engine, "--port", "0", "--stack", "demo"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        endpoint = re.search(r"export AWS_ENDPOINT_URL=(\S+)", text).group(1)
        assert f"export AWS_ACCESS_KEY_ID={access_key}" in text
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key="testing",
        )
        names = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
        assert names == ["rekbatch-demo-final-123456789012", "rekbatch-demo-source-123456789012"]
        assert '"sourceBucket": "rekbatch-demo-source-123456789012"' in text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "model meter" in rest
    if engine == "localstack":  # its LocalStack child went with it
        with pytest.raises(EndpointConnectionError):
            boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id=access_key,
                aws_secret_access_key="testing",
            ).list_buckets()
