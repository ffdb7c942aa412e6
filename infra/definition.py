"""The orchestration state machine, built by a pure function.

Plain values in, a plain dict (Amazon States Language, JSONPath, AWS SDK
service integrations only) out; no pulumi import. The Pulumi program calls
``build_definition`` inside ``Output.all(...).apply``; tests and the local
emulator call it with emulator ARNs and run the result.
"""

from __future__ import annotations

from dataclasses import dataclass

OWNERSHIP_EXCLUSIVE = "exclusive"  # always stop the model at the end of a run
OWNERSHIP_SHARED = "shared"  # stop it only if this run started it


@dataclass(frozen=True)
class WorkflowParams:
    queue_url: str
    project_arn: str
    project_version_arn: str
    version_name: str
    event_source_mapping_uuid: str
    final_bucket: str
    runs_prefix: str = "runs/"
    min_inference_units: int = 1
    max_inference_units: int | None = None  # None: omit MaxInferenceUnits (no auto-scaling)
    ownership: str = OWNERSHIP_EXCLUSIVE
    poll_interval_seconds: int = 60  # queue polls while draining
    model_poll_seconds: int = 30  # re-describe while STARTING / STOPPING
    model_start_timeout_seconds: int = 45 * 60
    max_run_seconds: int = 6 * 3600  # end the run (rest stays queued) after this
    model_check_every_polls: int = 5  # re-check the model is RUNNING every N polls
