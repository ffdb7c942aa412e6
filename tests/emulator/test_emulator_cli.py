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

REPO = Path(__file__).resolve().parents[2]


def test_standalone_server_prints_its_env_provisions_and_stops_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--stack", "demo"],
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
        assert "export AWS_ACCESS_KEY_ID=testing" in text
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
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
