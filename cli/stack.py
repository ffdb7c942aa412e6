"""Finding the deployed stack: its bucket names, queue URLs and ARNs.

Sources, highest precedence first: command-line flags, ``REKBATCH_*``
environment variables, a saved ``pulumi stack output --json`` file
(``--outputs`` / ``REKBATCH_OUTPUTS``), and finally the Pulumi CLI itself
(only queried when it is on PATH and either ``--stack`` was given or
something a command needs is still missing). The same names are used
everywhere: ``infra/outputs.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import outputs as out
from infra.contract import DEFAULT_RUNS_PREFIX
from infra.statemachine import DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR
from runtime.arns import VERSION_ARN

from .errors import UserError
from .operations import DEFAULT_FAILED_PREFIX, DEFAULT_RESULTS_PREFIX

# Outputs that can be given one by one (flag + environment variable).
SETTABLE: tuple[str, ...] = (
    out.SOURCE_BUCKET,
    out.FINAL_BUCKET,
    out.QUEUE_URL,
    out.DLQ_URL,
    out.STATE_MACHINE_ARN,
    out.PROJECT_ARN,
    out.PROJECT_VERSION_ARN,
    out.VERSION_NAME,
    out.REGION,
    out.MIN_INFERENCE_UNITS,
    out.PRICE_PER_INFERENCE_UNIT_HOUR,
    out.RUNS_PREFIX,
    out.FAILED_PREFIX,
    out.RESULTS_PREFIX,
    out.GLUE_DATABASE,
    out.ATHENA_WORKGROUP,
)

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]+):")
_QUEUE_URL_REGION = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com")
_VERSION_ARN = VERSION_ARN


def snake(name: str) -> str:
    """``sourceBucket`` -> ``source_bucket``."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def env_var(name: str) -> str:
    """The environment variable that sets output ``name``: ``REKBATCH_SOURCE_BUCKET``."""
    return "REKBATCH_" + snake(name).upper()


def flag(name: str) -> str:
    """The command-line flag that sets output ``name``: ``--source-bucket``."""
    return "--" + snake(name).replace("_", "-")


@dataclass(frozen=True)
class Stack:
    """The stack outputs a command works with, and where they came from."""

    outputs: Mapping[str, Any]
    origins: Mapping[str, str] = field(default_factory=dict)
    pulumi_error: str | None = None

    def get(self, name: str, default: Any = None) -> Any:
        value = self.outputs.get(name)
        return default if value in (None, "") else value

    def require(self, *names: str) -> tuple[str, ...]:
        """The values of ``names``, or a UserError saying how to provide each missing one."""
        missing = [n for n in names if self.get(n) is None]
        if missing:
            how = "; ".join(f"{n}: {flag(n)} or {env_var(n)}" for n in missing)
            hint = (
                f" (pulumi said: {self.pulumi_error})"
                if self.pulumi_error
                else " (or run inside the Pulumi project with the pulumi CLI on PATH, "
                "or pass --outputs FILE saved from `pulumi stack output --json`)"
            )
            raise UserError(f"stack output(s) not found: {how}{hint}")
        return tuple(str(self.outputs[n]) for n in names)

    @property
    def region(self) -> str | None:
        """The stack's region: explicit output, else read from an ARN or queue URL."""
        explicit = self.get(out.REGION)
        if explicit:
            return str(explicit)
        for name in (
            out.STATE_MACHINE_ARN,
            out.QUEUE_ARN,
            out.PROJECT_VERSION_ARN,
            out.PROJECT_ARN,
        ):
            match = _ARN_REGION.match(str(self.get(name, "")))
            if match:
                return match.group(1)
        match = _QUEUE_URL_REGION.match(str(self.get(out.QUEUE_URL, "")))
        return match.group(1) if match else None

    @property
    def price_per_iu_hour(self) -> float:
        return float(
            self.get(out.PRICE_PER_INFERENCE_UNIT_HOUR, DEFAULT_PRICE_PER_INFERENCE_UNIT_HOUR)
        )

    @property
    def min_inference_units(self) -> int:
        return int(self.get(out.MIN_INFERENCE_UNITS, 1))

    @property
    def runs_prefix(self) -> str:
        return str(self.get(out.RUNS_PREFIX, DEFAULT_RUNS_PREFIX))

    @property
    def failed_prefix(self) -> str:
        return str(self.get(out.FAILED_PREFIX, DEFAULT_FAILED_PREFIX))

    @property
    def results_prefix(self) -> str:
        return str(self.get(out.RESULTS_PREFIX, DEFAULT_RESULTS_PREFIX))


