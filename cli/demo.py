"""``rekbatch demo`` / ``make demo``: the whole pipeline on the local emulator.

One command from a fresh clone: start the local AWS (moto + the Custom Labels
model emulator), create what the stack creates, upload generated sample images
(or ``--images DIR``), run the real state machine, show progress, print what
it cost, and download the final bucket to a folder a person can open, with
the CLI's CSV + HTML report beside it. Waits are scaled down so it takes
about half a minute.

The terminal shows progress and the summary only. What the in-process Lambda
prints (powertools JSON logs, EMF metric lines: CloudWatch's share on AWS)
goes to ``<out>/logs/lambda.log``; moto's, the emulator's and every other
library's log records go to ``<out>/logs/emulator.log``.

``--timeout`` bounds the whole demo, the live view included: past it the
run is stopped, the model is stopped, the emulator is shut down and the demo
says what it was waiting for.

Exit status: 0 when every image ended as a result or a failure document and
the model was stopped; 1 when anything was lost, the model was left running,
or the workflow failed; ``EXIT_TIMED_OUT`` (as ``timeout(1)``) when
``--timeout`` ran out.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import mimetypes
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from infra import outputs as out
from infra.contract import DEFAULT_RUNS_PREFIX

from .operations import DEFAULT_RESULTS_PREFIX

MARKER = ".rekbatch-demo"  # marks a folder the demo may overwrite
DEMO_VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/demo-shapes/version/demo-shapes.v1/"
    "1700000000000"
)
# Emulator settings of the demo: a model that takes a few seconds to start and
# serves `tps_per_unit` images per second per inference unit.
DEMO_START_DELAY = 4.0
DEMO_STOP_DELAY = 1.0
DEMO_LATENCY = 0.05
# After the run the model is STOPPING for DEMO_STOP_DELAY: wait this long at most
# for STOPPED, so the summary shows the final state.
STOP_WAIT_SECONDS = 15.0
LOGS_DIR = "logs"
LAMBDA_LOG = "lambda.log"
EMULATOR_LOG = "emulator.log"
REPORT_DIR = "report"  # the CLI's report (report.html, results.csv, results.jsonl) under --out
DATASET_CACHE_DIR = "dataset"  # the local copy `rekbatch query` and the report read, under --out
DEMO_QUERY = "label-counts-per-day"  # the named query the demo ends with
FOLLOW_INTERVAL = 0.5  # seconds between polls of the live view (the run takes ~30 s)
NOTIFICATIONS_WAIT_SECONDS = 30.0  # S3 -> SQS, in-process: a few ms; this is a bound
EXIT_TIMED_OUT = 124  # as timeout(1)


class DemoTimeout(Exception):
    """The demo ran past ``--timeout``; the message says what it was doing."""


class Deadline:
    """The end of the demo's time (``--timeout`` from the start), on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def check(self, doing: str) -> None:
        """Raise :class:`DemoTimeout` naming what was being done once the time is up."""
        if time.monotonic() >= self.at:
            raise DemoTimeout(doing)


