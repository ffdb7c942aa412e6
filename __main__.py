"""The Pulumi program: scheduled, cost-optimal batch inference for Rekognition Custom Labels.

Reads the stack config once (infra/config/ validates every key before any
resource is declared), creates one :class:`infra.pipeline.Pipeline` and
exports its outputs (names in infra/outputs.py, read by the CLI).
"""

from __future__ import annotations

import pulumi

from infra import config as stack_config
from infra.bundle import BundleError
from infra.function import lambda_code
from infra.lookup import find_project_arn
from infra.pipeline import Pipeline, PipelineArgs

# The one pipeline of a stack. Stacks deployed before the component existed keep
# their resources: adopt_legacy_resources aliases the old names and type tokens.
PIPELINE_NAME = "pipeline"


def _get(key: str) -> str | None:
    """Raw config value as the CLI stores it; 'ns:key' reads another namespace."""
    namespace, _, name = key.rpartition(":")
    return pulumi.Config(namespace or None).get(name)


try:
    cfg = stack_config.load(_get)
    project_arn = find_project_arn(cfg)
    code_path, code_hash = lambda_code(cfg)
except stack_config.ConfigError as error:
    # RunError: Pulumi prints the message alone (no traceback) and stops before
    # any resource is declared. The message starts with the key's name.
    raise pulumi.RunError(f"invalid stack config: {error}") from error
except BundleError as error:
    raise pulumi.RunError(f"could not build the Lambda bundle: {error}") from error

pipeline = Pipeline(
    PIPELINE_NAME,
    PipelineArgs(
        config=cfg,
        project_arn=project_arn,
        code_path=code_path,
        source_code_hash=code_hash,
        # Physical names as before the component: <project>-<stack>-inference, ...
        resource_prefix=f"{pulumi.get_project()}-{pulumi.get_stack()}",
        adopt_legacy_resources=True,
    ),
)

for output_name, value in pipeline.outputs.items():
    pulumi.export(output_name, value)
