"""Model time is money: how much RUNNING time the workflow buys per image.

On the local emulator (a model with a start delay and a provisioned TPS cap,
the real handler run by the Lambda poller, the real state machine in moto),
time scaled down (1 s polls instead of 60 s), for N images it prints:

- model RUNNING seconds (the emulator's meter, what the bill counts),
- the ideal N / provisioned TPS and the ratio RUNNING / ideal,
- the idle tail: RUNNING time after the last image finished,
- achieved images/s (first RUNNING instant -> last image done) vs provisioned TPS,
- lost images and throttles (ProvisionedThroughputExceeded answers, retried).

Goals (PASS/FAIL, non-zero exit on any FAIL): idle tail <= 2 poll intervals;
achieved >= 90% of provisioned TPS with zero lost; ratio <= 1.25 for large N.
The mapping's MaximumConcurrency comes from infra.sizing.derive_concurrency,
the rule the stack uses by default.

    .venv/bin/python bench/bench_model_time.py            # N=200 and N=1000
    .venv/bin/python bench/bench_model_time.py --quick    # N=200 only
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from PIL import Image  # noqa: E402

from emulator.server import LocalAws  # noqa: E402
from emulator.workflow import (  # noqa: E402
    finish_run,
    lambda_service,
    model_status,
    provision_stack,
    queue_depth,
    result_keys,
    start_run,
)
from infra import outputs as out  # noqa: E402
from infra.sizing import derive_concurrency, ideal_running_seconds  # noqa: E402

VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/bench/version/bench.v1/1700000000000"
)
POLL_SECONDS = 1
START_DELAY = 3.0
STOP_DELAY = 0.5
DETECT_LATENCY = 0.05  # seconds per DetectCustomLabels inside the emulator
IMAGE_SECONDS = 1.5  # measured here: ~20 images in flight per 13 images/s (batch barrier + S3 work)
BATCH_SIZE = 10


@dataclass(frozen=True)
class Case:
    images: int
    units: int
    tps_per_unit: float
    large: bool  # the ratio goal applies to large N only

    @property
    def tps(self) -> float:
        return self.units * self.tps_per_unit


CASES = (Case(200, 1, 10.0, large=False), Case(1000, 2, 10.0, large=True))


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), ((seed * 37) % 256, (seed * 91) % 256, 200)).save(buffer, "PNG")
    return buffer.getvalue()


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
    import moto.backends

    # moto lists its package directory on every request to find the backend;
    # the listing never changes (same trick as bench/bench_handler.py).
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules

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
        print("@@" + json.dumps({"endpoint": aws.endpoint, "outputs": outputs}), flush=True)
        for line in sys.stdin:
            if line.strip() == "meter":
                print("@@" + json.dumps(aws.model.meter()), flush=True)


class Child:
    def __init__(self, case: Case, concurrency: int) -> None:
        spec = json.dumps({"case": dataclasses.asdict(case), "concurrency": concurrency})
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started = self._read()
        self.endpoint: str = started["endpoint"]
        self.outputs: dict[str, Any] = started["outputs"]

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise SystemExit("the emulator process ended unexpectedly")

    def meter(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("meter\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


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


def run_case(case: Case) -> dict[str, Any]:
    concurrency = derive_concurrency(
        case.units, case.tps_per_unit, IMAGE_SECONDS, batch_size=BATCH_SIZE
    )
    child = Child(case, concurrency)
    try:
        aws = RemoteAws(child.endpoint)
        outputs = child.outputs
        s3 = aws.client("s3")
        sqs = aws.client("sqs")
        # The s3:TestEvent of the notification set-up: the first run after a
        # deploy processes it; measure the steady state, as the scenarios do.
        for message in sqs.receive_message(
            QueueUrl=outputs[out.QUEUE_URL], MaxNumberOfMessages=10
        ).get("Messages", []):
            sqs.delete_message(
                QueueUrl=outputs[out.QUEUE_URL], ReceiptHandle=message["ReceiptHandle"]
            )
        distinct = [_png(i) for i in range(20)]
        for number in range(case.images):
            s3.put_object(
                Bucket=outputs[out.SOURCE_BUCKET],
                Key=f"bench/img-{number:05d}.png",
                Body=distinct[number % len(distinct)],
                ContentType="image/png",
            )
        while queue_depth(sqs, outputs[out.QUEUE_URL])["total"] < case.images:
            time.sleep(0.1)
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
        keys = result_keys(s3, outputs)
        left = s3.list_objects_v2(Bucket=outputs[out.SOURCE_BUCKET]).get("KeyCount", 0)
    finally:
        child.close()
    processed = len(keys["results"])
    failed = sum(1 for k in keys["failed"] if k.endswith(".json"))
    running = meter["running_seconds"]
    ideal = ideal_running_seconds(case.images, case.units, case.tps_per_unit)
    busy = (sampler.drained_at or 0) - (sampler.running_from or 0)
    return {
        "case": case,
        "status": result.status,
        "outcome": result.outcome,
        "concurrency": concurrency,
        "running": running,
        "ideal": ideal,
        "ratio": running / ideal,
        "tail": (sampler.running_to or 0) - (sampler.drained_at or 0),
        "achieved": case.images / busy if busy > 0 else 0.0,
        "processed": processed,
        "failed": failed,
        "lost": case.images - processed - failed - left,
        "left": left,
        "throttles": meter["throttles"],
    }


def report(r: dict[str, Any]) -> bool:
    case: Case = r["case"]
    print(
        f"\nN={case.images} images, {case.units} IU x {case.tps_per_unit:g} TPS = {case.tps:g} "
        f"provisioned TPS, MaximumConcurrency {r['concurrency']} (derived), batch {BATCH_SIZE}, "
        f"poll {POLL_SECONDS} s, start delay {START_DELAY:g} s"
    )
    print(f"  workflow            {r['status']} ({r['outcome']})")
    print(f"  model RUNNING       {r['running']:8.2f} s")
    print(f"  ideal N/TPS         {r['ideal']:8.2f} s")
    print(f"  ratio               {r['ratio']:8.3f}")
    if r["achieved"] > 0:
        # What the workflow itself adds (start detection, drain checks, tail), with the
        # data path's real throughput as the yardstick instead of the provisioned one.
        control = r["running"] / (case.images / r["achieved"])
        print(f"  control overhead    {control:8.3f}  (RUNNING / (N / achieved), informative)")
    print(f"  idle tail           {r['tail']:8.2f} s  (after the last image finished)")
    print(
        f"  achieved            {r['achieved']:8.2f} images/s ({r['achieved'] / case.tps:.0%} of provisioned)"
    )
    print(
        f"  processed / failed  {r['processed']} / {r['failed']}   lost {r['lost']}   left {r['left']}"
    )
    print(f"  throttles           {r['throttles']} (retried by the handler)")
    checks = [
        (f"idle tail <= 2 poll intervals ({2 * POLL_SECONDS} s)", r["tail"] <= 2 * POLL_SECONDS),
        ("achieved >= 90% of provisioned TPS", r["achieved"] >= 0.9 * case.tps),
        ("zero lost images", r["lost"] == 0 and r["left"] == 0),
        ("workflow succeeded (drained)", r["status"] == "SUCCEEDED" and r["outcome"] == "drained"),
    ]
    if case.large:
        checks.append(("ratio to ideal <= 1.25 (large N)", r["ratio"] <= 1.25))
    ok = True
    for label, passed in checks:
        print(f"  {'PASS' if passed else 'FAIL'}  {label}")
        ok = ok and passed
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=200 only")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: the emulator child
    args = parser.parse_args(argv)
    if args.serve:
        spec = json.loads(args.serve)
        serve(Case(**spec["case"]), spec["concurrency"])
        return 0
    cases = CASES[:1] if args.quick else CASES
    results = [report(run_case(case)) for case in cases]
    print("\nPASS" if all(results) else "\nFAIL")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
