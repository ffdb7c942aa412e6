"""Benchmark: the concurrent inference handler vs a sequential boto3 baseline.

Both run against the same local AWS (moto server + Custom Labels model
emulator, in its own process) with the same injected DetectCustomLabels
latency, on the same images, warm (clients created before timing). The
baseline is what the original AWS sample does: for each record, one after the
other, DetectCustomLabels -> put the result JSON -> copy the image -> delete
the source.

Columns:
- ideal: the best a pool of MAX_CONCURRENCY model calls can do on N equally
  long images, N / ceil(N / MAX_CONCURRENCY) (10 at batch 10, 14.3 at 100).
- T0: the handler's own time on the same batch with zero model latency (all
  its S3 and model requests, served one at a time by the emulator: moto runs
  in one Python process, one GIL); CPU0: the part of T0 spent on CPU in the
  handler's process (aiobotocore and the handler; the emulator has its own).
- bed bound: the best this test bed allows, if all of T0 hid behind the model
  wait: sequential / max(latency * ceil(N / C), T0).
- no overlap: sequential / (latency * ceil(N / C) + T0), what is left if none
  of it does. With one wave (N <= C) every model call waits at the same time,
  so the work after the calls (put, copy, delete of every image) follows the
  wave: expect a figure near this one. Real S3 serves requests in parallel, so
  neither bound exists in AWS.

Goal: at batch 100, a speedup of at least 80% of what this bed allows (the ideal,
or the bed bound where the emulator's own time caps it lower). Batch 10 is shown,
not judged: on a 2-core machine where the emulator and the handler share the CPU,
a fixed multiple there measures the machine (the bed itself allows ~11x, ~7.4x
without overlap), not the handler. Prints PASS/FAIL and exits 1 on a FAIL.

    .venv/bin/python bench/bench_handler.py [--latency 0.15] [--concurrency 16] [--repeat 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/bench/version/bench.v1/1700000000000"
)
SOURCE = "bench-source"
FINAL = "bench-final"


def png() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (256, 256), "white")
    ImageDraw.Draw(img).ellipse([64, 64, 192, 192], fill="blue")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_event(objects: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """One SQS record per image, each holding one S3 ObjectCreated notification.

    ``objects`` maps each key to its (ETag, size), which S3 puts in every
    notification: the handler uses them instead of a HEAD per image.
    """
    records = []
    for i, (key, (etag, size)) in enumerate(objects.items()):
        body = {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": SOURCE},
                        "object": {"key": quote_plus(key), "size": size, "eTag": etag},
                    },
                }
            ]
        }
        records.append(
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": json.dumps(body),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def sequential_baseline(s3: Any, rekognition: Any, event: dict[str, Any], min_conf: float) -> None:
    """The original sample's loop: one record at a time, one call at a time."""
    for record in event["Records"]:
        for s3_record in json.loads(record["body"])["Records"]:
            bucket = s3_record["s3"]["bucket"]["name"]
            key = unquote_plus(s3_record["s3"]["object"]["key"])
            response = rekognition.detect_custom_labels(
                ProjectVersionArn=VERSION_ARN,
                Image={"S3Object": {"Bucket": bucket, "Name": key}},
                MinConfidence=min_conf,
            )
            s3.put_object(
                Bucket=FINAL,
                Key=key + ".json",
                Body=json.dumps(response["CustomLabels"]).encode(),
                ContentType="application/json",
            )
            s3.copy_object(Bucket=FINAL, Key=key, CopySource={"Bucket": bucket, "Key": key})
            s3.delete_object(Bucket=bucket, Key=key)


def upload(s3: Any, keys: list[str], body: bytes) -> dict[str, tuple[str, int]]:
    """Upload ``body`` under every key; returns each key's (ETag, size) for its event."""
    objects = {}
    for key in keys:
        response = s3.put_object(Bucket=SOURCE, Key=key, Body=body, ContentType="image/png")
        objects[key] = (response["ETag"].strip('"'), len(body))
    return objects


