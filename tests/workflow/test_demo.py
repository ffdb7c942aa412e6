"""``rekbatch demo`` end to end, as a user runs it (a child process, piped output).

The terminal must carry progress and the summary only: the Lambda's JSON logs
and EMF lines go to <out>/logs/lambda.log, moto's log records to
<out>/logs/emulator.log, and the CLI's report is written under <out>/report/.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_demo_terminal_shows_progress_and_summary_only(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    # --count 3: five files (two broken on purpose); a small backlog also takes
    # the workflow's s3:TestEvent peek path before the model starts.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.demo",
            "--count",
            "3",
            "--out",
            str(out_dir),
            "--plain",
            "--model-start-delay",
            "1",
            "--poll-interval",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    terminal = done.stdout + done.stderr

    noise = [
        line
        for line in terminal.splitlines()
        if line.lstrip().startswith("{") or '"level"' in line or "_aws" in line
    ]
    assert not noise, f"JSON log/metric lines on the terminal: {noise[:3]}"
    assert "Exception=" not in terminal
    assert "rekbatch demo: summary" in done.stdout
    # 5 files + the s3:TestEvent: a small backlog, peeked; the test event is dropped.
    assert "1 s3:TestEvent dropped" in done.stdout
    model_row = next(line for line in done.stdout.splitlines() if "│ model " in line)
    assert "STOPPED" in model_row, model_row

    # The Lambda's output is kept, not dropped: JSON log records in lambda.log.
    lambda_log = out_dir / "logs" / "lambda.log"
    records = [
        json.loads(line) for line in lambda_log.read_text().splitlines() if line.startswith("{")
    ]
    assert any(r.get("message") == "image" for r in records), records[:3]
    assert (out_dir / "logs" / "emulator.log").exists()

    # The CLI's report: every uploaded file in the CSV (3 processed + 2 failed).
    html = out_dir / "report" / "report.html"
    assert html.stat().st_size > 0
    assert "<html" in html.read_text().lower()
    with (out_dir / "report" / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len({row["key"] for row in rows}) == 5, rows
    assert sum(1 for row in rows if row["status"] != "ok") == 2, rows
    assert f"report: {html}" in done.stdout  # on its own line, never wrapped

    # It ends with the label counts, queried from the results dataset.
    assert "label counts from the results dataset" in done.stdout
    counts = done.stdout.split("label counts from the results dataset", 1)[1]
    assert "day" in counts and "label" in counts and "images" in counts
    assert "row" in counts and "(0 rows)" not in counts
    # The label alerts the function put on the bus (a local rule -> queue delivered them)
    # and the review count (none among three samples; tests/workflow/test_samples.py
    # shows the default 24 leave some).
    assert "label alerts raised (EventBridge, orange square): 1" in done.stdout
    assert "  shapes/sample-001.jpg: orange square 99.9" in done.stdout
    assert "images for review (labels under their threshold): 0" in done.stdout


@pytest.mark.timeout(120)
def test_demo_timeout_bounds_the_whole_demo_live_view_included(tmp_path: Path) -> None:
    import time

    started = time.monotonic()
    # The model never finishes starting: without the bound the live view would wait
    # for the workflow's own deadlines.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.demo",
            "--count",
            "2",
            "--out",
            str(tmp_path / "demo"),
            "--plain",
            "--model-start-delay",
            "600",
            "--timeout",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 124, done.stdout + done.stderr
    assert "demo timed out after 20 s (--timeout) while" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert elapsed < 20 + 30, "the bound, plus interpreter start and the emulator's shutdown"
