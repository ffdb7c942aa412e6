"""Golden snapshots of the rendered state machine.

Each representative configuration is rendered exactly as the Pulumi program
sends it to Step Functions (``infra.workflow.render_definition``'s JSON) and
committed under tests/workflow/snapshots/. test_golden.py fails when the
rendering changes, so every change to the workflow shows as an ASL diff in
review. After an intended change, regenerate and commit the diff::

    make snapshots        # or: .venv/bin/python -m tests.workflow.golden
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from infra.statemachine import OWNERSHIP_SHARED, WorkflowParams, build_definition

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"

# Stack resources as a deployed stack has them (account 111122223333, eu-west-1).
_RESOURCES = WorkflowParams(
    queue_url="https://sqs.eu-west-1.amazonaws.com/111122223333/rekbatch-images",
    project_arn="arn:aws:rekognition:eu-west-1:111122223333:project/parts/1700000000000",
    project_version_arn=(
        "arn:aws:rekognition:eu-west-1:111122223333:project/parts/version/parts.v2/1700000000123"
    ),
    version_name="parts.v2",
    event_source_mapping_uuid="0b6f4b1e-2f0a-4c64-9d6a-4b1f9f0f1a2b",
    final_bucket="rekbatch-final-abc123",
)

# name -> the options that differ from the production defaults
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "shared-autoscaling": {
        "ownership": OWNERSHIP_SHARED,
        "min_inference_units": 2,
        "max_inference_units": 4,
    },
    "peek-off": {"test_event_peek_max": 0, "guard_settle_seconds": 0},
    "sizing-notifications": {
        "target_run_minutes": 30,
        "max_planned_units": 3,
        "notification_topic_arn": "arn:aws:sns:eu-west-1:111122223333:rekbatch-runs",
        "event_bus_arn": "arn:aws:events:eu-west-1:111122223333:event-bus/default",
    },
}


def render(name: str) -> str:
    params = dataclasses.replace(_RESOURCES, **CONFIGURATIONS[name])
    return json.dumps(build_definition(params), indent=2) + "\n"


def path_of(name: str) -> Path:
    return SNAPSHOT_DIR / f"{name}.asl.json"


def write_all() -> list[Path]:
    SNAPSHOT_DIR.mkdir(exist_ok=True)
    written = []
    for name in CONFIGURATIONS:
        path = path_of(name)
        text = render(name)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    changed = write_all()
    for path in changed:
        print(
            f"updated {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
        )
    print(f"{len(changed)} of {len(CONFIGURATIONS)} snapshots changed")
    sys.exit(0)