# The stack's labelThresholds and alertLabels in the demo. The model emulator is least
# sure of triangles (their fill of the bounding box varies most once drawn and scaled:
# 84-97 over the samples), so a triangle under 90 goes to labelsBelowThreshold, for
# review; an orange square at 95 or more raises an alert on the EventBridge bus.
DEMO_LABEL_THRESHOLDS: dict[str, float] = {
    f"{colour} triangle": 90.0
    for colour in ("white", "red", "green", "blue", "yellow", "orange", "purple", "cyan", "black")
}
DEMO_ALERT_LABELS: dict[str, float] = {"orange square": 95.0}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="rekbatch demo",
        description="Run the batch inference pipeline end to end on the local emulator.",
    )
    p.add_argument("--images", type=Path, help="upload the files of this folder instead of samples")
    p.add_argument("--count", type=int, default=24, help="generated sample images (default 24)")
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="download folder")
    p.add_argument(
        "--price-per-iu-hour",
        type=float,
        default=4.00,
        help="USD per inference-unit hour for the cost estimate (default 4.00)",
    )
    p.add_argument("--inference-units", type=int, default=1)
    p.add_argument("--tps-per-unit", type=float, default=5.0, help="emulated model throughput")
    p.add_argument(
        "--model-start-delay",
        type=float,
        default=DEMO_START_DELAY,
        help=f"seconds the emulated model takes to start (default {DEMO_START_DELAY:g})",
    )
    p.add_argument("--poll-interval", type=int, default=2, help="workflow poll interval, seconds")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="bound on the whole demo, in seconds: past it the run and the model are "
        "stopped and the demo exits 124 (default 300)",
    )
    p.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")
    args = p.parse_args(argv)
    if args.count < 1 or args.inference_units < 1 or args.poll_interval < 1:
        p.error("--count, --inference-units and --poll-interval must be >= 1")
    if args.timeout <= 0:
        p.error("--timeout must be > 0")
    if args.price_per_iu_hour < 0 or args.tps_per_unit <= 0 or args.model_start_delay < 0:
        p.error("--price-per-iu-hour and --model-start-delay must be >= 0, --tps-per-unit > 0")
    return args


@dataclass
class Report:
    uploaded: int
    processed: int
    failed: int
    left_in_source: int
    queued: int
    dlq: int
    model_status: str
    running_seconds: float
    unit_seconds: float
    cost: float
    execution_status: str
    outcome: str | None
    error: str | None
    report_html: Path | None = None
    label_counts: str | None = None  # the demo query's rows, rendered as a table
    test_events_dropped: int = 0  # s3:TestEvent messages the workflow's peek deleted
    # Run-end notifications received by the emulator's subscriber queue (printed as they came).
    notifications: list[Any] = field(default_factory=list)
    doctor_ok: bool = True  # `rekbatch doctor` found nothing failing before the run
    # Label alerts (event details) the function put on the bus, as a local rule delivered them.
    alerts: list[dict[str, Any]] = field(default_factory=list)
    # Result documents with labels under their threshold: the images to review.
    for_review: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.uploaded - self.processed - self.failed - self.left_in_source

    @property
    def model_left_running(self) -> bool:
        return self.model_status in ("RUNNING", "STARTING")

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and not self.model_left_running
            and self.execution_status == "SUCCEEDED"
            and self.left_in_source == 0
            and self.doctor_ok
        )


def _prepare_out(folder: Path) -> None:
    """Refuse to overwrite a folder the demo did not create."""
    if folder.exists():
        if not (folder / MARKER).exists() and any(folder.iterdir()):
            raise SystemExit(f"{folder} exists and is not a demo output folder; choose --out")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("written by `rekbatch demo`; safe to delete\n")


def _upload(s3: Any, bucket: str, files: list[tuple[Path, str]], deadline: Deadline) -> None:
    for path, key in files:
        deadline.check("uploading the images")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})


def _download(s3: Any, bucket: str, folder: Path, deadline: Deadline) -> int:
    from cli.operations import object_keys

    count = 0
    for key in object_keys(s3, bucket):
        deadline.check("downloading the final bucket")
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
        count += 1
    return count


def _wait_for_messages(
    aws: Any, outputs: dict[str, Any], expected: int, deadline: Deadline
) -> None:
    from cli.operations import queue_depth

    give_up = time.monotonic() + min(NOTIFICATIONS_WAIT_SECONDS, deadline.left())
    while queue_depth(aws.client("sqs"), outputs[out.QUEUE_URL])["total"] < expected:
        if time.monotonic() > give_up:
            deadline.check("waiting for the S3 notifications to reach the queue")
            raise SystemExit("the S3 notifications did not reach the queue")
        time.sleep(0.1)


