"""Benchmark: how long ``rekbatch doctor`` takes, against its goal of well under a
minute (it is run after every `pulumi up`, before the first run).

The stack is the one the demo provisions, on the local emulator in this
process (moto + the model emulator + the TestState and SimulatePrincipalPolicy
shims). Each repeat is a whole doctor run (DescribeStateMachine, every Task
checked, the portability probes, the stack checks, 8 at a time), timed from the
first call to the last row. The emulator answers in milliseconds where AWS
takes tens to hundreds (TestState runs the real call): the figure here is the
doctor's own overhead plus the emulator's, the calls per run are what AWS sees.

Goal: every run under 30 s (half the minute), no FAIL on the provisioned stack.
Prints PASS/FAIL and exits 1 on a FAIL.

    .venv/bin/python bench/bench_doctor.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_SECONDS = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from cli.aws import Aws
    from cli.demo import DEMO_VERSION_ARN
    from cli.doctor import FAIL, run_doctor
    from cli.stack import Stack
    from emulator.server import LocalAws
    from emulator.workflow import provision_stack

    with LocalAws() as aws:
        outputs = provision_stack(aws, project_version_arn=DEMO_VERSION_ARN)
        os.environ.update(aws.env())
        calls: Counter[str] = Counter()

        def count(event_name: str, **_: Any) -> None:
            calls[event_name.split(".", 1)[1]] += 1

        seconds, failed, rows = [], 0, 0
        for _ in range(args.repeat):
            client = Aws(aws.region)
            calls.clear()
            for service in (
                "stepfunctions",
                "iam",
                "sqs",
                "s3",
                "lambda",
                "rekognition",
                "sns",
                "logs",
                "scheduler",
            ):
                client.client(service).meta.events.register("before-call", count)
            report = run_doctor(client, Stack(dict(outputs)))
            seconds.append(report.seconds)
            failed += sum(1 for row in report.rows if row.result == FAIL)
            rows = len(report.rows)
    worst_run = max(seconds)
    print(f"doctor runs: {args.repeat}, rows per run: {rows}, FAIL rows: {failed}")
    print(
        f"seconds per run: median {statistics.median(seconds):.2f}, worst {worst_run:.2f} "
        f"(goal < {GOAL_SECONDS:.0f})"
    )
    print("AWS calls per run: " + ", ".join(f"{name} {n}" for name, n in sorted(calls.items())))
    ok = worst_run < GOAL_SECONDS and failed == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
