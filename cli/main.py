"""``rekbatch``: the command line of the batch inference pipeline.

One entry point, the same code path against AWS and the local emulator (the
endpoint comes from AWS_ENDPOINT_URL, read by botocore). ``main`` turns
every failure into one line and an exit code: the ``EXIT_*`` constants of
cli/errors.py, which says which failure gets which (docs/cli.md lists them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra import outputs as out
from runtime.settings import DEFAULTS, IMAGE_SUFFIXES

from .errors import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USER,
    UnexpectedResponse,
    UserError,
    explain,
    write_traceback,
)
from .stack import SETTABLE, Stack, discover, env_var, flag, snake
from .ui import Ui

DEFAULT_SUFFIXES = DEFAULTS[IMAGE_SUFFIXES]
DEBUG_VARIABLE = "REKBATCH_DEBUG"  # set: failures other than the user's raise, traceback and all


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number 0-100, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {value:g}")
    return value


def _expires(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be 1-604800 s (SigV4: 7 days), got {value}")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day like 2026-12-01, got {text!r}") from None


def _suffixes(text: str) -> tuple[str, ...]:
    found = tuple(s.strip().lower() for s in text.split(",") if s.strip())
    if not found or any(not s.startswith(".") for s in found):
        raise argparse.ArgumentTypeError("expected a comma list like .jpg,.jpeg,.png")
    return found


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group(
        "stack discovery",
        "flags > REKBATCH_* environment variables > --outputs file > `pulumi stack output`",
    )
    where.add_argument("--stack", help="Pulumi stack to read outputs from (env REKBATCH_STACK)")
    where.add_argument(
        "--outputs",
        metavar="FILE",
        help="saved `pulumi stack output --json` (env REKBATCH_OUTPUTS)",
    )
    where.add_argument("--pulumi-dir", metavar="DIR", help="directory of the Pulumi project")
    for name in SETTABLE:
        where.add_argument(
            flag(name),
            dest=f"out_{snake(name)}",
            metavar="VALUE",
            help=f"stack output {name} (env {env_var(name)})",
        )
    common.add_argument(
        "--plain",
        action="store_true",
        help="plain line output even on a terminal (automatic when stdout is not a terminal)",
    )

    parser = argparse.ArgumentParser(
        prog="rekbatch",
        description="Upload images, run and follow the batch inference workflow, and report results.",
        epilog="Every stack output can also be given as a flag, e.g. --source-bucket, "
        "--final-bucket, --queue-url, --dlq-url, --state-machine-arn, --project-arn, "
        "--project-version-arn, --version-name, --region. See docs/cli.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "upload", parents=[common], help="upload PNG/JPEG images to the source bucket"
    )
    p.add_argument("paths", nargs="+", metavar="DIR|FILE")
    p.add_argument("--prefix", default="", help="key prefix in the source bucket")
    p.add_argument("--concurrency", type=_positive, default=16)
    p.add_argument(
        "--force", action="store_true", help="upload even if already uploaded or processed"
    )
    p.add_argument(
        "--suffixes",
        type=_suffixes,
        default=_suffixes(DEFAULT_SUFFIXES),
        help=f"names the pipeline picks up (default {DEFAULT_SUFFIXES})",
    )

    p = sub.add_parser("run", parents=[common], help="start the workflow now")
    p.add_argument("--follow", "-f", action="store_true", help="live view until the run ends")
    p.add_argument(
        "--interval", type=_seconds, default=5.0, help="seconds between polls (default 5)"
    )
    p.add_argument("--name", help="execution name (default rekbatch-<UTC time>-<random>)")
    p.add_argument(
        "--no-count", action="store_true", help="do not count result documents while following"
    )

    p = sub.add_parser("status", parents=[common], help="model state, queue depths, last runs")
    p.add_argument("--runs", type=_positive, default=5, help="how many recent runs (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "report", parents=[common], help="the results dataset as CSV and an HTML gallery"
    )
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--all", action="store_true", help="every result (the default)")
    sel.add_argument("--prefix", default="", help="only source keys under this prefix")
    sel.add_argument(
        "--run", metavar="NAME", help="one run's results (execution name, or 'latest')"
    )
    p.add_argument(
        "--out", type=Path, default=Path("report"), help="output directory (default ./report)"
    )
    p.add_argument(
        "--max-images", type=int, default=500, help="images in the HTML (0 = all; default 500)"
    )
    p.add_argument(
        "--thumb-size",
        type=int,
        default=800,
        help="longest side of inlined images in pixels (0 = originals; default 800)",
    )
    p.add_argument("--no-html", action="store_true", help="CSV and JSON Lines only")
    p.add_argument(
        "--full-listing",
        action="store_true",
        help="list every object of the dataset (else the last hours', after a daily full listing)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        help="local copy of the dataset (default $XDG_CACHE_HOME/rekbatch/<final bucket>)",
    )
    p.add_argument("--concurrency", type=_positive, default=16)

    p = sub.add_parser(
        "query",
        parents=[common],
        help="SQL over the results dataset (DuckDB locally, --athena on AWS)",
        description="Tables: results (one line per image handled; dedupe on source_key, "
        "source_etag) and runs (the run summaries). The named queries run unchanged "
        "on DuckDB and Athena.",
    )
    p.add_argument("sql", nargs="?", help="the SQL (tables results and runs)")
    p.add_argument("--named", metavar="NAME", help="a named query instead (see --list)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="VALUE",
        help="a value for the query's next '?' (repeat; numbers are numbers)",
    )
    p.add_argument("--list", action="store_true", help="list the named queries")
    p.add_argument(
        "--athena",
        action="store_true",
        help="run on Athena in the stack's workgroup instead of DuckDB on a local copy",
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument(
        "--cache",
        type=Path,
        help="local copy of the dataset (default $XDG_CACHE_HOME/rekbatch/<final bucket>)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="query the local copy as it is, without asking S3 for new objects",
    )
    p.add_argument(
        "--full-listing",
        action="store_true",
        help="list every object of the dataset (else the last hours', after a daily full listing)",
    )
    p.add_argument("--concurrency", type=_positive, default=16)

    p = sub.add_parser(
        "export",
        parents=[common],
        help="results as Label Studio tasks, COCO or CSV (review, retraining)",
    )
    p.add_argument("--format", required=True, choices=("labelstudio", "coco", "csv"))
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--prefix", default="", help="only source keys under this prefix")
    sel.add_argument(
        "--run", metavar="NAME", help="one run's results (execution name, or 'latest')"
    )
    p.add_argument(
        "--below",
        type=_confidence,
        metavar="C",
        help="only images whose best confidence is under C (0-100), least confident first",
    )
    p.add_argument(
        "--below-threshold",
        action="store_true",
        help="only images with labels under their labelThresholds entry, least confident first",
    )
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="L",
        help="only images with label L, and only that label (repeatable)",
    )
    p.add_argument("--out", type=Path, help="output file (default: standard output)")
    p.add_argument(
        "--cache",
        type=Path,
        help="local copy of the dataset (default $XDG_CACHE_HOME/rekbatch/<final bucket>)",
    )
    p.add_argument(
        "--s3-uri",
        action="store_true",
        help="labelstudio: s3:// image URIs (a Label Studio S3 storage) instead of presigned URLs",
    )
    p.add_argument(
        "--expires",
        type=_expires,
        default=7 * 24 * 3600,
        metavar="SECONDS",
        help="labelstudio: lifetime of the presigned image URLs (default and maximum 7 days)",
    )
    p.add_argument("--concurrency", type=_positive, default=16)

    p = sub.add_parser(
        "compact",
        parents=[common],
        help="merge each closed day's small dataset objects into a few large ones",
    )
    p.add_argument(
        "--day",
        action="append",
        default=[],
        type=_day,
        metavar="YYYY-MM-DD",
        help="only this day (repeat); default every day before --before",
    )
    p.add_argument(
        "--before",
        type=_day,
        metavar="YYYY-MM-DD",
        help="compact the days before this one (default today, UTC)",
    )
    p.add_argument("--max-mb", type=_positive, default=128, help="largest object (default 128)")
    p.add_argument("--dry-run", action="store_true", help="say what would be merged")
    p.add_argument("--concurrency", type=_positive, default=16)

    p = sub.add_parser(
        "backfill", parents=[common], help="queue images already in the source bucket"
    )
    p.add_argument("--prefix", default="", help="only keys under this prefix")
    p.add_argument(
        "--batch-size", type=int, default=10, help="messages per SendMessageBatch (1-10)"
    )
    p.add_argument("--concurrency", type=_positive, default=8)
    p.add_argument(
        "--allow-queued", action="store_true", help="enqueue even if the queue is not empty"
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be enqueued")
    p.add_argument("--suffixes", type=_suffixes, default=_suffixes(DEFAULT_SUFFIXES))

    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="check a deployed stack on its account before its first run",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser(
        "demo",
        help="run the whole pipeline on the local emulator (see `rekbatch demo --help`)",
        add_help=False,
        prefix_chars="\0",  # pass every argument through to the demo
    ).add_argument("demo_args", nargs=argparse.REMAINDER)
    return parser


def stack_from(args: argparse.Namespace, needed: Sequence[str]) -> Stack:
    flags = {name: getattr(args, f"out_{snake(name)}") for name in SETTABLE}
    return discover(
        flags,
        outputs_file=args.outputs,
        stack_name=args.stack,
        pulumi_cwd=args.pulumi_dir,
        needed=needed,
    )


def cmd_upload(args: argparse.Namespace, ui: Ui) -> int:
    from .aws import Aws, check_bucket
    from .upload import report_outcome, scan, upload

    stack = stack_from(args, [out.SOURCE_BUCKET, out.FINAL_BUCKET])
    (source,) = stack.require(out.SOURCE_BUCKET)
    final = stack.get(out.FINAL_BUCKET)
    missing = [p for p in args.paths if not Path(p).exists() and not Path(p).is_symlink()]
    if missing:
        raise UserError(f"no such file or directory: {', '.join(missing)}")
    plan = scan(args.paths, args.prefix, args.suffixes)
    if not plan.candidates and not plan.skipped and not plan.unreadable:
        raise UserError(f"no files found in {', '.join(args.paths)}")
    aws = Aws.for_stack(stack, max_pool=args.concurrency * 2)
    check_bucket(aws, source, "source bucket")
    if final:
        check_bucket(aws, final, "final bucket")
    else:
        ui.warn("final bucket unknown: cannot skip images that were already processed")
    outcome = upload(
        aws,
        ui,
        plan,
        source_bucket=source,
        final_bucket=final,
        failed_prefix=stack.failed_prefix,
        concurrency=args.concurrency,
        force=args.force,
    )
    report_outcome(ui, plan, outcome, source)
    if not plan.candidates and not plan.unreadable:
        ui.line("nothing to upload: no PNG or JPEG files among the inputs")
    return EXIT_FAILED if (plan.unreadable or outcome.failed) else EXIT_OK


def cmd_run(args: argparse.Namespace, ui: Ui) -> int:
    from .aws import Aws
    from .follow import Follower, ensure_state_machine, finish
    from .operations import start_run
    from .runs import running_execution

    needed = [out.STATE_MACHINE_ARN]
    if args.follow:
        needed += [out.QUEUE_URL, out.DLQ_URL, out.PROJECT_ARN, out.VERSION_NAME, out.FINAL_BUCKET]
    stack = stack_from(args, needed)
    sm_arn = ensure_state_machine(stack)
    stack.require(*needed)
    aws = Aws.for_stack(stack)
    busy = running_execution(aws, sm_arn)
    if busy is not None:
        ui.line(
            f"run {busy['name']} is already in progress (started {busy['startDate']:%Y-%m-%d %H:%M:%S %Z}); "
            "not starting another"
        )
        arn = busy["executionArn"]
        if not args.follow:
            return EXIT_OK
    else:
        arn = start_run(aws.client("stepfunctions"), sm_arn, args.name)
        ui.line(f"started run {arn.rsplit(':', 1)[-1]}")
        if not args.follow:
            ui.line("follow it with `rekbatch run --follow` or check `rekbatch status`")
            return EXIT_OK
    follower = Follower(
        aws, stack, ui, arn, interval=args.interval, count_results=not args.no_count
    )
    snap = follower.follow()
    return finish(ui, stack, aws, snap, follower.dlq_at_start)


def cmd_status(args: argparse.Namespace, ui: Ui) -> int:
    from .aws import Aws
    from .status import print_status, status_data

    needed = [
        out.QUEUE_URL,
        out.DLQ_URL,
        out.STATE_MACHINE_ARN,
        out.PROJECT_ARN,
        out.VERSION_NAME,
        out.FINAL_BUCKET,
    ]
    stack = stack_from(args, needed)
    stack.require(*needed)
    data = status_data(Aws.for_stack(stack), stack, args.runs)
    if args.json:
        ui.line(json.dumps(data, indent=2, default=str))
    else:
        print_status(ui, data)
    return EXIT_OK


def _final_bucket_selection(args: argparse.Namespace) -> tuple[Stack, Any, str, Any]:
    """The stack, its clients, the final bucket (checked) and the images chosen by
    --run or --prefix: what report and export read."""
    from .aws import Aws, check_bucket
    from .report import Selection, resolve_run

    stack = stack_from(args, [out.FINAL_BUCKET])
    (final,) = stack.require(out.FINAL_BUCKET)
    aws = Aws.for_stack(stack, max_pool=args.concurrency * 2)
    check_bucket(aws, final, "final bucket")
    if args.run:
        selection = resolve_run(aws, stack, args.run, stack.runs_prefix, final)
    else:
        selection = Selection(prefix=args.prefix)
    return stack, aws, final, selection


def cmd_report(args: argparse.Namespace, ui: Ui) -> int:
    from .query import default_cache_dir
    from .report import write_report

    stack, aws, final, selection = _final_bucket_selection(args)
    items = write_report(
        aws,
        ui,
        final_bucket=final,
        selection=selection,
        out_dir=args.out,
        runs_prefix=stack.runs_prefix,
        results_prefix=stack.results_prefix,
        cache_dir=args.cache or default_cache_dir(final),
        full_listing=args.full_listing,
        max_images=args.max_images,
        thumb_size=args.thumb_size,
        concurrency=args.concurrency,
        html=not args.no_html,
    )
    ok = sum(1 for i in items if i.ok)
    labels = sum(len(i.labels) for i in items)
    ui.line(
        f"{len(items)} image(s): {ok} processed ({labels} labels), {len(items) - ok} failed "
        f"-> {args.out / 'results.csv'}" + ("" if args.no_html else f", {args.out / 'report.html'}")
    )
    if not items:
        ui.line(f"no results under {selection.describe(final)} yet")
    return EXIT_OK


def cmd_query(args: argparse.Namespace, ui: Ui) -> int:
    from .query import (
        DatasetCache,
        default_cache_dir,
        list_named,
        named_sql,
        parse_params,
        render,
        run_athena,
        run_local,
        sync_with_progress,
    )

    if args.list:
        ui.out.write(list_named())
        return EXIT_OK
    params = parse_params(args.param)
    if args.named and args.sql:
        raise UserError("give either SQL or --named NAME, not both")
    if args.named:
        sql = named_sql(args.named, params)
    elif args.sql:
        sql = args.sql
    else:
        raise UserError("give the SQL, --named NAME or --list")
    if args.athena:
        from .aws import Aws

        needed = [out.ATHENA_WORKGROUP, out.GLUE_DATABASE]
        stack = stack_from(args, needed)
        workgroup, database = stack.require(*needed)
        aws = Aws.for_stack(stack)
        rows = run_athena(
            aws.client("athena"),
            sql,
            params,
            workgroup=workgroup,
            database=database,
            status=lambda text: print(text, file=ui.err, flush=True),
        )
    else:
        stack = stack_from(args, [out.FINAL_BUCKET])
        (final,) = stack.require(out.FINAL_BUCKET)
        cache = DatasetCache(
            args.cache or default_cache_dir(final),
            results_prefix=stack.results_prefix,
            runs_prefix=stack.runs_prefix,
        )
        if not args.offline:
            from .aws import Aws, check_bucket

            aws = Aws.for_stack(stack, max_pool=args.concurrency * 2)
            check_bucket(aws, final, "final bucket")
            sync_with_progress(cache, aws.s3, final, ui, args.concurrency, full=args.full_listing)
        rows = run_local(cache.root, sql, params)
    ui.out.write(render(rows, args.format))
    ui.out.flush()
    return EXIT_OK


def cmd_export(args: argparse.Namespace, ui: Ui) -> int:
    from .export import ExportRequest, export, read_items, select
    from .query import default_cache_dir

    stack, aws, final, selection = _final_bucket_selection(args)
    items = read_items(
        aws.s3,
        final,
        selection,
        runs_prefix=stack.runs_prefix,
        results_prefix=stack.results_prefix,
        cache_dir=args.cache or default_cache_dir(final),
        ui=ui,
        concurrency=args.concurrency,
    )
    chosen = select(
        items, labels=args.label, below=args.below, below_threshold=args.below_threshold
    )
    request = ExportRequest(
        format=args.format,
        labels=tuple(args.label),
        below=args.below,
        below_threshold=args.below_threshold,
        s3_uri=args.s3_uri,
        expires=args.expires,
        concurrency=args.concurrency,
    )
    text, config = export(aws.s3, final, chosen, request)
    if args.out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    written = f" -> {args.out}" if args.out else ""
    if config is not None and args.out is not None:
        config_path = args.out.with_suffix(".labelconfig.xml")
        config_path.write_text(config, encoding="utf-8")
        written += f" (Label Studio labeling config: {config_path})"
    ui.note(f"{len(chosen)} of {len(items)} processed image(s) exported as {args.format}{written}")
    return EXIT_OK


def cmd_compact(args: argparse.Namespace, ui: Ui) -> int:
    from .aws import Aws, check_bucket
    from .compact import DayResult, compact

    stack = stack_from(args, [out.FINAL_BUCKET])
    (final,) = stack.require(out.FINAL_BUCKET)
    today = datetime.now(UTC).date()
    open_days = [d for d in args.day if d >= today]
    if args.before is not None and args.before > today:
        open_days.append(today)
    if open_days:
        raise UserError(
            f"{open_days[0].isoformat()} is not over (UTC): the function may still write into it"
        )
    aws = Aws.for_stack(stack, max_pool=args.concurrency * 2)
    check_bucket(aws, final, "final bucket")

    def said(day: DayResult) -> None:
        verb = "would merge" if args.dry_run else "merged"
        if len(day.outputs) == 0:
            ui.line(f"{day.day}: {day.inputs} object(s), nothing to merge")
        else:
            ui.line(
                f"{day.day}: {verb} {day.inputs - len(day.unreadable)} object(s), "
                f"{day.lines_in} line(s) -> {len(day.outputs)} object(s), {day.lines_out} line(s)"
            )
        for key in day.unreadable:
            ui.warn(f"s3://{final}/{key} is not JSON Lines of objects: left in place")

    results = compact(
        aws.s3,
        final,
        stack.results_prefix,
        before=args.before,
        days=[f"dt={d.isoformat()}" for d in args.day],
        max_bytes=args.max_mb * 1024 * 1024,
        concurrency=args.concurrency,
        dry_run=args.dry_run,
        report=said,
    )
    if not results:
        ui.line(f"no closed day under s3://{final}/{stack.results_prefix}")
    return EXIT_OK


def cmd_backfill(args: argparse.Namespace, ui: Ui) -> int:
    from .aws import Aws, check_bucket
    from .backfill import backfill

    needed = [out.SOURCE_BUCKET, out.FINAL_BUCKET, out.QUEUE_URL]
    stack = stack_from(args, needed)
    source, final, queue_url = stack.require(*needed)
    aws = Aws.for_stack(stack, max_pool=args.concurrency * 2)
    check_bucket(aws, source, "source bucket")
    check_bucket(aws, final, "final bucket")
    region = stack.region or aws.session.region_name or "us-east-1"
    outcome = backfill(
        aws,
        ui,
        source_bucket=source,
        final_bucket=final,
        queue_url=queue_url,
        region=region,
        failed_prefix=stack.failed_prefix,
        suffixes=args.suffixes,
        prefix=args.prefix,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        allow_queued=args.allow_queued,
        dry_run=args.dry_run,
    )
    verb = "would enqueue" if args.dry_run else "enqueued"
    count = (
        outcome.listed - outcome.not_images - outcome.already_processed
        if args.dry_run
        else outcome.enqueued
    )
    ui.line(
        f"{verb} {count} image(s) of {outcome.listed} object(s) in s3://{source}/{args.prefix}; "
        f"skipped {outcome.already_processed} already processed, {outcome.not_images} without an image suffix"
    )
    for key, error in outcome.failed:
        ui.error(f"could not enqueue {key}: {error}")
    if count and not args.dry_run:
        ui.line("start processing with `rekbatch run --follow` (or wait for the schedule)")
    return EXIT_FAILED if outcome.failed else EXIT_OK


def cmd_doctor(args: argparse.Namespace, ui: Ui) -> int:
    from .aws import Aws
    from .doctor import print_report, run_doctor

    stack = stack_from(args, [out.STATE_MACHINE_ARN])
    stack.require(out.STATE_MACHINE_ARN)
    report = run_doctor(Aws.for_stack(stack), stack)
    if args.json:
        ui.line(json.dumps(report.to_json(), indent=2))
    else:
        print_report(ui, report)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_demo(args: argparse.Namespace, ui: Ui) -> int:
    try:
        from cli.demo import main as demo_main
    except ImportError as exc:
        raise UserError(f"the demo is not available in this installation: {exc}") from None
    result = demo_main(list(args.demo_args))
    return int(result or 0)


COMMANDS = {
    "upload": cmd_upload,
    "run": cmd_run,
    "status": cmd_status,
    "report": cmd_report,
    "query": cmd_query,
    "compact": cmd_compact,
    "export": cmd_export,
    "backfill": cmd_backfill,
    "doctor": cmd_doctor,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit code (see module docstring)."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    ui = Ui(interactive=False if getattr(args, "plain", False) else None)
    try:
        return COMMANDS[args.command](args, ui)
    except UserError as exc:
        ui.error(str(exc))
        return EXIT_USER
    except (ClientError, BotoCoreError) as exc:
        message = explain(exc)
        ui.error(message or str(exc))
        return EXIT_USER
    except UnexpectedResponse as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        ui.error(
            f"unexpected response from AWS ({exc}); nothing more was done. "
            f"{DEBUG_VARIABLE}=1 shows where it was read"
        )
        return EXIT_USER
    except KeyboardInterrupt:
        if args.command == "run":
            ui.error("stopped following; the run goes on (see `rekbatch status`)")
        else:
            ui.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # the local machine: a cache, --out or report folder it can not write
        if os.environ.get(DEBUG_VARIABLE):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        ui.error(f"{where}{exc.strerror or exc}")
        return EXIT_USER
    except Exception as exc:  # a bug in rekbatch itself
        if os.environ.get(DEBUG_VARIABLE):
            raise
        path = write_traceback(exc)
        ui.error(
            f"internal error ({type(exc).__name__}: {exc}): a bug in rekbatch; "
            f"the traceback is in {path}"
        )
        return EXIT_INTERNAL


def entry() -> Any:  # pragma: no cover - for `python -m cli.main`
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