@contextlib.contextmanager
def lambda_output_to(path: Path) -> Iterator[None]:
    """Send what the in-process Lambda writes to ``path`` instead of the terminal.

    In Lambda the handler's stdout is CloudWatch Logs; here it would interleave
    with the progress view. Two writers: the powertools logger, whose handler
    holds the stream it found at import time (re-pointed with ``setStream``),
    and the EMF metrics provider, which ``print``s to the current
    ``sys.stdout`` (redirected for the duration). The demo's console keeps the
    real stdout it was created with.
    """
    from runtime.handler import logger as handler_logger

    stream_handler = handler_logger.registered_handler
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8", buffering=1) as sink:
        previous = None
        if isinstance(stream_handler, logging.StreamHandler):
            previous = stream_handler.stream
            stream_handler.setStream(sink)
        try:
            with contextlib.redirect_stdout(sink):
                yield
        finally:
            if previous is not None and isinstance(stream_handler, logging.StreamHandler):
                stream_handler.setStream(previous)


@contextlib.contextmanager
def library_logs_to(path: Path) -> Iterator[None]:
    """Send log records of moto, botocore, werkzeug and the emulator to ``path``.

    Without a handler on the root logger, Python prints WARNING and above to
    stderr (moto's Step Functions interpreter logs an ERROR
    ``Exception=NoSuchJsonPathError`` for every ``IsPresent`` check of an absent
    path, which the definition's cleanup checks do on purpose). Stray writes to
    stderr (thread tracebacks) go to the same file; the demo's own errors are
    raised after this context has ended, so they still reach the terminal.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with path.open("a", encoding="utf-8", buffering=1) as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
        try:
            with contextlib.redirect_stderr(sink):
                yield
        finally:
            root.removeHandler(handler)


def wait_until_stopped(read_status: Any, timeout: float, interval: float = 0.2) -> str:
    """The model status once it is no longer STOPPING (or after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    status = read_status()
    while status == "STOPPING" and time.monotonic() < deadline:
        time.sleep(interval)
        status = read_status()
    return status


class _S3Clients:
    """What ``cli.report.write_report`` uses of ``cli.aws.Aws``: an S3 client
    (here the emulator's, so the report is written while the emulator runs)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3


def run_demo(args: argparse.Namespace, console: Console, deadline: Deadline) -> Report:
    from cli import samples
    from emulator.server import LocalAws

    work = Path(tempfile.mkdtemp(prefix="rekbatch-demo-"))
    try:
        if args.images:
            files = samples.files_in(args.images)
            if not files:
                raise SystemExit(f"no files in {args.images}")
        else:
            files = [(s.path, s.key) for s in samples.generate(work / "samples", args.count)]
        _prepare_out(args.out)
        logs = args.out / LOGS_DIR
        console.print(
            f"starting the local emulator; {len(files)} files to process (logs in {logs}/)",
            highlight=False,
            soft_wrap=True,
        )
        deadline.check("starting the local emulator")
        with library_logs_to(logs / EMULATOR_LOG), LocalAws() as aws:
            outputs = _provision(aws, args)
            result, doctor_ok = _run(aws, outputs, args, console, files, deadline)
            # The run ends with the stop requested: show the state the model settles in.
            final_status = wait_until_stopped(
                lambda: _model_status(aws, outputs), min(STOP_WAIT_SECONDS, deadline.left())
            )
            report = _report(aws, outputs, len(files), result, args.price_per_iu_hour, final_status)
            report.notifications = _notifications(aws, outputs)
            report.doctor_ok = doctor_ok
            report.alerts = _alerts(aws, outputs)
            report.for_review = _for_review(aws, outputs)
            downloaded = _download(aws.client("s3"), outputs[out.FINAL_BUCKET], args.out, deadline)
            cache = args.out / DATASET_CACHE_DIR
            report.report_html = _write_report(aws, outputs, args.out / REPORT_DIR, cache)
            report.label_counts = _label_counts(outputs, cache)
        console.print(
            f"downloaded {downloaded} objects of the final bucket to {args.out}/",
            highlight=False,
            soft_wrap=True,
        )
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _provision(aws: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The emulated model and the stack, with the demo's scaled-down waits."""
    from emulator.workflow import provision_stack

    aws.model.configure(
        start_delay=args.model_start_delay,
        stop_delay=DEMO_STOP_DELAY,
        tps_per_unit=args.tps_per_unit,
        latency=DEMO_LATENCY,
    )
    version_arn = aws.model.create(DEMO_VERSION_ARN, "TRAINING_COMPLETED")
    return provision_stack(
        aws,
        project_version_arn=version_arn,
        min_inference_units=args.inference_units,
        poll_interval_seconds=args.poll_interval,
        model_poll_seconds=1,
        model_start_timeout_seconds=120,
        max_run_seconds=int(args.timeout),
        model_check_seconds=3,
        disable_grace_seconds=2,
        retry_interval_seconds=1,
        label_thresholds=DEMO_LABEL_THRESHOLDS,
        alert_labels=DEMO_ALERT_LABELS,
    )


def _run(
    aws: Any,
    outputs: dict[str, Any],
    args: argparse.Namespace,
    console: Console,
    files: list[tuple[Path, str]],
    deadline: Deadline,
) -> tuple[Any, bool]:
    """Check the stack, upload, start a run and show it live until it ends; returns
    its RunResult and whether ``rekbatch doctor`` passed.

    Past the deadline the run is stopped and so is the model (a stopped execution
    runs no cleanup of its own), then :class:`DemoTimeout` is raised.
    """
    from cli.aws import Aws
    from cli.follow import Follower
    from cli.operations import finish_run, start_run
    from cli.stack import Stack
    from cli.ui import Ui
    from emulator.workflow import lambda_service

    with lambda_output_to(args.out / LOGS_DIR / LAMBDA_LOG), lambda_service(aws, outputs):
        # What a user runs after `pulumi up`: prove the stack before its first run.
        deadline.check("provisioning the stack")
        doctor_ok = _doctor(aws, outputs, console, plain=args.plain)
        _upload(aws.client("s3"), outputs[out.SOURCE_BUCKET], files, deadline)
        _wait_for_messages(aws, outputs, len(files), deadline)
        sfn = aws.client("stepfunctions")
        execution_arn = start_run(sfn, outputs[out.STATE_MACHINE_ARN])
        # The same live view as `rekbatch run --follow`, through the CLI's own
        # clients (the endpoint comes from the AWS_* variables set here).
        stack = Stack({**outputs, out.PRICE_PER_INFERENCE_UNIT_HOUR: args.price_per_iu_hour})
        follower = Follower(
            Aws(aws.region),
            stack,
            Ui(console.file, interactive=console.is_terminal and not args.plain),
            execution_arn,
            interval=FOLLOW_INTERVAL,
            deadline=deadline.at,
        )
        try:
            follower.follow()
            result = finish_run(
                sfn, aws.client("s3"), outputs, execution_arn, timeout=deadline.left()
            )
        except TimeoutError:
            _stop_run_and_model(aws, outputs, execution_arn)
            raise DemoTimeout("the run was still going (it and the model were stopped)") from None
    return result, doctor_ok


def _doctor(aws: Any, outputs: dict[str, Any], console: Console, *, plain: bool) -> bool:
    """``rekbatch doctor`` on the demo's stack (its table, through the CLI's clients)."""
    from cli.aws import Aws
    from cli.doctor import print_report, run_doctor
    from cli.stack import Stack
    from cli.ui import Ui

    console.print("rekbatch doctor: checking the stack before its first run", highlight=False)
    report = run_doctor(Aws(aws.region), Stack(dict(outputs)))
    print_report(Ui(console.file, interactive=console.is_terminal and not plain), report)
    return report.ok


def _stop_run_and_model(aws: Any, outputs: dict[str, Any], execution_arn: str) -> None:
    """Stop the execution, then the model if it is up (best effort: the emulator goes next)."""
    from botocore.exceptions import ClientError

    try:
        aws.client("stepfunctions").stop_execution(
            executionArn=execution_arn, error="rekbatch.DemoTimeout", cause="--timeout ran out"
        )
    except ClientError:
        logging.getLogger(__name__).warning("could not stop %s", execution_arn, exc_info=True)
    if _model_status(aws, outputs) in ("RUNNING", "STARTING"):
        try:
            aws.client("rekognition").stop_project_version(
                ProjectVersionArn=outputs[out.PROJECT_VERSION_ARN]
            )
        except ClientError:
            logging.getLogger(__name__).warning("could not stop the model", exc_info=True)


def _model_status(aws: Any, outputs: dict[str, Any]) -> str:
    from cli.operations import model_status

    return model_status(aws.client("rekognition"), outputs)


def _write_report(aws: Any, outputs: dict[str, Any], folder: Path, cache: Path) -> Path:
    """The CLI's ``rekbatch report`` output (results.csv, report.html) for the whole
    dataset, written by the CLI's own code; returns the HTML path."""
    from cli.report import Selection, write_report
    from cli.ui import Ui

    write_report(
        _S3Clients(aws.client("s3")),  # type: ignore[arg-type]  # duck-typed: only .s3 is used
        Ui(out=io.StringIO(), err=io.StringIO(), interactive=False),  # quiet: no image meter
        final_bucket=outputs[out.FINAL_BUCKET],
        selection=Selection(),
        out_dir=folder,
        runs_prefix=outputs.get(out.RUNS_PREFIX, DEFAULT_RUNS_PREFIX),
        results_prefix=outputs.get(out.RESULTS_PREFIX, DEFAULT_RESULTS_PREFIX),
        cache_dir=cache,
    )
    return folder / "report.html"


def _label_counts(outputs: dict[str, Any], cache: Path) -> str:
    """The demo's closing query, as `rekbatch query --named label-counts-per-day` runs it
    on the local copy the report just brought up to date."""
    from cli.query import named_sql, render, run_local

    return render(run_local(cache, named_sql(DEMO_QUERY, [])), "table")


def _notifications(aws: Any, outputs: dict[str, Any]) -> list[Any]:
    """What the run's final phase published to the stack's topic (it is delivered
    before the execution ends; a short wait covers the subscriber's queue)."""
    from cli.notifications import receive

    queue_url = outputs.get(out.NOTIFICATION_QUEUE_URL)
    return receive(aws.client("sqs"), queue_url, wait_seconds=1) if queue_url else []


def _alerts(aws: Any, outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The label alerts the function put on the default bus, as the emulator's rule
    (the alertEmail rule's pattern) delivered them to its queue; oldest first."""
    import json

    queue_url = outputs.get(out.ALERT_QUEUE_URL)
    if not queue_url:
        return []
    sqs = aws.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            event = json.loads(message["Body"])
            if isinstance(event, dict) and isinstance(event.get("detail"), dict):
                found.append(event["detail"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(found, key=lambda detail: str(detail.get("imageKey")))


def _for_review(aws: Any, outputs: dict[str, Any]) -> list[str]:
    """Source keys whose result keeps labels under their threshold."""
    from cli.operations import document_keys
    from runtime import documents

    s3, bucket = aws.client("s3"), outputs[out.FINAL_BUCKET]
    keys = []
    for key in document_keys(s3, outputs).results:
        document = documents.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        if document.get("labelsBelowThreshold"):
            keys.append(document["source"]["key"])
    return sorted(keys)


def _report(
    aws: Any,
    outputs: dict[str, Any],
    uploaded: int,
    result: Any,
    price: float,
    final_model_status: str,
) -> Report:
    from cli.operations import count_objects, document_keys, queue_depth

    s3 = aws.client("s3")
    keys = document_keys(s3, outputs)
    source = count_objects(s3, outputs[out.SOURCE_BUCKET])
    sqs = aws.client("sqs")
    meter = aws.model.meter()
    return Report(
        uploaded=uploaded,
        processed=len(keys.results),
        failed=len(keys.errors),
        left_in_source=source,
        queued=queue_depth(sqs, outputs[out.QUEUE_URL])["total"],
        dlq=queue_depth(sqs, outputs[out.DLQ_URL])["total"],
        model_status=final_model_status,
        running_seconds=meter["running_seconds"],
        unit_seconds=meter["inference_unit_seconds"],
        cost=meter["inference_unit_seconds"] / 3600 * price,
        execution_status=result.status,
        outcome=result.outcome,
        error=None if result.succeeded else f"{result.error}: {result.cause}",
        test_events_dropped=int((result.summary or {}).get("testEventsDropped") or 0),
    )


def print_report(console: Console, report: Report, args: argparse.Namespace) -> None:
    table = Table(title="rekbatch demo: summary", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    workflow = f"{report.execution_status} ({report.outcome})"
    if report.test_events_dropped:
        workflow += f"; {report.test_events_dropped} s3:TestEvent dropped"
    table.add_row("workflow", workflow)
    table.add_row("images uploaded", str(report.uploaded))
    table.add_row("processed", str(report.processed))
    table.add_row("failed (see failed/)", str(report.failed))
    table.add_row("still queued", f"{report.left_in_source} in source, DLQ {report.dlq}")
    table.add_row("lost", str(report.lost))
    table.add_row("model", f"{report.model_status}; running {report.running_seconds:.1f} s")
    table.add_row(
        "estimated cost",
        f"${report.cost:.4f} ({report.unit_seconds:.1f} IU-seconds at "
        f"${args.price_per_iu_hour:.2f}/IU-hour)",
    )
    table.add_row(
        "output", f"{args.out}/ (images, *.json results, failed/, runs/, the results/ dataset)"
    )
    table.add_row("logs", f"{args.out / LOGS_DIR}/ ({LAMBDA_LOG}, {EMULATOR_LOG})")
    console.print(table)
    if report.label_counts is not None:
        console.print(
            f"label counts from the results dataset (`rekbatch query --named {DEMO_QUERY}`):",
            highlight=False,
        )
        console.print(report.label_counts.rstrip("\n"), highlight=False, markup=False)
    if report.report_html is not None:
        # On its own line, never wrapped: a path to paste into a browser.
        console.print(
            f"report: {report.report_html} (and results.csv beside it)",
            soft_wrap=True,
            highlight=False,
        )
    from cli.notifications import format_notification

    for notification in report.notifications:
        console.print("run notification (SNS):", highlight=False)
        for line in format_notification(notification):
            console.print(line, highlight=False, soft_wrap=True, markup=False)
    if not report.notifications:
        console.print("run notification: none received", highlight=False)
    console.print(
        f"label alerts raised (EventBridge, {', '.join(DEMO_ALERT_LABELS)}): {len(report.alerts)}",
        highlight=False,
        soft_wrap=True,
    )
    for detail in report.alerts:
        labels = ", ".join(
            f"{label.get('name')} {float(label.get('confidence') or 0):.1f}"
            for label in detail.get("labels") or []
        )
        console.print(f"  {detail.get('imageKey')}: {labels}", highlight=False, markup=False)
    console.print(
        f"images for review (labels under their threshold): {len(report.for_review)}"
        + (f" ({', '.join(report.for_review)})" if report.for_review else ""),
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    if report.for_review:
        console.print(
            "  review them in Label Studio: rekbatch export --format labelstudio --below-threshold "
            "--out review.json",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if report.error:
        console.print(f"[red]workflow error[/red] {report.error}")
    if report.lost:
        console.print(f"[red]{report.lost} image(s) unaccounted for[/red]")
    if report.model_left_running:
        console.print("[red]the model was left running[/red]")
    if not report.doctor_ok:
        console.print("[red]rekbatch doctor found FAIL rows before the run[/red]")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # The console keeps the real stdout: while the demo runs, sys.stdout (where
    # the handler's logs and EMF metric lines go, as in Lambda) is a log file.
    console = Console(file=sys.stdout)
    started = time.monotonic()
    try:
        report = run_demo(args, console, Deadline(args.timeout))
    except DemoTimeout as exc:
        console.print(
            f"[red]demo timed out[/red] after {args.timeout:g} s (--timeout) while {exc}; "
            "the local emulator was shut down",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_TIMED_OUT
    print_report(console, report, args)
    console.print(f"demo finished in {time.monotonic() - started:.0f} s")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
