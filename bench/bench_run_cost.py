"""What a run costs at the production defaults: idle model time, units, transitions.

On the local emulator, with the state machine built from the production
defaults of every wait and poll (not scaled: 60 s longest drain wait shrinking
to 2 s, the default drain confirmation, the describe ladder while starting, the 10 s
guard settle), only the model's start delay shortened (START_DELAY) and its
images/s per unit set per case:

- trickle: TRICKLE_N images, 1 unit at 5 images/s, RUNS runs on one stack:
  billed model seconds per run split into start-up (RUNNING to the first
  image), work (first to last image) and idle tail (last image to the stop),
  model time / ideal (N / TPS);
- flood: FLOOD_N images planned by backlog-aware sizing (tpsPerUnit and
  targetRunMinutes chosen so the plan is 3+ units) against the same N at 1
  unit: time to drain (model RUNNING to queue empty) and inference-unit
  seconds of both;
- Step Functions transitions per run (StateEntered events of the execution
  history) and their cost at the STANDARD price, against the model cost;
- the describe cadence at an AWS-like 20-minute start, computed from the
  definition: transitions, their cost, and the expected time billed before the
  run notices RUNNING (half the describe interval at that point).

Goals (PASS/FAIL, non-zero exit on any FAIL): mean idle overhead per trickle
run <= 15 s; trickle model time / ideal <= 1.3; the flood drains >= 2.5x faster
than 1 unit at <= 1.15x its IU-seconds; transitions cost <= 5% of the model
cost of a trickle run; zero images lost in every case.

    .venv/bin/python bench/bench_run_cost.py
    .venv/bin/python bench/bench_run_cost.py --runs 3 --flood 480
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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_model_time import BATCH_SIZE, IMAGE_SECONDS, RemoteAws, Sampler  # noqa: E402
from harness import EmulatorChild, announce, drop_test_events, upload_backlog  # noqa: E402

from cli.operations import count_objects, document_keys, finish_run, start_run  # noqa: E402
from emulator.server import LocalAws  # noqa: E402
from emulator.workflow import FAST_WORKFLOW, lambda_service  # noqa: E402
from infra import outputs as out  # noqa: E402
from infra.sizing import derive_concurrency  # noqa: E402
from infra.statemachine import WorkflowOptions, WorkflowParams  # noqa: E402

VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/cost/version/cost.v1/1700000000000"
)
START_DELAY = 20.0  # AWS: 10-30 minutes (see the computed 20-minute start below)
STOP_DELAY = 0.5
DETECT_LATENCY = 0.05
PRICE_IU_HOUR = 4.0  # USD per inference-unit hour
PRICE_TRANSITION = 0.025 / 1000  # USD per STANDARD state transition
TRICKLE_N, TRICKLE_TPS, RUNS = 200, 5.0, 3
FLOOD_N, FLOOD_TPS_PER_UNIT, FLOOD_TARGET_MINUTES, FLOOD_MAX_UNITS = 480, 2.0, 1, 4
AWS_START_SECONDS = 20 * 60
OLD_DESCRIBE_SECONDS = 30  # the fixed describe interval this ladder replaced


def production_waits() -> dict[str, Any]:
    """Every option the scaled scenarios shorten, at its production default."""
    defaults = WorkflowOptions()
    return {name: getattr(defaults, name) for name in FAST_WORKFLOW}


@dataclass(frozen=True)
class Case:
    name: str
    images: int
    runs: int
    tps_per_unit: float
    min_units: int
    target_run_minutes: int = 0
    max_planned_units: int = 4

    def concurrency_by_units(self) -> tuple[int, ...]:
        bound = max(self.max_planned_units, self.min_units)
        return tuple(
            derive_concurrency(u, self.tps_per_unit, IMAGE_SECONDS, batch_size=BATCH_SIZE)
            for u in range(1, bound + 1)
        )


def serve(case: Case) -> None:
    """Child process: moto + the model emulator + the state machine ("AWS")."""
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    with LocalAws() as aws:
        aws.model.configure(
            start_delay=START_DELAY,
            stop_delay=STOP_DELAY,
            tps_per_unit=case.tps_per_unit,
            latency=DETECT_LATENCY,
        )
        aws.model.create(VERSION_ARN, "TRAINING_COMPLETED")
        concurrency = case.concurrency_by_units()
        outputs = provision(aws, case, concurrency)
        announce({"endpoint": aws.endpoint, "outputs": outputs})
        for line in sys.stdin:
            if line.strip() == "meter":
                meter = aws.model.meter()
                meter["admissions"] = aws.model.admissions(VERSION_ARN)
                announce(meter)


def provision(aws: Any, case: Case, concurrency: tuple[int, ...]) -> dict[str, Any]:
    from emulator.workflow import provision_stack

    return provision_stack(
        aws,
        project_version_arn=VERSION_ARN,
        batch_size=BATCH_SIZE,
        maximum_concurrency=concurrency[case.min_units - 1],
        min_inference_units=case.min_units,
        **production_waits(),
        tps_per_unit=case.tps_per_unit,
        target_run_minutes=case.target_run_minutes,
        max_planned_units=case.max_planned_units,
        concurrency_by_units=concurrency,
    )


def transitions(sfn: Any, execution_arn: str) -> int:
    """State transitions Step Functions bills: one per state entered."""
    count = 0
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        count += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
    return count


def run_case(case: Case) -> list[dict[str, Any]]:
    child = EmulatorChild(__file__, dataclasses.asdict(case))
    runs: list[dict[str, Any]] = []
    try:
        aws = RemoteAws(child.endpoint)
        outputs = child.outputs
        s3, sfn = aws.client("s3"), aws.client("stepfunctions")
        drop_test_events(aws.client("sqs"), outputs[out.QUEUE_URL])
        for number in range(case.runs):
            upload_backlog(s3, aws.client("sqs"), outputs, case.images, f"run{number}/")
            before = child.meter()
            with (
                contextlib.redirect_stdout(io.StringIO()),
                lambda_service(aws, outputs),
                Sampler(aws, outputs) as sampler,
            ):
                execution = start_run(sfn, outputs[out.STATE_MACHINE_ARN])
                result = finish_run(sfn, s3, outputs, execution, timeout=1800)
                time.sleep(0.2)
            after = child.meter()
            admissions = after["admissions"][len(before["admissions"]) :]
            running = after["running_seconds"] - before["running_seconds"]
            unit_seconds = after["inference_unit_seconds"] - before["inference_unit_seconds"]
            first, last = (admissions[0], admissions[-1]) if admissions else (0.0, 0.0)
            work = last - first
            runs.append(
                {
                    "status": result.status,
                    "outcome": result.outcome,
                    "plan": (result.summary or {}).get("plan", {}),
                    "running": running,
                    "unit_seconds": unit_seconds,
                    "startup": first - sampler.running_from if sampler.running_from else math.nan,
                    "work": work,
                    "tail": (sampler.running_to or last) - last,
                    "drain_time": (sampler.drained_at or 0) - (sampler.running_from or 0),
                    "transitions": transitions(sfn, execution),
                }
            )
        keys = document_keys(s3, outputs)
        left = count_objects(s3, outputs[out.SOURCE_BUCKET])
    finally:
        child.close()
    processed = len(keys.results)
    failed = len(keys.errors)
    lost = case.images * case.runs - processed - failed - left
    for run in runs:
        run.update(lost=lost, left=left, processed=processed)
    return runs


def describe_cadence(seconds: int) -> dict[str, float]:
    """The describe ladder at a start of ``seconds``, computed from the definition's
    params: describes, their transitions and cost, and the expected billed lateness."""
    p = WorkflowParams(**_stub_resources(), model_start_timeout_seconds=max(seconds * 2, 2700))
    elapsed = polls = 0.0
    interval = float(p.model_poll_seconds)
    previous = 0
    for upto, every in p.start_polls():
        for _ in range(upto - previous):
            if elapsed >= seconds:
                break
            elapsed += every
            polls += 1
            interval = every
        previous = upto
    # ActOnModelStatus, CountModelWait<n>s, WaitForModel<n>s, DescribeModel and the two states
    # that read its one item (DescribeModelHasVersion, DescribeModelReadVersion)
    per_poll = 6
    return {
        "describes": polls,
        "transitions": polls * per_poll,
        "cost": polls * per_poll * PRICE_TRANSITION,
        "lateness": interval / 2,
        "lateness_cost": interval / 2 * PRICE_IU_HOUR / 3600,
    }


def _stub_resources() -> dict[str, Any]:
    return {
        "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "project_arn": "arn:aws:rekognition:us-east-1:123456789012:project/p/1",
        "project_version_arn": "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v/1",
        "version_name": "v",
        "event_source_mapping_uuid": "u",
        "final_bucket": "b",
    }


def report(
    trickle: list[dict[str, Any]], flood: list[dict[str, Any]], one: list[dict[str, Any]]
) -> bool:
    ideal = TRICKLE_N / TRICKLE_TPS
    print(
        f"\ntrickle: N={TRICKLE_N} per run, 1 IU x {TRICKLE_TPS:g} images/s, start delay {START_DELAY:g} s"
    )
    head = f"{'run':<5}{'RUNNING s':>10}{'start-up':>10}{'work':>8}{'tail':>8}{'idle':>8}{'/ideal':>8}{'transitions':>13}{'SFN $':>10}{'model $':>10}{'SFN/model':>11}"
    print(head)
    idles, ratios, shares = [], [], []
    for number, r in enumerate(trickle, 1):
        idle = r["startup"] + r["tail"]
        model_cost = r["unit_seconds"] * PRICE_IU_HOUR / 3600
        sfn_cost = r["transitions"] * PRICE_TRANSITION
        idles.append(idle)
        ratios.append(r["running"] / ideal)
        shares.append(sfn_cost / model_cost if model_cost else math.inf)
        print(
            f"{number:<5}{r['running']:>10.1f}{r['startup']:>10.1f}{r['work']:>8.1f}{r['tail']:>8.1f}"
            f"{idle:>8.1f}{r['running'] / ideal:>8.2f}{r['transitions']:>13}{sfn_cost:>10.4f}"
            f"{model_cost:>10.4f}{sfn_cost / model_cost:>11.1%}"
        )
    mean_idle = sum(idles) / len(idles)
    mean_ratio = sum(ratios) / len(ratios)
    print(f"mean idle overhead {mean_idle:.1f} s per run; mean model time / ideal {mean_ratio:.2f}")

    (f,), (o,) = flood, one
    speedup = o["drain_time"] / f["drain_time"] if f["drain_time"] else 0.0
    iu_ratio = f["unit_seconds"] / o["unit_seconds"] if o["unit_seconds"] else math.inf
    print(
        f"\nflood: N={FLOOD_N}, {FLOOD_TPS_PER_UNIT:g} images/s per unit; sizing tpsPerUnit "
        f"{FLOOD_TPS_PER_UNIT:g}, targetRunMinutes {FLOOD_TARGET_MINUTES}, bound {FLOOD_MAX_UNITS}"
    )
    print(f"{'':<28}{'planned':>14}{'1 unit':>14}")
    print(
        f"{'units (plan)':<28}{f['plan'].get('units', '?')!s:>14}{o['plan'].get('units', '?')!s:>14}"
    )
    print(
        f"{'MaximumConcurrency (plan)':<28}{f['plan'].get('concurrency', '?')!s:>14}{o['plan'].get('concurrency', '?')!s:>14}"
    )
    print(f"{'time to drain (RUNNING->0)':<28}{f['drain_time']:>13.1f}s{o['drain_time']:>13.1f}s")
    print(f"{'model RUNNING':<28}{f['running']:>13.1f}s{o['running']:>13.1f}s")
    print(f"{'inference-unit seconds':<28}{f['unit_seconds']:>14.1f}{o['unit_seconds']:>14.1f}")
    print(f"{'transitions':<28}{f['transitions']:>14}{o['transitions']:>14}")
    print(f"speed-up {speedup:.2f}x at {iu_ratio:.3f}x the IU-seconds")

    print(
        f"\ndescribe cadence at an AWS-like {AWS_START_SECONDS // 60}-minute start (computed from the definition):"
    )
    ladder = describe_cadence(AWS_START_SECONDS)
    old_polls = AWS_START_SECONDS / OLD_DESCRIBE_SECONDS
    old = {
        "describes": old_polls,
        "cost": old_polls * 5 * PRICE_TRANSITION,
        "lateness": OLD_DESCRIBE_SECONDS / 2,
        "lateness_cost": OLD_DESCRIBE_SECONDS / 2 * PRICE_IU_HOUR / 3600,
    }
    for label, c in (("ladder (now)", ladder), (f"fixed {OLD_DESCRIBE_SECONDS} s (before)", old)):
        print(
            f"  {label:<20} {c['describes']:>5.0f} describes, SFN ${c['cost']:.4f}; expected "
            f"{c['lateness']:.1f} s billed before RUNNING is noticed (${c['lateness_cost']:.4f} per IU)"
        )
    short = describe_cadence(int(START_DELAY))
    print(
        f"  at the bench's {START_DELAY:g} s start: {short['describes']:.0f} describes, "
        f"SFN ${short['cost']:.5f}, expected lateness {short['lateness']:.1f} s"
    )

    lost = sum(r["lost"] + r["left"] for r in (trickle[-1], f, o))
    goals = [
        ("mean idle overhead per run <= 15 s", mean_idle <= 15),
        ("trickle model time / ideal <= 1.3", mean_ratio <= 1.3),
        ("flood drains >= 2.5x faster than 1 unit", speedup >= 2.5),
        ("... at <= 1.15x its IU-seconds", iu_ratio <= 1.15),
        ("transitions <= 5% of the trickle's model cost", max(shares) <= 0.05),
        ("zero images lost", lost == 0),
        ("every run drained", all(r["outcome"] == "drained" for r in (*trickle, f, o))),
    ]
    print()
    for label, ok in goals:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return all(ok for _, ok in goals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="trickle runs (>= 3)")
    parser.add_argument("--flood", type=int, default=FLOOD_N, help="flood images")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Case(**json.loads(args.serve)))
        return 0
    globals()["FLOOD_N"] = args.flood
    started = time.monotonic()
    print(f"trickle: {args.runs} runs of {TRICKLE_N} images ...", flush=True)
    trickle = run_case(Case("trickle", TRICKLE_N, max(3, args.runs), TRICKLE_TPS, 1))
    print(f"flood: {args.flood} images, planned ...", flush=True)
    flood = run_case(
        Case(
            "flood",
            args.flood,
            1,
            FLOOD_TPS_PER_UNIT,
            1,
            target_run_minutes=FLOOD_TARGET_MINUTES,
            max_planned_units=FLOOD_MAX_UNITS,
        )
    )
    print(f"flood: {args.flood} images, 1 unit ...", flush=True)
    one = run_case(Case("one-unit", args.flood, 1, FLOOD_TPS_PER_UNIT, 1, max_planned_units=1))
    ok = report(trickle, flood, one)
    print(f"\n{'PASS' if ok else 'FAIL'}  ({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