def check_done(s3: Any, keys: list[str]) -> None:
    """Both contenders must really have done the work, or the timing means nothing."""
    for key in keys:
        s3.head_object(Bucket=FINAL, Key=key + ".json")
        s3.head_object(Bucket=FINAL, Key=key)
    from cli.operations import count_objects

    left = count_objects(s3, SOURCE)
    if left:
        raise SystemExit(f"benchmark invalid: {left} source object(s) left unprocessed")


# -- the emulator process --------------------------------------------------------


def serve() -> None:
    """Child process: the local AWS and the model; stdin lines set the model latency.

    The emulator runs in its own process so that moto's request handling and
    the code under test do not share one GIL.
    """
    from emulator import LocalAws

    with LocalAws() as aws:
        aws.model.create(VERSION_ARN, status="RUNNING")
        # The model's TPS cap is not what is measured here: latency is.
        aws.model.configure(tps_per_unit=100_000)
        print(aws.endpoint, flush=True)
        for line in sys.stdin:
            aws.model.configure(latency=float(line))
            print("ok", flush=True)


class Emulator:
    def __init__(self) -> None:
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.endpoint = self._read()
        if not self.endpoint.startswith("http"):
            self.child.kill()
            raise SystemExit("the emulator process did not start")

    def _read(self) -> str:
        assert self.child.stdout is not None
        return self.child.stdout.readline().strip()

    def set_latency(self, seconds: float) -> None:
        assert self.child.stdin is not None
        self.child.stdin.write(f"{seconds}\n")
        self.child.stdin.flush()
        if self._read() != "ok":
            raise SystemExit("the emulator process did not answer")

    def close(self) -> None:
        if self.child.stdin:
            self.child.stdin.close()
        self.child.wait(timeout=30)


# -- the benchmark ---------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.15, help="DetectCustomLabels seconds")
    parser.add_argument("--concurrency", type=int, default=16, help="MAX_CONCURRENCY")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (median is used)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0

    emulator = Emulator()
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=emulator.endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_REGION="us-east-1",
            # The handler's per-image log lines would drown the table.
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)
        import boto3

        from runtime.handler import BatchHandler
        from runtime.settings import Settings

        s3 = boto3.client("s3")
        rekognition = boto3.client("rekognition")
        s3.create_bucket(Bucket=SOURCE)
        s3.create_bucket(Bucket=FINAL)
        settings = Settings(
            final_bucket=FINAL, project_version_arn=VERSION_ARN, max_concurrency=args.concurrency
        )
        handler = BatchHandler(settings)
        body = png()

        # Warm both: clients created, connections open, labels cached.
        sequential_baseline(
            s3, rekognition, make_event(upload(s3, ["warm/a.png"], body)), settings.min_confidence
        )
        with contextlib.redirect_stdout(io.StringIO()):
            handler(make_event(upload(s3, ["warm/b.png"], body)), None)

        def run_handler(keys: list[str]) -> tuple[float, float]:
            """Wall and CPU seconds of one invocation (CPU: this process only)."""
            event = make_event(upload(s3, keys, body))
            started, cpu_started = time.perf_counter(), time.process_time()
            # Powertools prints EMF metrics on stdout; keep the table readable.
            with contextlib.redirect_stdout(io.StringIO()):
                response = handler(event, None)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            if response["batchItemFailures"]:
                raise SystemExit(f"benchmark invalid: handler reported {response}")
            check_done(s3, keys)
            return elapsed, cpu

        rows = []
        for size in args.sizes:
            seq_times, conc_times, zero_times, zero_cpus = [], [], [], []
            for run in range(args.repeat):
                print(f"batch {size}: run {run + 1} of {args.repeat} ...", flush=True)
                emulator.set_latency(args.latency)
                keys = [f"seq{size}-{run}/img {i}.png" for i in range(size)]
                event = make_event(upload(s3, keys, body))
                started = time.perf_counter()
                sequential_baseline(s3, rekognition, event, settings.min_confidence)
                seq_times.append(time.perf_counter() - started)
                check_done(s3, keys)

                conc_times.append(
                    run_handler([f"conc{size}-{run}/img {i}.png" for i in range(size)])[0]
                )

                emulator.set_latency(0.0)
                zero, zero_cpu = run_handler([f"zero{size}-{run}/img {i}.png" for i in range(size)])
                zero_times.append(zero)
                zero_cpus.append(zero_cpu)
            rows.append(
                Row(
                    size,
                    *(statistics.median(t) for t in (seq_times, conc_times, zero_times, zero_cpus)),
                    latency=args.latency,
                    concurrency=args.concurrency,
                )
            )
        handler.close()
    finally:
        emulator.close()

    print()
    print(
        f"DetectCustomLabels latency {args.latency * 1000:.0f} ms, "
        f"MAX_CONCURRENCY {args.concurrency}, median of {args.repeat} run(s)"
    )
    print(
        f"{'batch':>6} {'sequential s':>13} {'handler s':>10} {'T0 s':>7} {'CPU0 s':>7} "
        f"{'speedup':>8} {'ideal':>7} {'of ideal':>9} {'bed bound':>10} {'no overlap':>11}"
    )
    for r in rows:
        print(
            f"{r.size:>6} {r.seq:>13.2f} {r.conc:>10.3f} {r.zero:>7.3f} {r.zero_cpu:>7.3f} "
            f"{r.speedup:>7.1f}x {r.ideal:>6.1f}x {r.speedup / r.ideal:>8.0%} "
            f"{r.bed_bound:>9.1f}x {r.no_overlap:>10.1f}x"
        )

    failed = False
    for r in rows:
        if r.size != 100:
            continue
        allowed = min(r.ideal, r.bed_bound)
        goal, text = (
            0.8 * allowed,
            f"80% of what the bed allows {allowed:.1f}x = {0.8 * allowed:.1f}x",
        )
        ok = r.speedup >= goal
        failed |= not ok
        print(
            f"{'PASS' if ok else 'FAIL'}: batch {r.size} speedup {r.speedup:.1f}x >= {text}"
            f" (test bed allows {r.bed_bound:.1f}x, {r.no_overlap:.1f}x without overlap)"
        )
        if not ok:
            print(r.why_not(goal))
    return 1 if failed else 0