def derive(outputs: dict[str, Any]) -> dict[str, Any]:
    """Fill the project ARN and version name from the version ARN when absent."""
    match = _VERSION_ARN.match(str(outputs.get(out.PROJECT_VERSION_ARN) or ""))
    if match:
        outputs.setdefault(out.VERSION_NAME, match.group("version"))
        # The project ARN ends in the project's creation timestamp, which the version
        # ARN does not carry; DescribeProjectVersions needs the real one, so no guess.
    return outputs


def load_outputs_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Outputs saved with ``pulumi stack output --json > FILE``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"outputs file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read outputs file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"outputs file {path} is not a JSON object of stack outputs")
    return data


def pulumi_outputs(
    stack: str | None, cwd: str | None, runner: Any = subprocess.run
) -> dict[str, Any]:
    """Ask the Pulumi CLI for the stack's outputs (secrets stay masked)."""
    exe = shutil.which("pulumi")
    if exe is None:
        raise UserError("the pulumi CLI is not on PATH")
    cmd = [exe, "stack", "output", "--json"]
    if stack:
        cmd += ["--stack", stack]
    try:
        proc = runner(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"`pulumi stack output` failed: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise UserError(
            "`pulumi stack output` failed: "
            + (detail[-1] if detail else f"exit code {proc.returncode}")
            + " (select the stack with --stack, or run inside the Pulumi project)"
        )
    try:
        data = json.loads(proc.stdout or "{}")
    except ValueError:
        raise UserError("`pulumi stack output --json` printed something that is not JSON") from None
    if not data:
        raise UserError(
            f"stack {stack or '(current)'} has no outputs: it is not deployed yet; run `pulumi up`"
        )
    return data


def discover(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    outputs_file: str | None = None,
    stack_name: str | None = None,
    pulumi_cwd: str | None = None,
    needed: Sequence[str] = (),
    runner: Any = subprocess.run,
) -> Stack:
    """Merge every source of stack outputs; see the module docstring for precedence."""
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    pulumi_error: str | None = None

    outputs_file = outputs_file or env.get("REKBATCH_OUTPUTS")
    stack_name = stack_name or env.get("REKBATCH_STACK")
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if outputs_file:
        layers.append((f"file {outputs_file}", load_outputs_file(outputs_file)))
    layers.append(("environment", {n: env[env_var(n)] for n in SETTABLE if env.get(env_var(n))}))
    layers.append(("flags", {n: v for n, v in flags.items() if v not in (None, "")}))
    for origin, layer in layers:
        for name, value in layer.items():
            merged[name] = value
            origins[name] = origin

    still_missing = [n for n in needed if merged.get(n) in (None, "")]
    if stack_name or (still_missing and shutil.which("pulumi")):
        try:
            from_pulumi = pulumi_outputs(stack_name, pulumi_cwd, runner)
        except UserError as exc:
            if stack_name:  # asked for explicitly: its failure is the answer
                raise
            pulumi_error = str(exc)
        else:
            for name, value in from_pulumi.items():
                if name not in merged:
                    merged[name] = value
                    origins[name] = f"pulumi stack {stack_name or '(current)'}"
    return Stack(derive(merged), origins, pulumi_error)
