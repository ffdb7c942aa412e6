"""Model time is money: how much RUNNING time the workflow buys per image.

On the local emulator (a model with a start delay and a provisioned TPS cap,
the real handler run by the Lambda poller, the real state machine in moto),
time scaled down (2 s polls instead of 60 s; the poll confirming an empty queue after 1 s instead of 30 s), for N images it prints:

- model RUNNING seconds (the emulator's meter, what the bill counts),
- the ideal N / provisioned TPS and the ratio RUNNING / ideal,
- the idle tail: RUNNING time after the last image finished,
- achieved images/s vs provisioned TPS: N over the data path's time, from the
  first admitted model call to the last message deleted (how fast a backlog
  drains once the pipeline runs). Also shown over RUNNING -> drained, which
  adds the start-up (the workflow noticing RUNNING, enabling the mapping, the
  Lambda's cold start); that fixed cost is what the model-time ratio charges,
  and it dominates small N,
- lost images and throttles (ProvisionedThroughputExceeded answers, retried).

The test bed (moto's S3 in one Python process, the poller and handler, all on
the build machine's cores) has a throughput of its own. A provisioned TPS above
it would measure the machine, not the pipeline. So the bench first measures the
bed: the same run with the model's cap lifted (the model never throttles); its
images/s is the bed's capacity. The cases then provision BED_FRACTION of it
(rounded down to 0.5 TPS), so the model is the bottleneck, as on AWS.

Goals (PASS/FAIL, non-zero exit on any FAIL): idle tail <= 2 poll intervals;
achieved >= 90% of provisioned TPS with zero lost; ratio <= 1.25 for large N.
The mapping's MaximumConcurrency comes from infra.sizing.derive_concurrency,
the rule the stack uses by default.

    .venv/bin/python bench/bench_model_time.py            # capacity, N=200 and N=1000
    .venv/bin/python bench/bench_model_time.py --quick    # capacity, N=200 only
    .venv/bin/python bench/bench_model_time.py --tps 6    # skip the capacity probe
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from harness import EmulatorChild, announce, drop_test_events, upload_backlog  # noqa: E402

from cli.operations import (  # noqa: E402
    count_objects,
    document_keys,
    finish_run,
    model_status,
    queue_depth,
    start_run,
)
from emulator.server import LocalAws  # noqa: E402
from emulator.workflow import lambda_service, provision_stack  # noqa: E402
from infra import outputs as out  # noqa: E402
from infra.sizing import derive_concurrency, ideal_running_seconds  # noqa: E402

VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/bench/version/bench.v1/1700000000000"
)
POLL_SECONDS = 2  # the confirming poll waits half of it (1 s: Wait states take whole seconds)
START_DELAY = 3.0
STOP_DELAY = 0.5
DETECT_LATENCY = 0.05  # seconds per DetectCustomLabels inside the emulator
IMAGE_SECONDS = 1.5  # measured here: ~20 images in flight per 13 images/s (batch barrier + S3 work)
BATCH_SIZE = 10
# Provision this fraction of the test bed's measured capacity.
BED_FRACTION = 0.65
PROBE_IMAGES = 200
PROBE_CONCURRENCY = 4  # batches at once while probing: more than any case derives
SMALL_N, LARGE_N = 200, 1000


@dataclass(frozen=True)
class Case:
    images: int
    units: int
    tps_per_unit: float
    large: bool  # the ratio goal applies to large N only

    @property
    def tps(self) -> float:
        return self.units * self.tps_per_unit


def cases_for(tps: float, quick: bool) -> tuple[Case, ...]:
    """One inference unit for the small case, two for the large one, same total TPS."""
    small = Case(SMALL_N, 1, tps, large=False)
    return (small,) if quick else (small, Case(LARGE_N, 2, tps / 2, large=True))


class RemoteAws:
    """Clients for the emulator running in the child process (what LambdaPoller,
    lambda_service and the run helpers need: .endpoint, .client(), .env())."""

    region = "us-east-1"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region
        )
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            return self._session.client(
                service,
                endpoint_url=self.endpoint,
                config=Config(
                    retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50
                ),
            )

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }


def serve(case: Case, concurrency: int) -> None:
    """Child process: moto + the model emulator + the state machine ("AWS").

    The parent plays the Lambda service (poller + real handler), so the code
    under test and moto's request handling do not share one GIL, as on AWS.
    stdin commands: "meter" -> one JSON line; EOF -> exit.
    """
    # moto's Step Functions interpreter logs an ERROR for every IsPresent check of an
    # absent path (the definition's normal cleanup-error checks): not a problem, hide it.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    with LocalAws() as aws:
        aws.model.configure(
            start_delay=START_DELAY,
            stop_delay=STOP_DELAY,
            tps_per_unit=case.tps_per_unit,
            latency=DETECT_LATENCY,
        )
        aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
        outputs = provision_stack(
            aws,
            project_version_arn=VERSION_ARN,
            batch_size=BATCH_SIZE,
            maximum_concurrency=concurrency,
            min_inference_units=case.units,
            poll_interval_seconds=POLL_SECONDS,
            max_run_seconds=3600,
            model_start_timeout_seconds=120,
        )
        announce({"endpoint": aws.endpoint, "outputs": outputs})
        for line in sys.stdin:
            if line.strip() == "meter":
                meter = aws.model.meter()
                meter["admissions"] = aws.model.admissions(VERSION_ARN)
                announce(meter)


class Sampler:
    """Samples the model status and the queue at 20 Hz to time the run's phases."""

    def __init__(self, aws: RemoteAws, outputs: dict[str, Any]) -> None:
        self.rekognition = aws.client("rekognition")
        self.sqs = aws.client("sqs")
        self.outputs = outputs
        self.running_from: float | None = None
        self.running_to: float | None = None
        self.drained_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            status = model_status(self.rekognition, self.outputs)
            if status == "RUNNING" and self.running_from is None:
                self.running_from = now
            if status != "RUNNING" and self.running_from is not None and self.running_to is None:
                self.running_to = now
            if (
                self.running_from is not None
                and self.drained_at is None
                and queue_depth(self.sqs, self.outputs[out.QUEUE_URL])["total"] == 0
            ):
                self.drained_at = now