class Row:
    """One batch size's medians and what the test bed allows."""

    def __init__(
        self,
        size: int,
        seq: float,
        conc: float,
        zero: float,
        zero_cpu: float,
        *,
        latency: float,
        concurrency: int,
    ) -> None:
        self.size, self.seq, self.conc, self.zero, self.zero_cpu = size, seq, conc, zero, zero_cpu
        self.latency = latency
        self.waves = math.ceil(size / concurrency)
        self.ideal = size / self.waves
        self.speedup = seq / conc
        self.bed_bound = seq / max(latency * self.waves, zero)
        self.no_overlap = seq / (latency * self.waves + zero)

    def why_not(self, goal: float) -> str:
        """Why the goal was missed, from the measured figures."""
        allowed = self.seq / goal  # handler seconds the goal allows
        if self.bed_bound < goal:
            return (
                f"  why: even with all of its own work hidden behind the model calls the handler"
                f" needs max({self.latency * self.waves:.3f} s of model waves, T0"
                f" {self.zero:.3f} s) > {allowed:.3f} s allowed: the test bed is the limit"
            )
        spare = allowed - self.latency * self.waves
        lines = [
            f"  why: the goal allows {allowed * 1000:.0f} ms, {spare * 1000:.0f} ms besides"
            f" {self.waves} model wave(s) of {self.latency * 1000:.0f} ms; the handler's own"
            f" work at zero latency takes T0 = {self.zero * 1000:.0f} ms"
        ]
        if self.waves > 1:
            lines.append(
                f"  ({self.waves} waves: T0 hides behind them only as far as the emulator, which"
                " serves one request at a time, keeps up; T0 is"
                f" {self.zero / (self.latency * self.waves):.0%} of the"
                f" {self.latency * self.waves * 1000:.0f} ms of model time)"
            )
            return "\n".join(lines)
        lines.append(
            "  (one wave: every model call waits at once, so the put/copy/delete of every"
            " image follows the wave instead of hiding behind it)"
        )
        if self.zero_cpu > spare:
            lines.append(
                f"  of which {self.zero_cpu * 1000:.0f} ms is CPU in the handler's own process"
                " (aiobotocore + handler; the emulator runs in another process): by itself more"
                " than the spare time, so even an instant emulator would not reach the goal"
                " unless that CPU hid behind the model wave"
            )
        return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
