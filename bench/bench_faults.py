"""Faults never cost idle model time: the same backlog fault-free and under a fault storm.

The whole pipeline on the local emulator, as bench/bench_model_time.py runs it
(the state machine in moto, the model emulator with a start delay and a
provisioned TPS cap, the Lambda poller running the real handler in this
process, the emulator in a child process), time scaled to 2 s polls. The same
N images are labelled twice, side by side in one run:

- fault-free;
- under a fault storm: the model answers ~20% of DetectCustomLabels with
  ThrottlingException and ~30% with InternalServerError, S3 answers ~5% of
  every object call (GET, HEAD, PUT, COPY, DELETE and DeleteObjects) with 503
  SlowDown. Seeded, so a rerun draws the same faults for the same request order.

The storm's throttles are retried inside the invocation (runtime/throttle.py),
its 5xx by botocore's standard retries (MAX_ATTEMPTS), and what outlives those
is reported in batchItemFailures, whose visibility the handler shortens
(runtime/visibility.py, production defaults: 4 s, doubling) so it comes back
in seconds, not after the queue's visibility timeout.

Goals (PASS/FAIL, non-zero exit on any FAIL): model RUNNING time under the storm
<= 1.5 x the fault-free run; zero lost images and none filed under failed/ (every
fault is transient) in both; both runs drained.

    .venv/bin/python bench/bench_faults.py              # N=500 at 8 TPS (~3 min)
    .venv/bin/python bench/bench_faults.py -n 200 --tps 10 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model_time import (  # noqa: E402
    BATCH_SIZE,
    DETECT_LATENCY,
    IMAGE_SECONDS,
    POLL_SECONDS,
    START_DELAY,
    STOP_DELAY,
    VERSION_ARN,
    RemoteAws,
    Sampler,
)
from harness import EmulatorChild, announce, drop_test_events, upload_backlog  # noqa: E402

from cli.operations import count_objects, document_keys, finish_run, queue_depth, start_run  # noqa: E402
from emulator.poller import runtime_handler  # noqa: E402
from emulator.server import LocalAws  # noqa: E402
from emulator.workflow import lambda_service, provision_stack  # noqa: E402
from infra import outputs as out  # noqa: E402
from infra.sizing import derive_concurrency, ideal_running_seconds  # noqa: E402
from runtime import settings as runtime_settings  # noqa: E402

N_DEFAULT = 500
TPS_DEFAULT = 8.0
SEED_DEFAULT = 12
MODEL_STORM = {"ThrottlingException": 0.2, "InternalServerError": 0.3}
S3_STORM = {"*": {"SlowDown": 0.05}}
RATIO_GOAL = 1.5
# The handler's logger (Powertools names it after the service). Not imported from
# runtime.handler here: its JSON lines go to the stdout current at import, which must
# be the redirected one.
SERVICE_LOGGER = runtime_settings.DEFAULTS[runtime_settings.POWERTOOLS_SERVICE_NAME]


def serve(spec: dict[str, Any]) -> None:
    """Child process: moto + model emulator + S3 faults + the state machine ("AWS").

    stdin commands: "storm" (faults on), "calm" (faults off), "meter" (one JSON
    line); EOF -> exit. Faults go on only once the backlog is uploaded, and off
    before the results are counted, so only the pipeline meets them.
    """
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    with LocalAws() as aws:
        aws.model.configure(
            start_delay=START_DELAY,
            stop_delay=STOP_DELAY,
            tps_per_unit=spec["tps"],
            latency=DETECT_LATENCY,
            seed=spec["seed"],
        )
        aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
        outputs = provision_stack(
            aws,
            project_version_arn=VERSION_ARN,
            batch_size=BATCH_SIZE,
            maximum_concurrency=spec["concurrency"],
            min_inference_units=1,
            poll_interval_seconds=POLL_SECONDS,
            max_run_seconds=3600,
            model_start_timeout_seconds=120,
        )
        announce({"endpoint": aws.endpoint, "outputs": outputs})
        for line in sys.stdin:
            command = line.strip()
            if command == "storm" and spec["storm"]:
                if spec["storm"] in ("both", "model"):
                    aws.model.configure(fault_rates=MODEL_STORM)
                if spec["storm"] in ("both", "s3"):
                    aws.s3_faults.configure(fault_rates=S3_STORM, seed=spec["seed"])
            elif command == "calm":
                aws.model.configure(fault_rates={})
                aws.s3_faults.configure(fault_rates={})
            elif command == "meter":
                announce({**aws.model.meter(), "s3": aws.s3_faults.meter()})


class RetryCauses(logging.Handler):
    """Counts the codes of the handler's ``retry`` log lines (one per image retried)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.codes: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "outcome", None) == "retry":
            code = str(getattr(record, "code", "?"))
            self.codes[code] = self.codes.get(code, 0) + 1


