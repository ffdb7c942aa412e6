"""``rekbatch run [--follow]``: start the workflow and watch it.

The live view polls what a person would check in four consoles: the
execution's status, the model's state, the queue and DLQ depths, and how
many result/failure documents appeared since the run began. Counting
documents lists the final bucket, which grows; the listing is repeated at
most every 5x its own duration so a large bucket slows the counter, not the
view. Model minutes are observed while following (RUNNING time) and replaced
by the run summary's authoritative figures when the run ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from infra import outputs as out
from runtime import documents

from .aws import Aws, queue_depths
from .errors import EXIT_FAILED, EXIT_OK, UserError, reading
from .operations import read_summary
from .runs import (
    describe_model,
    describe_plan,
    execution_arn,
    figures,
    parse_time,
    run_plan,
)
from .stack import Stack
from .ui import Ui

FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
HEARTBEAT_SECONDS = 30.0
CLOCK_SLACK = timedelta(seconds=2)


@dataclass
class Snapshot:
    """One poll of everything the live view shows."""

    execution: str
    status: str
    model: str
    visible: int
    in_flight: int
    delayed: int
    dlq: int
    done: int | None
    failed: int | None
    elapsed_s: float
    model_minutes: float
    cost: float
    error: str | None = None
    plan: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        """What makes a snapshot worth a new line in plain output."""
        return (
            self.status,
            self.model,
            self.visible,
            self.in_flight,
            self.delayed,
            self.dlq,
            self.done,
            self.failed,
            self.plan,
        )

    def line(self) -> str:
        mins, secs = divmod(int(self.elapsed_s), 60)
        done = "?" if self.done is None else self.done
        failed = "?" if self.failed is None else self.failed
        plan = f"plan {self.plan} · " if self.plan else ""
        return (
            f"[{mins:02d}:{secs:02d}] run {self.status} · {plan}model {self.model} · "
            f"queue {self.visible} visible / {self.in_flight} in flight / {self.delayed} delayed · "
            f"DLQ {self.dlq} · done {done} · failed {failed} · "
            f"model {self.model_minutes:.1f} min ≈ {self.cost:.2f} USD"
        )

    def table(self, name: str) -> Table:
        table = Table(title=f"run {name}", show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        colour = {"RUNNING": "cyan", "SUCCEEDED": "green"}.get(self.status, "red")
        table.add_row("run", Text(self.status, style=colour))
        table.add_row(
            "model", Text(self.model, style="green" if self.model == "RUNNING" else "yellow")
        )
        table.add_row("plan", self.plan or "not yet")
        table.add_row(
            "backlog",
            f"{self.visible} visible · {self.in_flight} in flight · {self.delayed} delayed",
        )
        table.add_row("DLQ", Text(str(self.dlq), style="red" if self.dlq else ""))
        table.add_row(
            "images",
            f"{'?' if self.done is None else self.done} done · "
            f"{'?' if self.failed is None else self.failed} failed",
        )
        mins, secs = divmod(int(self.elapsed_s), 60)
        table.add_row("elapsed", f"{mins}m{secs:02d}s")
        table.add_row(
            "model time", f"{self.model_minutes:.1f} min ≈ {self.cost:.2f} USD (estimate)"
        )
        return table


class Follower:
    """Polls one execution until it ends; renders live or as plain lines."""

    def __init__(
        self,
        aws: Aws,
        stack: Stack,
        ui: Ui,
        execution_arn_: str,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        count_results: bool = True,
        deadline: float | None = None,
    ) -> None:
        self.aws = aws
        self.stack = stack
        self.ui = ui
        self.arn = execution_arn_
        self.name = execution_arn_.rsplit(":", 1)[-1]
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.count_results = count_results
        (
            self.queue_url,
            self.dlq_url,
            self.project_arn,
            self.version_name,
            self.final_bucket,
        ) = stack.require(
            out.QUEUE_URL, out.DLQ_URL, out.PROJECT_ARN, out.VERSION_NAME, out.FINAL_BUCKET
        )
        self.began = clock()
        self.started_at: datetime | None = None
        self.running_s = 0.0
        self.last_poll: float | None = None
        self.units = stack.min_inference_units
        self.dlq_at_start: int | None = None
        self._counts: tuple[int, int] | None = None
        self._next_count = 0.0
        self.plan: str | None = None
        self.deadline = deadline

    def _count(self) -> tuple[int, int] | None:
        """(results, failures) written since the execution started; refreshed adaptively."""
        if not self.count_results or self.started_at is None:
            return self._counts
        now = self.clock()
        if self._counts is not None and now < self._next_count:
            return self._counts
        t0 = self.clock()
        done = failed = 0
        failed_prefix = self.stack.failed_prefix
        runs_prefix = self.stack.runs_prefix
        since = self.started_at - CLOCK_SLACK  # S3 times can be truncated to the second
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(Bucket=self.final_bucket):
            for obj in page.get("Contents", []):
                key, modified = obj.get("Key", ""), obj.get("LastModified")
                # An object without a time is counted: the bucket said it is there.
                if not documents.is_document_key(key) or (
                    modified is not None and modified < since
                ):
                    continue
                if key.startswith(failed_prefix):
                    failed += 1
                elif not key.startswith(runs_prefix):
                    done += 1
        took = self.clock() - t0
        self._next_count = self.clock() + max(self.interval, 5 * took)
        self._counts = (done, failed)
        return self._counts

    def poll(self) -> Snapshot:
        sfn = self.aws.client("stepfunctions")
        execution = sfn.describe_execution(executionArn=self.arn)
        if self.started_at is None:
            self.started_at = parse_time(execution.get("startDate"))
        model = describe_model(self.aws, self.project_arn, self.version_name)
        status = str(model.get("Status", "?"))
        if model.get("MinInferenceUnits"):
            with reading("DescribeProjectVersions"):
                self.units = int(model["MinInferenceUnits"])
        now = self.clock()
        if self.last_poll is not None and status == "RUNNING":
            self.running_s += now - self.last_poll
        self.last_poll = now
        depths = queue_depths(self.aws, self.queue_url)
        dlq = queue_depths(self.aws, self.dlq_url, "DLQ")["total"]
        if self.dlq_at_start is None:
            self.dlq_at_start = dlq
        if execution.get("status") != "RUNNING":
            self._next_count = 0.0  # the closing line counts afresh, however slow the listing
        counts = self._count()
        if self.plan is None:
            plan = run_plan(sfn, self.arn)
            if plan is not None:  # (the model's own MinInferenceUnits set self.units)
                self.plan = describe_plan(plan)
        minutes = self.running_s / 60
        error = None
        if execution.get("status") in FAILED_STATUSES:
            error = f"{execution.get('error') or execution['status']}: {execution.get('cause') or ''}".strip(
                ": "
            )
        return Snapshot(
            execution=self.name,
            status=str(execution.get("status")),
            model=status,
            visible=depths["visible"],
            in_flight=depths["inFlight"],
            delayed=depths["delayed"],
            dlq=dlq,
            done=counts[0] if counts else None,
            failed=counts[1] if counts else None,
            elapsed_s=now - self.began,
            model_minutes=minutes,
            cost=minutes / 60 * self.units * self.stack.price_per_iu_hour,
            error=error,
            plan=self.plan,
        )

    def _wait(self) -> None:
        """Sleep one interval, or up to the deadline (``clock`` time); raise TimeoutError
        once it has passed."""
        if self.deadline is None:
            self.sleep(self.interval)
            return
        left = self.deadline - self.clock()
        if left <= 0:
            raise TimeoutError(f"run {self.name} still RUNNING at the deadline")
        self.sleep(min(self.interval, left))

    def follow(self) -> Snapshot:
        """Poll until the execution is no longer RUNNING; returns the last snapshot.

        With a ``deadline``, a run still RUNNING then raises TimeoutError (the live
        view is closed first, the run goes on)."""
        if self.ui.interactive:
            snap = self.poll()
            # Other writers to stdout/stderr (the demo's in-process Lambda) keep their
            # own streams: the live view writes to its console only.
            with Live(
                snap.table(self.name),
                console=self.ui.console,
                refresh_per_second=4,
                redirect_stdout=False,
                redirect_stderr=False,
            ) as live:
                while snap.status == "RUNNING":
                    self._wait()
                    snap = self.poll()
                    live.update(Group(snap.table(self.name)))
            return snap
        snap = self.poll()
        self.ui.line(snap.line())
        last_key, last_print = snap.key(), self.clock()
        while snap.status == "RUNNING":
            self._wait()
            snap = self.poll()
            if (
                snap.key() != last_key
                or self.clock() - last_print >= HEARTBEAT_SECONDS
                or snap.status != "RUNNING"
            ):
                self.ui.line(snap.line())
                last_key, last_print = snap.key(), self.clock()
        return snap


def finish(ui: Ui, stack: Stack, aws: Aws, snap: Snapshot, dlq_at_start: int | None) -> int:
    """The closing lines of ``run --follow`` and its exit code."""
    summary = read_summary(
        aws.s3, stack.require(out.FINAL_BUCKET)[0], stack.runs_prefix, snap.execution
    )
    if summary is not None:
        fig = figures(summary, stack.price_per_iu_hour, stack.min_inference_units)
        ui.line(
            f"run {fig.name}: {fig.outcome} · backlog at start {fig.backlog if fig.backlog is not None else '?'}"
            f" · left in queue {fig.left if fig.left is not None else '?'}"
            f" · model {fig.model_minutes:.1f} min × {fig.inference_units} IU ≈ {fig.cost:.2f} USD"
            + (" (this run started the model)" if fig.started_model else "")
        )
        if fig.outcome == "max-run-reached":
            ui.warn("the run hit its maximum duration; the rest stays queued for the next run")
        if fig.outcome == "nothing-to-do":
            ui.line("nothing to do: the queue was empty, the model was not started")
        if fig.outcome == "skipped":
            ui.line("skipped: another run was already in progress")
    if dlq_at_start is not None and snap.dlq > dlq_at_start:
        ui.warn(
            f"the DLQ grew from {dlq_at_start} to {snap.dlq} message(s): see `Troubleshooting: DLQ "
            "has messages` in docs/cli.md"
        )
    if snap.status in FAILED_STATUSES:
        ui.error(f"run {snap.execution} {snap.status}: {snap.error or 'no cause recorded'}")
        return EXIT_FAILED
    return EXIT_OK


def ensure_state_machine(stack: Stack) -> str:
    (arn,) = stack.require(out.STATE_MACHINE_ARN)
    if ":stateMachine:" not in arn:
        raise UserError(f"{arn!r} is not a Step Functions state machine ARN")
    return arn


__all__ = [
    "Follower",
    "Snapshot",
    "asdict",
    "ensure_state_machine",
    "execution_arn",
    "finish",
]
