"""``python -m emulator``: the local AWS as a standalone process.

Prints the endpoint and the ``export`` lines that point the AWS CLI, boto3
and aioboto3 at it; with ``--stack`` also provisions the data path (and with
``--workflow`` the state machine and its schedule, with ``--poller`` the local
Lambda service that runs the real handler while the mapping is Enabled), with
the stack's own configuration (``Pulumi.<stack>.yaml`` through
``infra.config.load``, emulator/stackfile.py); ``--fast-waits`` scales only the
workflow's waits. ``--engine localstack`` runs the same on LocalStack.
Ctrl-C stops it and prints the model meter.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from emulator.schedule import ScheduleError, Scheduler, check
from emulator.server import LocalAws
from emulator.stackfile import StackFileError, provision_options, stack_config
from infra.config import StackConfig
from infra.outputs import STATE_MACHINE_ARN


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local AWS: moto + a Rekognition Custom Labels model emulator on one port.",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port (0 = any free port; default 5000)")
    p.add_argument("--region", help="default: the stack's aws:region with --stack, else us-east-1")
    p.add_argument(
        "--engine",
        choices=["moto", "localstack"],
        default="moto",
        help="the local AWS: moto (default) or LocalStack (needs .venv-localstack: make setup)",
    )
    p.add_argument(
        "--model",
        metavar="VERSION_ARN",
        action="append",
        default=[],
        help="register a Custom Labels model version (repeatable)",
    )
    p.add_argument(
        "--model-status",
        default="TRAINING_COMPLETED",
        choices=["TRAINING_COMPLETED", "RUNNING", "STOPPED"],
        help="initial status of --model versions",
    )
    p.add_argument("--start-delay", type=float, default=5.0, help="seconds STARTING -> RUNNING")
    p.add_argument("--stop-delay", type=float, default=2.0, help="seconds STOPPING -> STOPPED")
    p.add_argument("--tps-per-unit", type=float, default=5.0, help="TPS per inference unit")
    p.add_argument("--latency", type=float, default=0.05, help="seconds per DetectCustomLabels")
    p.add_argument(
        "--stack",
        metavar="NAME",
        help="provision the data path (buckets, queues, function, mapping) for stack NAME",
    )
    p.add_argument(
        "--version-arn",
        help="model version for --stack (registered if unknown); default: the stack's "
        "projectVersionArn, else a demo version in the stack's region",
    )
    p.add_argument(
        "--workflow", action="store_true", help="with --stack: also deploy the state machine"
    )
    p.add_argument(
        "--schedule",
        metavar="EXPR",
        help="with --workflow: run the state machine on this rate(...)/cron(...)/at(...) "
        "expression instead of the stack's (Pulumi.<stack>.yaml, else rate(1 hour))",
    )
    p.add_argument(
        "--schedule-timezone",
        metavar="TZ",
        help="IANA time zone of the schedule (default: the stack's scheduleTimezone, else UTC)",
    )
    p.add_argument(
        "--fast-waits",
        action="store_true",
        help="with --workflow: poll and describe every second instead of the stack's "
        "intervals (maxRunMinutes, the start deadline and everything else stay the stack's)",
    )
    p.add_argument(
        "--no-schedule",
        action="store_true",
        help="with --workflow: do not run the schedule (start executions yourself)",
    )
    p.add_argument(
        "--pulumi-dir",
        metavar="DIR",
        default=".",
        help="folder of Pulumi.<stack>.yaml, the stack's configuration (default: current)",
    )
    p.add_argument(
        "--outputs-file",
        metavar="FILE",
        help="with --stack: also write the stack outputs to FILE (for `rekbatch --outputs FILE`)",
    )
    p.add_argument(
        "--poller",
        action="store_true",
        help="with --stack: run the local Lambda service for the mapping",
    )
    return p


def _exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in env.items())


class _ExpectedMotoErrors(logging.Filter):
    """moto's Step Functions interpreter logs an ERROR for every path that a
    Choice's IsPresent finds absent, which the workflow checks on purpose (AWS
    logs nothing): drop those records, keep the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Exception=NoSuchJsonPathError" not in record.getMessage()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").addFilter(
        _ExpectedMotoErrors()
    )
    if (args.workflow or args.poller) and not args.stack:
        print("--workflow and --poller need --stack NAME", file=sys.stderr)
        return 2
    if (
        args.schedule or args.schedule_timezone or args.no_schedule or args.fast_waits
    ) and not args.workflow:
        print(
            "--schedule, --schedule-timezone, --no-schedule and --fast-waits need --workflow",
            file=sys.stderr,
        )
        return 2
    cfg: StackConfig | None = None
    if args.stack:
        try:  # before anything starts: a bad key fails here, named
            cfg = stack_config(args.stack, args.pulumi_dir, project_version_arn=args.version_arn)
        except StackFileError as err:
            print(f"stack: {err}", file=sys.stderr)
            return 2
    region = args.region or (cfg and cfg.deploy_region) or "us-east-1"
    schedule: tuple[str, str] | None = None
    if cfg is not None and args.workflow and not args.no_schedule:
        try:
            schedule = (
                args.schedule or cfg.schedule,
                args.schedule_timezone or cfg.schedule_timezone,
            )
            check(*schedule)  # before anything starts
        except ScheduleError as err:
            print(f"schedule: {err}", file=sys.stderr)
            return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        aws = stack.enter_context(_engine(args, region))
        aws.model.configure(
            start_delay=args.start_delay,
            stop_delay=args.stop_delay,
            tps_per_unit=args.tps_per_unit,
            latency=args.latency,
        )
        for arn in args.model:
            aws.model.create(arn, args.model_status)
        print(f"local AWS endpoint: {aws.endpoint}  (region {aws.region})")
        print("point the AWS CLI / boto3 / aioboto3 at it with:\n")
        print(_exports(aws.env()))
        print()
        if cfg is not None:
            outputs = _provision(aws, args, cfg, schedule)
            print(f"stack {args.stack!r} outputs:")
            print(json.dumps(outputs, indent=2, default=str))
            if args.outputs_file:
                Path(args.outputs_file).write_text(json.dumps(outputs, indent=2, default=str))
            if args.poller:
                from emulator.poller import run_poller

                stack.enter_context(run_poller(aws, outputs))
                print(
                    "local Lambda service running (processes the queue while the mapping is Enabled)"
                )
            if schedule is not None:
                scheduler = Scheduler(
                    aws.client("stepfunctions"),
                    outputs[STATE_MACHINE_ARN],
                    *schedule,
                    on_start=lambda arn: print(
                        f"schedule: started execution {arn.rsplit(':', 1)[1]}", flush=True
                    ),
                )
                stack.enter_context(scheduler)
                upcoming = scheduler.next_time()
                when = f"next at {upcoming:%Y-%m-%d %H:%M:%S %Z}" if upcoming else "no time left"
                print(f"schedule: {schedule[0]} in {schedule[1]}, {when}")
                if not args.poller:
                    print("schedule: without --poller nothing consumes the queue during a run")
        print("\nCtrl-C to stop.", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("\nmodel meter:", json.dumps(aws.model.meter(), indent=2))
    return 0


def _engine(args: argparse.Namespace, region: str) -> Any:
    if args.engine == "localstack":
        from emulator.localstack import LocalStackAws

        return LocalStackAws(region=region, host=args.host, port=args.port)
    return LocalAws(region=region, host=args.host, port=args.port)


def _provision(
    aws: Any, args: argparse.Namespace, cfg: StackConfig, schedule: tuple[str, str] | None
) -> dict[str, Any]:
    """The stack as its configuration declares it (emulator/stackfile.py)."""
    options = provision_options(cfg, fast_waits=args.fast_waits)
    if args.workflow:
        from emulator.workflow import provision_stack

        if schedule is not None:
            options.update(schedule=schedule[0], schedule_timezone=schedule[1])
        return provision_stack(aws, stack=args.stack, **options)
    from emulator.stack import provision_data_path
    from emulator.workflow import workflow_option_names

    data_path = {k: v for k, v in options.items() if k not in workflow_option_names()}
    return provision_data_path(aws, stack=args.stack, **data_path)


if __name__ == "__main__":
    sys.exit(main())
