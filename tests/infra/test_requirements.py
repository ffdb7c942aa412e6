"""`pulumi install` on a fresh clone: the root requirements.txt alone (what Pulumi's
pip toolchain installs into Pulumi.yaml's virtualenv) is enough to run the program.

A new virtualenv gets only ``pip install -r requirements.txt``; the real
__main__.py then runs in it under Pulumi's mocks (a small driver, no pytest in
that virtualenv) and must export every output the CLI needs. Slow (~1-2 min,
pip's cache makes repeats faster): it installs pulumi-aws.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from infra import outputs
from tests.infra.conftest import PROJECT_ARN, REGION, VERSION_ARN

ROOT = Path(__file__).resolve().parents[2]

DRIVER = r"""
import json, runpy, sys
import pulumi

root, config, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sys.path.insert(0, root)  # as Pulumi's Python host does for the program's folder


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        state = dict(args.inputs)
        name = state.get("name") or state.get("bucket") or f"{args.name}-0000000"
        service = args.typ.split(":")[1].split("/")[0]  # aws:sns/topic:Topic -> sns
        arn = f"arn:aws:{service}:eu-west-1:123456789012:{name}"
        state.setdefault("arn", arn)
        state.setdefault("url", f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name}")
        state.setdefault("uuid", "a1b2c3d4-0000-4000-8000-000000000000")
        state.setdefault("name", name)
        state.setdefault("bucket", name)
        return f"{name}-id", state

    def call(self, args):
        raise AssertionError(f"unexpected provider call {args.token}")


pulumi.runtime.set_all_config({f"rekognition-batch:{k}" if ":" not in k else k: v
                               for k, v in config.items()})
pulumi.runtime.set_mocks(Mocks(), project="rekognition-batch", stack="fresh", preview=False)
stack = pulumi.runtime.settings.get_root_resource()
exported = {}


@pulumi.runtime.test
def program():
    runpy.run_path(f"{root}/__main__.py", run_name="__pulumi_program__")
    return pulumi.Output.from_input(dict(stack.outputs)).apply(exported.update)


program()
with open(out, "w") as f:
    json.dump(exported, f, default=str)
"""


def test_requirements_txt_refers_to_the_infra_pins_without_copying_them() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["-r requirements/infra.txt", "-c requirements/constraints.txt"]
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]
    assert runtime == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }


@pytest.mark.timeout(1200)
def test_a_virtualenv_from_requirements_txt_alone_runs_the_program(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile",
         "-r", str(ROOT / "requirements.txt")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    # Nothing of the development environment leaks in: no pytest, moto or the CLI.
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True
    )
    installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert {"pulumi", "pulumi-aws", "boto3"} <= installed
    assert not {"pytest", "moto", "rich", "aioboto3"} & installed

    bundle = tmp_path / "lambda.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("runtime/__init__.py", "")
    config = {
        "aws:region": REGION,
        "projectVersionArn": VERSION_ARN,
        "projectArn": PROJECT_ARN,
        "lambdaBundle": str(bundle),
    }
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    result_file = tmp_path / "outputs.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    run = subprocess.run(
        [str(python), str(driver), str(ROOT), json.dumps(config), str(result_file)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    exported = json.loads(result_file.read_text())
    for name in (*outputs.REQUIRED_BY_CLI, outputs.DASHBOARD_URL, outputs.NOTIFICATION_TOPIC_ARN):
        assert exported.get(name), name
