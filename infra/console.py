"""Stack outputs meant for people: console links and the upload command (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from infra.contract import notification_suffixes


def console_urls(
    *,
    region: str,
    source_bucket: str,
    final_bucket: str,
    queue_url: str,
    dlq_url: str,
    function_name: str,
    state_machine_arn: str,
    project_name: str,
) -> dict[str, str]:
    console = f"https://{region}.console.aws.amazon.com"
    return {
        "sourceBucket": f"https://s3.console.aws.amazon.com/s3/buckets/{source_bucket}?region={region}",
        "finalBucket": f"https://s3.console.aws.amazon.com/s3/buckets/{final_bucket}?region={region}",
        "queue": f"{console}/sqs/v3/home?region={region}#/queues/{quote(queue_url, safe='')}",
        "deadLetterQueue": f"{console}/sqs/v3/home?region={region}#/queues/{quote(dlq_url, safe='')}",
        "function": f"{console}/lambda/home?region={region}#/functions/{function_name}",
        "stateMachine": f"{console}/states/home?region={region}#/statemachines/view/{state_machine_arn}",
        "model": f"{console}/rekognition/custom-labels#/projects/{project_name}",
        "alarms": f"{console}/cloudwatch/home?region={region}#alarmsV2:",
    }


def upload_command(source_bucket: str, region: str, suffixes: Sequence[str]) -> str:
    """`aws s3 sync` of a local folder, only the queued image suffixes (both cases)."""
    includes = " ".join(f"--include '*{s}'" for s in notification_suffixes(suffixes))
    return f"aws s3 sync ./images s3://{source_bucket}/ --region {region} --exclude '*' {includes}"
