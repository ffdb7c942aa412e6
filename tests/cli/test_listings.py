"""Every listing the CLI makes reads every page: S3 answers ListObjectsV2 and Step
Functions ListExecutions 1,000 items at most per call. Against the emulator with
more than 1,000 keys (moto pages as S3 does)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.paginate import Paginator

from cli import runs
from cli.backlog import oldest_waiting
from cli.operations import count_objects, document_keys
from infra import outputs as out
from runtime import documents
from tests.factories import PNG_SIGNATURE

MANY = 1_010  # more than one page


def put_many(s3: Any, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=PNG_SIGNATURE), keys))


@pytest.fixture(scope="module")
def many_keys() -> list[str]:
    return [f"img/{i:05d}.png" for i in range(MANY)]


def test_document_keys_reads_every_page_and_sorts_by_kind(aws, stack, many_keys):
    s3 = aws.client("s3")
    results = [documents.result_key(k) for k in many_keys]
    errors = [documents.failed_document_key("failed/", f"bad{i}.png") for i in range(3)]
    put_many(s3, "final-bucket", [*results, *many_keys, *errors, "runs/r1.json"])

    found = document_keys(s3, {out.FINAL_BUCKET: "final-bucket"})

    assert sorted(found.results) == sorted(results)
    assert sorted(found.errors) == sorted(errors)
    assert found.run_summaries == ["runs/r1.json"]


def test_backfill_sees_every_source_and_every_result(aws, stack, cli, many_keys):
    s3 = aws.client("s3")
    put_many(s3, "src-bucket", many_keys)
    done = many_keys[: MANY - 5]  # the five left are on the second page of both listings
    put_many(s3, "final-bucket", [documents.result_key(k) for k in done])

    assert s3.list_objects_v2(Bucket="src-bucket")["KeyCount"] == 1000, "the bed pages like S3"
    assert count_objects(s3, "src-bucket") == MANY
    assert oldest_waiting(s3, "src-bucket")["images"] == MANY  # `rekbatch status`

    result = cli("backfill", "--dry-run")

    assert result.code == 0, result.err
    assert f"would enqueue 5 image(s) of {MANY} object(s)" in result.out
    assert f"skipped {MANY - 5} already processed" in result.out


class PagedExecutions:
    """ListExecutions as Step Functions answers it: newest first, pages with a nextToken."""

    def __init__(self, count: int, running: set[int]) -> None:
        start = datetime(2026, 11, 1, tzinfo=UTC)
        self.items = [
            {
                "executionArn": f"arn:aws:states:us-east-1:1:execution:sm:run-{i}",
                "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:sm",
                "name": f"run-{i}",
                "status": "RUNNING" if i in running else "SUCCEEDED",
                "startDate": start + timedelta(minutes=i),
            }
            for i in reversed(range(count))
        ]

    def client(self, service: str) -> Any:
        return self

    def get_paginator(self, operation: str) -> Any:
        """botocore's own paginator, driving this fake's list_executions."""
        assert operation == "list_executions"
        session = botocore.session.get_session()
        return Paginator(
            self.list_executions,
            session.get_paginator_model("stepfunctions").get_paginator("ListExecutions"),
            session.get_service_model("stepfunctions").operation_model("ListExecutions"),
        )

    def list_executions(self, **params: Any) -> dict[str, Any]:
        found = [e for e in self.items if params.get("statusFilter") in (None, e["status"])]
        start = int(params.get("nextToken") or 0)
        size = min(int(params.get("maxResults") or 100), 1000)
        page: dict[str, Any] = {"executions": found[start : start + size]}
        if start + size < len(found):
            page["nextToken"] = str(start + size)
        return page


def test_the_running_execution_is_the_oldest_even_beyond_the_first_page():
    # 1,401 RUNNING: the oldest (run-5) comes last, many pages in.
    fake = PagedExecutions(2_500, running={5, *range(1_000, 2_400)})
    found = runs.running_execution(fake, "arn:aws:states:us-east-1:1:stateMachine:sm")
    assert found is not None and found["name"] == "run-5"


def test_list_executions_reads_pages_up_to_the_limit():
    fake = PagedExecutions(2_500, running=set())
    listed = runs.list_executions(fake, "arn:aws:states:us-east-1:1:stateMachine:sm", 1_500)
    assert len(listed) == 1_500
    assert listed[0]["name"] == "run-2499" and listed[-1]["name"] == "run-1000"
