"""What the end-to-end benchmarks share: the emulator ("AWS") in a child process.

The parent plays the Lambda service (poller + real handler), so the code under
test and moto's request handling do not share one GIL, as on AWS. The child is
the benchmark script itself run with ``--serve SPEC``; it prints one ``@@{json}``
line when it is up (endpoint and stack outputs) and answers each command line
on stdin with one more (``meter`` -> the model's meter); EOF ends it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from typing import Any

from PIL import Image

from cli.operations import queue_depth
from infra import outputs as out


def announce(payload: Any) -> None:
    """Child side: one line the parent reads."""
    print("@@" + json.dumps(payload), flush=True)


class EmulatorChild:
    """Parent side of the child process."""

    def __init__(self, script: str, spec: Any, *, close_timeout: float = 60) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, "--serve", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.close_timeout = close_timeout
        started = self.read()
        self.endpoint: str = started["endpoint"]
        self.outputs: dict[str, Any] = started["outputs"]

    def read(self) -> Any:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise SystemExit("the emulator process ended unexpectedly")

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def meter(self) -> dict[str, Any]:
        self.send("meter")
        result: dict[str, Any] = self.read()
        return result

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=self.close_timeout)


def png(seed: int) -> bytes:
    """A small distinct PNG (the model emulator labels it by colour)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), ((seed * 37) % 256, (seed * 91) % 256, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def drop_test_events(sqs: Any, queue_url: str) -> None:
    """Delete the s3:TestEvent of the notification set-up: the first run after a
    deploy would process it; the benchmarks measure the steady state."""
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def upload_backlog(
    s3: Any, sqs: Any, outputs: dict[str, Any], images: int, prefix: str, timeout: float = 300
) -> None:
    """Upload ``images`` PNGs under ``prefix`` and wait until the queue holds them."""
    distinct = [png(i) for i in range(20)]
    for number in range(images):
        s3.put_object(
            Bucket=outputs[out.SOURCE_BUCKET],
            Key=f"{prefix}img-{number:05d}.png",
            Body=distinct[number % len(distinct)],
            ContentType="image/png",
        )
    deadline = time.monotonic() + timeout
    while queue_depth(sqs, outputs[out.QUEUE_URL])["total"] < images:
        if time.monotonic() > deadline:
            raise SystemExit(f"the queue did not receive {images} notifications in {timeout:g} s")
        time.sleep(0.1)