def run_case(case: Case, concurrency: int | None = None) -> dict[str, Any]:
    if concurrency is None:
        concurrency = derive_concurrency(
            case.units, case.tps_per_unit, IMAGE_SECONDS, batch_size=BATCH_SIZE
        )
    child = EmulatorChild(
        __file__, {"case": dataclasses.asdict(case), "concurrency": concurrency}, close_timeout=30
    )
    try:
        aws = RemoteAws(child.endpoint)
        outputs = child.outputs
        s3 = aws.client("s3")
        sqs = aws.client("sqs")
        drop_test_events(sqs, outputs[out.QUEUE_URL])
        upload_backlog(s3, sqs, outputs, case.images, "bench/")
        # The handler prints its EMF metrics to stdout, as in Lambda: keep the report readable.
        with (
            contextlib.redirect_stdout(io.StringIO()),
            lambda_service(aws, outputs),
            Sampler(aws, outputs) as sampler,
        ):
            sfn = aws.client("stepfunctions")
            result = finish_run(
                sfn, s3, outputs, start_run(sfn, outputs[out.STATE_MACHINE_ARN]), timeout=900
            )
            time.sleep(0.2)  # let the sampler see the stop
        meter = child.meter()
        keys = document_keys(s3, outputs)
        left = count_objects(s3, outputs[out.SOURCE_BUCKET])
    finally:
        child.close()
    admissions = meter["admissions"]  # monotonic, the same clock in both processes
    processed = len(keys.results)
    failed = len(keys.errors)
    running = meter["running_seconds"]
    ideal = ideal_running_seconds(case.images, case.units, case.tps_per_unit)
    first_call = admissions[0] if admissions else None
    drained = sampler.drained_at
    # The data path's time: first admitted model call -> last message deleted.
    busy = drained - first_call if drained and first_call else 0.0
    # The same over the model's RUNNING time up to the drain (start-up included).
    running_busy = drained - sampler.running_from if drained and sampler.running_from else 0.0
    return {
        "case": case,
        "status": result.status,
        "outcome": result.outcome,
        "concurrency": concurrency,
        "running": running,
        "ideal": ideal,
        "ratio": running / ideal,
        "tail": (sampler.running_to or 0) - (drained or 0),
        "achieved": case.images / busy if busy > 0 else 0.0,
        "achieved_running": case.images / running_busy if running_busy > 0 else 0.0,
        # RUNNING -> first admitted model call: the workflow noticing RUNNING,
        # enabling the mapping, the first batch arriving (Lambda cold start).
        "startup": first_call - sampler.running_from
        if first_call and sampler.running_from
        else float("nan"),
        "processed": processed,
        "failed": failed,
        "lost": case.images - processed - failed - left,
        "left": left,
        "throttles": meter["throttles"],
    }


def checks(r: dict[str, Any]) -> list[tuple[str, bool]]:
    """The goals of one case, as (label, passed)."""
    case: Case = r["case"]
    result = [
        (f"idle tail <= 2 polls ({2 * POLL_SECONDS} s)", r["tail"] <= 2 * POLL_SECONDS),
        ("achieved >= 90% of TPS", r["achieved"] >= 0.9 * case.tps),
        ("zero lost images", r["lost"] == 0 and r["left"] == 0),
        ("workflow drained", r["status"] == "SUCCEEDED" and r["outcome"] == "drained"),
    ]
    if case.large:
        result.append(("ratio <= 1.25 (large N)", r["ratio"] <= 1.25))
    return result


