"""Deploy-time look-ups the program needs before it can declare resources."""

from __future__ import annotations

from typing import Any

from infra.config import ConfigError, StackConfig


def find_project_arn(config: StackConfig, client: Any | None = None) -> str:
    """The project ARN of the configured model version.

    The version ARN does not contain the project's creation timestamp, which
    the project ARN ends with, and DescribeProjectVersions (used by the
    workflow, authorised on the project) needs the exact project ARN. One
    read-only DescribeProjects call finds it; set ``projectArn`` to skip it.
    """
    if config.project_arn:
        return config.project_arn
    if client is None:
        try:
            import boto3
        except ImportError:  # pragma: no cover - boto3 ships with the dev requirements
            raise ConfigError(
                "projectArn", "is empty and boto3 is not installed to look it up: set it"
            ) from None
        client = boto3.client("rekognition", region_name=config.region)
    try:
        response = client.describe_projects(ProjectNames=[config.project_name])
    except Exception as exc:  # noqa: BLE001 - any failure means the same for the user
        raise ConfigError(
            "projectArn",
            f"is empty and looking up project {config.project_name!r} in {config.region} failed "
            f"({exc}); set it: pulumi config set projectArn arn:aws:rekognition:...",
        ) from exc
    for project in response.get("ProjectDescriptions", []):
        arn: str = project.get("ProjectArn", "")
        if arn.split(":project/", 1)[-1].split("/", 1)[0] == config.project_name:
            return arn
    raise ConfigError(
        "projectArn",
        f"is empty and no project named {config.project_name!r} exists in {config.region} for "
        "this account: check projectVersionArn or set projectArn",
    )
