"""What the end-to-end benchmarks share: the emulator ("AWS") in a child process.

The parent plays the Lambda service (poller + real handler), so the code under
test and moto's request handling do not share one GIL, as on AWS. The child is
the benchmark script itself run with ``--serve SPEC``; it prints one ``@@{json}``
line when it is up (endpoint and stack outputs) and answers each command line
on stdin with one more (``meter`` -> the model's meter); EOF ends it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


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