def table(results: list[dict[str, Any]]) -> bool:
    """Print the cases side by side with PASS/FAIL per goal; True if every goal passed."""
    heads = [
        f"N={r['case'].images}, {r['case'].units} IU x {r['case'].tps_per_unit:g} TPS"
        for r in results
    ]
    rows: list[tuple[str, list[str]]] = [
        ("provisioned TPS", [f"{r['case'].tps:g}" for r in results]),
        ("MaximumConcurrency (derived)", [str(r["concurrency"]) for r in results]),
        ("workflow", [f"{r['status']} ({r['outcome']})" for r in results]),
        ("model RUNNING", [f"{r['running']:.2f} s" for r in results]),
        ("ideal N / TPS", [f"{r['ideal']:.2f} s" for r in results]),
        ("ratio RUNNING / ideal", [f"{r['ratio']:.3f}" for r in results]),
        ("idle tail", [f"{r['tail']:.2f} s" for r in results]),
        (
            "achieved (first call -> drained)",
            [f"{r['achieved']:.2f}/s = {r['achieved'] / r['case'].tps:.0%}" for r in results],
        ),
        (
            "  over RUNNING -> drained",
            [
                f"{r['achieved_running']:.2f}/s = {r['achieved_running'] / r['case'].tps:.0%}"
                for r in results
            ],
        ),
        ("start-up (RUNNING -> first call)", [f"{r['startup']:.2f} s" for r in results]),
        (
            "control overhead (RUNNING / data path)",
            [
                f"{r['running'] / (r['case'].images / r['achieved']):.3f}"
                if r["achieved"] > 0
                else "-"
                for r in results
            ],
        ),
        (
            "processed / failed / lost / left",
            [f"{r['processed']} / {r['failed']} / {r['lost']} / {r['left']}" for r in results],
        ),
        ("throttles (retried in-invocation)", [str(r["throttles"]) for r in results]),
    ]
    labels = [label for label, _ in checks(results[-1])]
    for r in results:
        labels += [label for label, _ in checks(r) if label not in labels]
    verdicts = []
    for label in labels:
        cells = []
        for r in results:
            found = dict(checks(r)).get(label)
            cells.append("n/a" if found is None else ("PASS" if found else "FAIL"))
        verdicts.append((label, cells))
    width = max(len(label) for label, _ in rows + verdicts) + 2
    col = max(22, *(len(h) + 2 for h in heads))
    print("\n" + " " * width + "".join(h.ljust(col) for h in heads))
    for label, cells in rows + [("", [""] * len(results))] + verdicts:
        print(label.ljust(width) + "".join(c.ljust(col) for c in cells))
    return all(ok for r in results for _, ok in checks(r))


def probe_capacity() -> dict[str, Any]:
    """The bed's own images/s: the same run with a model that never throttles."""
    return run_case(Case(PROBE_IMAGES, 1, 10_000.0, large=False), concurrency=PROBE_CONCURRENCY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=200 only")
    parser.add_argument(
        "--tps", type=float, help="provisioned TPS to test (skips the capacity probe)"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: the emulator child
    args = parser.parse_args(argv)
    if args.serve:
        spec = json.loads(args.serve)
        serve(Case(**spec["case"]), spec["concurrency"])
        return 0
    started = time.monotonic()
    if args.tps:
        tps = args.tps
        print(f"provisioned TPS {tps:g} (--tps; capacity probe skipped)")
    else:
        print(
            f"measuring the test bed's capacity (N={PROBE_IMAGES}, model uncapped) ...", flush=True
        )
        probe = probe_capacity()
        capacity = probe["achieved"]
        tps = max(1.0, math.floor(capacity * BED_FRACTION * 2) / 2)
        print(
            f"test-bed capacity: {capacity:.2f} images/s (N={PROBE_IMAGES}, model uncapped, "
            f"MaximumConcurrency {PROBE_CONCURRENCY}, lost {probe['lost']}, "
            f"left {probe['left']})\n"
            f"provisioned TPS for the cases: {tps:g} = {BED_FRACTION:.0%} of it, rounded down "
            f"to 0.5 (above the bed's capacity the bench would measure the machine)"
        )
    results = []
    for case in cases_for(tps, args.quick):
        print(
            f"running N={case.images} on {case.units} IU x {case.tps_per_unit:g} TPS ...",
            flush=True,
        )
        results.append(run_case(case))
    ok = table(results)
    print(f"\n{'PASS' if ok else 'FAIL'}  ({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
