"""The standalone emulator driven by a real client: the AWS CLI (v1, pinned in
requirements/dev.txt) runs exactly the commands docs/emulator.md shows against
``python -m emulator`` started as a subprocess."""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from infra import outputs as out

pytestmark = pytest.mark.timeout(240)

MULTIPART_THRESHOLD = 8 * 1024 * 1024  # the AWS CLI's default multipart_threshold
READY = "Ctrl-C to stop."


def aws_cli() -> str:
    found = shutil.which("aws", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the AWS CLI is not installed in the venv: run `make setup`")
    return found


def write_images(folder: Path) -> list[str]:
    """Three small PNG/JPEG images and one PNG over the multipart threshold; returns keys."""
    keys = []
    for n, (colour, fmt, suffix) in enumerate(
        [("red", "PNG", ".png"), ("blue", "JPEG", ".jpg"), ("green", "PNG", ".png")]
    ):
        image = Image.new("RGB", (64, 48), "white")
        image.paste(Image.new("RGB", (20, 20), colour), (10 + n, 10))
        key = f"batch/img-{n}{suffix}"
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / key, fmt)
        keys.append(key)
    # Noise does not compress: 1800 x 1700 RGB is a ~9.2 MB PNG.
    big = Image.frombytes("RGB", (1800, 1700), os.urandom(1800 * 1700 * 3))
    buffer = io.BytesIO()
    big.save(buffer, "PNG", compress_level=1)
    assert MULTIPART_THRESHOLD < buffer.tell() < 15 * 1024 * 1024  # Rekognition's S3 limit
    (folder / "big.png").write_bytes(buffer.getvalue())
    return [*keys, "big.png"]


class Emulator:
    """``python -m emulator`` as a subprocess; its stdout is read by a thread."""

    def __init__(self, workdir: Path) -> None:
        self.outputs_file = workdir / "outputs.json"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "emulator", "--port", "0", "--stack", "dev",
                "--workflow", "--poller", "--no-schedule", "--fast-waits", "--start-delay", "1",
                "--stop-delay", "0.5", "--outputs-file", str(self.outputs_file),
            ],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} from the emulator; it said {self.seen}"
                ) from None
            if line is None:
                raise AssertionError(f"the emulator exited; it said {self.seen}")
            self.seen.append(line)
            if text in line:
                return line

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    running = Emulator(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=30)


def test_the_documented_flow_with_the_aws_cli(emulator: Emulator, tmp_path: Path) -> None:
    endpoint = emulator.wait_for("local AWS endpoint:").split()[3]
    emulator.wait_for(READY)
    outputs = json.loads(emulator.outputs_file.read_text())
    images = tmp_path / "images"
    keys = write_images(images)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        # What the emulator prints to export; no profile or config of this machine.
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }

    def aws(*args: str) -> str:
        done = subprocess.run(
            [aws_cli(), *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
        return done.stdout

    def aws_json(*args: str) -> dict:
        return json.loads(aws(*args, "--output", "json"))

    state_machine = outputs[out.STATE_MACHINE_ARN]
    source, final = outputs[out.SOURCE_BUCKET], outputs[out.FINAL_BUCKET]

    # docs/emulator.md, "Standalone: point the AWS CLI at it"
    aws("s3", "cp", str(images), f"s3://{source}/", "--recursive")
    finished = []
    for _ in range(2):  # a second run finds nothing to do, like the next scheduled one
        execution = aws_json(
            "stepfunctions", "start-execution", "--state-machine-arn", state_machine
        )
        status = "RUNNING"
        deadline = time.monotonic() + 120
        while status == "RUNNING" and time.monotonic() < deadline:
            described = aws_json(
                "stepfunctions", "describe-execution", "--execution-arn", execution["executionArn"]
            )
            status = described["status"]
        assert status == "SUCCEEDED", described
        finished.append(described["name"])
    listing = aws("s3", "ls", f"s3://{final}/", "--recursive").split()
    project = outputs[out.PROJECT_ARN]
    deadline = time.monotonic() + 30
    while True:
        model = aws_json("rekognition", "describe-project-versions", "--project-arn", project)
        state = model["ProjectVersionDescriptions"][0]["Status"]
        if state != "STOPPING" or time.monotonic() > deadline:
            break

    assert [str(uuid.UUID(name)) for name in finished] == finished  # generated, unique
    assert len(set(finished)) == 2
    for key in keys:
        assert f"{key}.json" in listing, f"no result for {key}: {listing}"
        assert key in listing
    assert sorted(k for k in listing if k.startswith("runs/")) == sorted(
        f"runs/{name}.json" for name in finished
    )
    assert not any(k.startswith("failed/") for k in listing)
    assert state == "STOPPED"
    first = json.loads(aws("s3", "cp", f"s3://{final}/runs/{finished[0]}.json", "-"))
    # One notification per upload, the multipart one included (moto sent two).
    assert first["backlogAtStart"]["total"] - first.get("testEventsDropped", 0) == len(keys)
    assert not aws("s3", "ls", f"s3://{source}/", "--recursive").strip()

    assert emulator.stop() == 0
    emulator.wait_for("model meter")
