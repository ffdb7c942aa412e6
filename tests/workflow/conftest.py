"""A provisioned pipeline on the local emulator for the end-to-end scenarios.

Everything real except AWS itself: the generated state machine runs in moto
(or, for the scenarios marked ``@both_engines``, in LocalStack too: a second
interpreter), the model is the emulator, the Lambda poller runs the real
handler. Waits are 1 s (FAST_WORKFLOW), so a scenario takes a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cli.aws import Aws
from cli.operations import RunResult, finish_run, model_status, queue_depth, start_run
from cli.runs import figures, recent_summaries
from emulator.localstack import LocalStackAws
from emulator.server import LocalAws
from emulator.workflow import deploy_state_machine, lambda_service, provision_stack
from infra import outputs as out
from runtime import documents
from tests.factories import flat_image, seeded_colour

VERSION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/wf/version/wf.v1/1700000000000"
RUN_TIMEOUT = 120.0  # generous: LocalStack on a loaded 2-core machine runs a drain in ~40 s

MOTO, LOCALSTACK = "moto", "localstack"
# A scenario that runs on both interpreters: `@both_engines` above it (it takes the
# `pipeline` fixture, or `engine_aws`). Unmarked scenarios run on moto only.
# The LocalStack cases share one xdist group: `make test` (--dist loadgroup) runs them
# on one worker, so one LocalStack serves them all while the other worker runs the rest.
both_engines = pytest.mark.parametrize(
    "engine",
    [MOTO, pytest.param(LOCALSTACK, marks=pytest.mark.xdist_group("localstack"))],
    indirect=True,
)


@dataclass
class Pipeline:
    aws: LocalAws | LocalStackAws
    outputs: dict[str, Any]
    uploaded: list[str] = field(default_factory=list)
    stack: str = "dev"

    # -- set-up -----------------------------------------------------------------

    def model(self, status: str, **config: Any) -> None:
        """(Re)create the model version with this status; emulator knobs via config."""
        if config:
            self.aws.model.configure(**config)
        self.aws.model.create(VERSION_ARN, status)

    def deploy(self, **workflow: Any) -> None:
        """Redeploy the state machine with other workflow settings (same data path)."""
        from emulator.workflow import FAST_WORKFLOW

        deploy_state_machine(self.aws, self.outputs, **{**FAST_WORKFLOW, **workflow})

    def upload(self, count: int, prefix: str = "batch/") -> list[str]:
        s3 = self.aws.client("s3")
        keys = []
        for number in range(len(self.uploaded), len(self.uploaded) + count):
            key = f"{prefix}image-{number:04d}.png"
            s3.put_object(
                Bucket=self.outputs[out.SOURCE_BUCKET],
                Key=key,
                Body=flat_image("PNG", seeded_colour(number), (24, 24)),
                ContentType="image/png",
            )
            keys.append(key)
        self.uploaded.extend(keys)
        self.wait_for_queue(len(self.uploaded))
        return keys

    def wait_for_queue(self, at_least: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.queue()["total"] < at_least:
            assert time.monotonic() < deadline, "S3 notifications did not reach the queue"
            time.sleep(0.05)

    # -- running ----------------------------------------------------------------

    def start(self, name: str | None = None) -> str:
        return start_run(
            self.aws.client("stepfunctions"), self.outputs[out.STATE_MACHINE_ARN], name
        )

    def finish(self, execution_arn: str, timeout: float = RUN_TIMEOUT) -> RunResult:
        return finish_run(
            self.aws.client("stepfunctions"),
            self.aws.client("s3"),
            self.outputs,
            execution_arn,
            timeout=timeout,
            interval=0.2,
        )

    def run(self, timeout: float = RUN_TIMEOUT) -> RunResult:
        return self.finish(self.start(), timeout)

    # -- observing ----------------------------------------------------------------

    def entered(self, execution_arn: str, state: str) -> int:
        """How many times the execution has entered this state so far."""
        pages = self.aws.client("stepfunctions").get_paginator("get_execution_history")
        return sum(
            event.get("stateEnteredEventDetails", {}).get("name") == state
            for page in pages.paginate(executionArn=execution_arn)
            for event in page["events"]
        )

    def queue(self) -> dict[str, int]:
        return queue_depth(self.aws.client("sqs"), self.outputs[out.QUEUE_URL])

    def dlq(self) -> dict[str, int]:
        return queue_depth(self.aws.client("sqs"), self.outputs[out.DLQ_URL])

    def mapping_state(self) -> str:
        return self.aws.client("lambda").get_event_source_mapping(
            UUID=self.outputs[out.EVENT_SOURCE_MAPPING_UUID]
        )["State"]

    def model_status(self) -> str:
        return model_status(self.aws.client("rekognition"), self.outputs)

    def meter(self) -> dict[str, Any]:
        return self.aws.model.meter()

    def wait_for_model(self, *statuses: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.aws.model.status(VERSION_ARN)) not in statuses:
            assert time.monotonic() < deadline, f"model still {status}, wanted {statuses}"
            time.sleep(0.05)
        return status

    def keys(self, bucket_output: str) -> set[str]:
        s3 = self.aws.client("s3")
        found: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.outputs[bucket_output]
        ):
            found.update(item["Key"] for item in page.get("Contents", ()))
        return found

    def account(self) -> dict[str, set[str]]:
        """Where every uploaded image is now: processed, failed, or still waiting."""
        final = self.keys(out.FINAL_BUCKET)
        source = self.keys(out.SOURCE_BUCKET)
        failed_prefix = self.outputs.get(out.FAILED_PREFIX, "failed/")
        where: dict[str, set[str]] = {
            "processed": set(),
            "failed": set(),
            "waiting": set(),
            "lost": set(),
        }
        for key in self.uploaded:
            if documents.result_key(key) in final and key in final:
                where["processed"].add(key)
            elif documents.failed_document_key(failed_prefix, key) in final:
                where["failed"].add(key)
            elif key in source:
                where["waiting"].add(key)
            else:
                where["lost"].add(key)
        return where

    def status_figures(self, result: RunResult) -> Any:
        """The run as `rekbatch status` reads it: its summary among the recent ones."""
        summaries = recent_summaries(
            Aws(self.aws.region),
            self.outputs[out.FINAL_BUCKET],
            self.outputs.get(out.RUNS_PREFIX, "runs/"),
            20,
        )
        (summary,) = [s for s in summaries if s.get("executionName") == result.name]
        return figures(summary, 4.0)

    def assert_ended_cleanly(self, result: RunResult) -> dict[str, set[str]]:
        """What every run owes, whatever its outcome: a summary `rekbatch status`
        reads, the model not left running (exclusive ownership), the mapping
        disabled, every image accounted for."""
        assert result.summary is not None, f"no run summary: {result.status} {result.cause}"
        assert self.status_figures(result).outcome == result.outcome
        assert self.model_status() not in ("RUNNING", "STARTING")
        assert self.mapping_state() == "Disabled"
        return self.assert_nothing_lost()

    def assert_nothing_lost(self) -> dict[str, set[str]]:
        """Every image is processed, failed with a document, or still waiting with a message."""
        where = self.account()
        assert not where["lost"], f"lost images: {sorted(where['lost'])}"
        waiting = len(where["waiting"])
        if waiting:
            messages = self.queue()["total"] + self.dlq()["total"]
            assert messages >= waiting, (
                f"{waiting} images wait in the source but only {messages} messages"
            )
        return where


def drop_s3_test_event(aws: LocalAws | LocalStackAws, outputs: dict[str, Any]) -> None:
    """S3 sends one s3:TestEvent when the notification is configured; the first
    run's peek deletes it (tests/workflow/test_test_event.py covers that on a
    fresh stack). The scenarios start from the state after that first run, so
    their backlog counts are the images they upload. (moto sends one test event,
    LocalStack one per queue configuration: every one is dropped.)"""
    sqs = aws.client("sqs")
    wait = 5  # long polling: the first receive returns as soon as one is there
    while messages := sqs.receive_message(
        QueueUrl=outputs[out.QUEUE_URL], MaxNumberOfMessages=10, WaitTimeSeconds=wait
    ).get("Messages"):
        for message in messages:
            assert "s3:TestEvent" in message["Body"], message["Body"]
            sqs.delete_message(
                QueueUrl=outputs[out.QUEUE_URL], ReceiptHandle=message["ReceiptHandle"]
            )
        wait = 0
    assert wait == 0, "S3 sent no s3:TestEvent"
    assert queue_depth(sqs, outputs[out.QUEUE_URL])["total"] == 0


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """moto, unless the test is marked ``@both_engines``."""
    return str(getattr(request, "param", MOTO))


@pytest.fixture
def engine_aws(engine: str, request: pytest.FixtureRequest) -> LocalAws | LocalStackAws:
    """The emptied local AWS of the engine, with the AWS_* variables pointing at it."""
    fixture = "aws" if engine == MOTO else "localstack"
    server: LocalAws | LocalStackAws = request.getfixturevalue(fixture)
    return server


def stack_name(aws: LocalAws | LocalStackAws) -> str:
    """ "dev" on moto (emptied between tests); fresh names on LocalStack (it is not)."""
    return f"dev-{aws.stack_suffix}" if isinstance(aws, LocalStackAws) else "dev"


@pytest.fixture
def pipeline(engine_aws: LocalAws | LocalStackAws) -> Iterator[Pipeline]:
    aws = engine_aws
    aws.model.configure(start_delay=1.0, stop_delay=0.3, tps_per_unit=50.0)
    aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
    stack = stack_name(aws)
    outputs = provision_stack(aws, project_version_arn=VERSION_ARN, stack=stack)
    drop_s3_test_event(aws, outputs)
    with lambda_service(aws, outputs):
        yield Pipeline(aws, outputs, stack=stack)