def run_case(
    images: int, tps: float, seed: int, storm: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    concurrency = derive_concurrency(1, tps, IMAGE_SECONDS, batch_size=BATCH_SIZE)
    child = EmulatorChild(
        __file__,
        {"tps": tps, "seed": seed, "storm": storm, "concurrency": concurrency},
        close_timeout=30,
    )
    try:
        aws = RemoteAws(child.endpoint)
        outputs = child.outputs
        s3, sqs = aws.client("s3"), aws.client("sqs")
        drop_test_events(sqs, outputs[out.QUEUE_URL])
        upload_backlog(s3, sqs, outputs, images, "bench/")
        child.send("storm")
        causes = RetryCauses()
        logging.getLogger(SERVICE_LOGGER).addHandler(causes)
        started = time.monotonic()
        with (
            contextlib.redirect_stdout(io.StringIO()),  # the handler's EMF lines
            lambda_service(
                aws, outputs, handler_factory=lambda e: runtime_handler({**e, **(env or {})})
            ) as poller,
            Sampler(aws, outputs) as sampler,
        ):
            sfn = aws.client("stepfunctions")
            result = finish_run(
                sfn, s3, outputs, start_run(sfn, outputs[out.STATE_MACHINE_ARN]), timeout=1800
            )
            time.sleep(0.2)  # let the sampler see the stop
            stats = poller.stats()
        wall = time.monotonic() - started
        logging.getLogger(SERVICE_LOGGER).removeHandler(causes)
        child.send("calm")
        meter = child.meter()
        keys = document_keys(s3, outputs)
        left = count_objects(s3, outputs[out.SOURCE_BUCKET])
        dlq = queue_depth(sqs, outputs[out.DLQ_URL])["total"]
    finally:
        child.close()
    processed = len(keys.results)
    failed = len(keys.errors)
    return {
        "storm": storm,
        "status": result.status,
        "outcome": result.outcome,
        "concurrency": concurrency,
        "running": meter["running_seconds"],
        "ideal": ideal_running_seconds(images, 1, tps),
        "wall": wall,
        "tail": (sampler.running_to or 0) - (sampler.drained_at or 0),
        "processed": processed,
        "failed": failed,
        "left": left,
        "dlq": dlq,
        "lost": images - processed - failed - left,
        "detect_calls": meter["detect_calls"],
        "model_faults": meter["faults_injected"],
        "throttles": meter["throttles"],
        "s3_faults": meter["s3"]["injected_total"],
        "s3_by_op": {op: sum(c.values()) for op, c in meter["s3"]["injected"].items()},
        "retried_records": stats.reported_failures,
        "retry_causes": causes.codes,
        "function_errors": stats.function_errors,
    }


def checks(free: dict[str, Any], storm: dict[str, Any]) -> list[tuple[str, bool]]:
    ratio = storm["running"] / free["running"] if free["running"] else float("inf")
    return [
        (f"model time storm / fault-free <= {RATIO_GOAL}", ratio <= RATIO_GOAL),
        (
            "zero lost (both), none left or dead-lettered",
            all(r["lost"] == 0 and r["left"] == 0 and r["dlq"] == 0 for r in (free, storm)),
        ),
        ("no transient fault filed under failed/", free["failed"] == storm["failed"] == 0),
        (
            "both runs drained",
            all(r["status"] == "SUCCEEDED" and r["outcome"] == "drained" for r in (free, storm)),
        ),
    ]


def table(images: int, tps: float, free: dict[str, Any], storm: dict[str, Any]) -> bool:
    rows = [
        ("workflow", lambda r: f"{r['status']} ({r['outcome']})"),
        ("model RUNNING (billed)", lambda r: f"{r['running']:.2f} s"),
        ("ideal N / TPS", lambda r: f"{r['ideal']:.2f} s"),
        ("RUNNING / ideal", lambda r: f"{r['running'] / r['ideal']:.3f}"),
        ("idle tail", lambda r: f"{r['tail']:.2f} s"),
        ("run wall time", lambda r: f"{r['wall']:.1f} s"),
        ("processed / failed / lost / left / DLQ", lambda r: (
            f"{r['processed']} / {r['failed']} / {r['lost']} / {r['left']} / {r['dlq']}"
        )),
        ("DetectCustomLabels calls", lambda r: str(r["detect_calls"])),
        ("  injected model faults", lambda r: str(r["model_faults"])),
        ("  ProvisionedThroughputExceeded", lambda r: str(r["throttles"])),
        ("injected S3 faults", lambda r: f"{r['s3_faults']} {r['s3_by_op'] or ''}".strip()),
        ("records reported for retry", lambda r: str(r["retried_records"])),
        ("  images retried, by code", lambda r: str(r["retry_causes"] or "-")),
        ("invocations that raised", lambda r: str(r["function_errors"])),
    ]  # fmt: skip
    heads = ["fault-free", "storm (model 20% thr + 30% 5xx, S3 5% 503)"]
    width = max(len(label) for label, _ in rows) + 2
    col = max(len(h) for h in heads) + 2
    print(f"\nN={images}, 1 IU x {tps:g} TPS, MaximumConcurrency {free['concurrency']}")
    print(" " * width + "".join(h.ljust(col) for h in heads))
    for label, cell in rows:
        print(label.ljust(width) + cell(free).ljust(col) + cell(storm).ljust(col))
    ratio = storm["running"] / free["running"] if free["running"] else float("inf")
    print(f"\nmodel time under the storm / fault-free: {ratio:.3f} (goal <= {RATIO_GOAL})")
    verdicts = checks(free, storm)
    for label, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    return all(ok for _, ok in verdicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--images", type=int, default=N_DEFAULT)
    parser.add_argument("--tps", type=float, default=TPS_DEFAULT, help="provisioned TPS")
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    parser.add_argument(
        "--storm",
        choices=("both", "model", "s3"),
        default="both",
        help="which faults the storm run injects (diagnosis; the goal is judged on both)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a runtime setting of the function in both runs (diagnosis)",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: the emulator child
    args = parser.parse_args(argv)
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    began = time.monotonic()
    print(f"fault-free run, N={args.images} at {args.tps:g} TPS ...", flush=True)
    env = dict(item.split("=", 1) for item in args.env)
    free = run_case(args.images, args.tps, args.seed, storm="", env=env)
    print(f"fault storm run, N={args.images} at {args.tps:g} TPS ...", flush=True)
    storm = run_case(args.images, args.tps, args.seed, storm=args.storm, env=env)
    ok = table(args.images, args.tps, free, storm)
    print(f"\n{'PASS' if ok else 'FAIL'}  ({time.monotonic() - began:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
