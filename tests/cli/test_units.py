"""Pure parts of the CLI: stack discovery, error messages, event encoding, figures."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

from cli import stack as stackmod
from cli.backfill import SourceObject, s3_event, s3_event_key
from cli.errors import UserError, explain
from cli.follow import Snapshot
from cli.results import Box, Item, Label, to_csv
from cli.runs import execution_arn, figures, parse_time
from cli.ui import Ui, human_bytes
from infra import outputs as out
from runtime.events import parse_message

VERSION_ARN = "arn:aws:rekognition:eu-west-1:123456789012:project/p/version/p.v2/1700000000000"


def client_error(code: str, op: str = "GetObject", message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


# -- stack discovery ---------------------------------------------------------------


def test_flag_and_env_names_follow_the_output_names():
    assert stackmod.env_var(out.SOURCE_BUCKET) == "REKBATCH_SOURCE_BUCKET"
    assert stackmod.flag(out.STATE_MACHINE_ARN) == "--state-machine-arn"
    assert (
        stackmod.env_var(out.PRICE_PER_INFERENCE_UNIT_HOUR)
        == "REKBATCH_PRICE_PER_INFERENCE_UNIT_HOUR"
    )


def test_precedence_is_flags_then_env_then_file_then_pulumi(tmp_path, monkeypatch):
    saved = tmp_path / "o.json"
    saved.write_text(
        json.dumps({"sourceBucket": "file", "finalBucket": "file", "queueUrl": "file"})
    )
    monkeypatch.setattr(stackmod.shutil, "which", lambda name: "/usr/bin/pulumi")

    def runner(cmd, **kwargs):
        assert cmd[1:] == ["stack", "output", "--json", "--stack", "dev"]
        body = {
            "sourceBucket": "pulumi",
            "finalBucket": "pulumi",
            "queueUrl": "pulumi",
            "dlqUrl": "pulumi",
        }
        return subprocess.CompletedProcess(cmd, 0, json.dumps(body), "")

    found = stackmod.discover(
        {"sourceBucket": "flag", "finalBucket": None},
        {"REKBATCH_SOURCE_BUCKET": "env", "REKBATCH_FINAL_BUCKET": "env"},
        outputs_file=str(saved),
        stack_name="dev",
        runner=runner,
    )

    assert found.require("sourceBucket", "finalBucket", "queueUrl", "dlqUrl") == (
        "flag",
        "env",
        "file",
        "pulumi",
    )
    assert found.origins["dlqUrl"] == "pulumi stack dev"


def test_pulumi_is_not_asked_when_nothing_is_missing(monkeypatch):
    monkeypatch.setattr(stackmod.shutil, "which", lambda name: "/usr/bin/pulumi")

    def runner(cmd, **kwargs):
        raise AssertionError("pulumi must not run")

    found = stackmod.discover({"sourceBucket": "b"}, {}, needed=["sourceBucket"], runner=runner)
    assert found.get("sourceBucket") == "b"


def test_an_undeployed_stack_says_so(monkeypatch):
    monkeypatch.setattr(stackmod.shutil, "which", lambda name: "/usr/bin/pulumi")

    def runner(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, "{}", "")

    with pytest.raises(UserError, match="not deployed yet; run `pulumi up`"):
        stackmod.discover({}, {}, stack_name="dev", runner=runner)


def test_a_pulumi_failure_is_the_hint_when_outputs_are_missing(monkeypatch):
    monkeypatch.setattr(stackmod.shutil, "which", lambda name: "/usr/bin/pulumi")

    def runner(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 255, "", "error: no stack selected\n")

    found = stackmod.discover({}, {}, needed=["sourceBucket"], runner=runner)
    with pytest.raises(UserError) as raised:
        found.require("sourceBucket")
    assert "--source-bucket or REKBATCH_SOURCE_BUCKET" in str(raised.value)
    assert "no stack selected" in str(raised.value)


def test_bad_outputs_file_is_a_user_error(tmp_path):
    bad = tmp_path / "o.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UserError, match="not a JSON object"):
        stackmod.discover({}, {}, outputs_file=str(bad))
    with pytest.raises(UserError, match="outputs file not found"):
        stackmod.discover({}, {}, outputs_file=str(tmp_path / "missing.json"))


def test_region_comes_from_the_stack_not_the_environment():
    by_arn = stackmod.Stack({out.PROJECT_VERSION_ARN: VERSION_ARN})
    by_url = stackmod.Stack({out.QUEUE_URL: "https://sqs.ap-south-1.amazonaws.com/1/q"})
    explicit = stackmod.Stack({out.REGION: "us-west-2", out.PROJECT_VERSION_ARN: VERSION_ARN})
    assert (by_arn.region, by_url.region, explicit.region) == (
        "eu-west-1",
        "ap-south-1",
        "us-west-2",
    )
    assert stackmod.Stack({}).region is None


def test_version_name_is_derived_from_the_version_arn():
    found = stackmod.discover({out.PROJECT_VERSION_ARN: VERSION_ARN}, {})
    assert found.get(out.VERSION_NAME) == "p.v2"
    assert found.get(out.PROJECT_ARN) is None  # needs the project's own timestamp: no guess


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (NoCredentialsError(), "no AWS credentials found"),
        (NoRegionError(), "no AWS region"),
        (client_error("ExpiredToken"), "AWS rejected the credentials"),
        (client_error("AccessDenied"), "access denied (GetObject on the thing)"),
        (client_error("PermanentRedirect"), "the thing lives in another region"),
        (client_error("NoSuchBucket"), "the thing does not exist"),
        (client_error("AWS.SimpleQueueService.NonExistentQueue"), "the thing does not exist"),
        (
            client_error("ResourceNotFoundException", "DescribeProjectVersions"),
            "check the model ARN",
        ),
        (client_error("ThrottlingException"), "AWS throttled GetObject"),
        (client_error("Weird"), "AWS error Weird in GetObject: boom"),
    ],
)
def test_known_failures_become_one_actionable_sentence(exc, expected):
    message = explain(exc, "the thing")
    assert expected in message
    assert "\n" not in message


# -- backfill messages -------------------------------------------------------------


@pytest.mark.parametrize("key", ["a b.jpg", "a+b.jpg", "dir/ü ñ.png", "100%.jpg", "x?y#z&.jpeg"])
def test_event_keys_decode_back_to_the_key(key):
    assert unquote_plus(s3_event_key(key)) == key


def test_backfill_message_is_what_the_runtime_parses():
    now = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    body = s3_event("src", SourceObject("a b+c.jpg", 42, "etag"), "eu-west-1", now)
    parsed = parse_message(json.dumps(body))
    (obj,) = parsed.objects
    assert (obj.bucket, obj.key, obj.size) == ("src", "a b+c.jpg", 42)
    assert body["Records"][0]["eventTime"] == "2026-11-25T10:00:00.123Z"


# -- results -----------------------------------------------------------------------


def test_boxes_are_clamped_to_the_image_for_drawing():
    box = Box(-0.1, 0.9, 0.5, 0.3).clamped()
    assert box.left == 0 and box.width == pytest.approx(0.4)
    assert box.top == pytest.approx(0.9) and box.height == pytest.approx(0.1)


def test_csv_quotes_keys_and_serialises_boxes_as_json():
    items = [
        Item("a,b.jpg", "ok", [Label("Cat", 91.23456, Box(0.1, 0.2, 0.3, 0.4))]),
        Item('q"uote.jpg', "failed", error_code="ImageTooLarge", error_message="over 15 MB"),
    ]
    text = to_csv(items)
    lines = text.splitlines()
    assert lines[0] == "key,label,confidence,box,status,error"
    assert lines[1].startswith('"a,b.jpg",Cat,91.235,"{""Left"":0.1,""Top"":0.2')
    assert lines[2] == '"q""uote.jpg",,,,failed,ImageTooLarge: over 15 MB'


# -- runs and cost -----------------------------------------------------------------


def test_figures_count_model_minutes_from_running_to_stop():
    summary = {
        "executionName": "r1",
        "outcome": "drained",
        "config": {"minInferenceUnits": 2},
        "backlogAtStart": {"total": 120},
        "queueAtEnd": {"total": 0},
        "startedByThisRun": True,
        "error": None,
        "timestamps": {
            "executionStarted": "2026-11-25T10:00:00.000Z",
            "modelRunning": "2026-11-25T10:05:00.000Z",
            "modelStopRequested": "2026-11-25T10:35:00.000Z",
            "summaryWritten": "2026-11-25T10:35:02.000Z",
        },
    }
    fig = figures(summary, price_per_iu_hour=4.0)
    assert fig.model_minutes == pytest.approx(30)
    assert fig.cost == pytest.approx(4.0)  # 0.5 h x 2 IU x 4 USD
    assert (fig.backlog, fig.left, fig.started_model, fig.error) == (120, 0, True, None)


def test_figures_of_a_run_that_never_started_the_model_cost_nothing():
    fig = figures({"outcome": "nothing-to-do", "timestamps": {"modelRunning": None}}, 4.0)
    assert fig.model_minutes == 0 and fig.cost == 0


def test_failed_run_error_is_readable():
    fig = figures(
        {"outcome": "failed", "error": {"Error": "ModelStartTimeout", "Cause": "45 min"}}, 4.0
    )
    assert fig.error == "ModelStartTimeout: 45 min"


def test_execution_arn_and_times():
    sm = "arn:aws:states:us-east-1:123456789012:stateMachine:orch"
    assert execution_arn(sm, "r1") == "arn:aws:states:us-east-1:123456789012:execution:orch:r1"
    assert parse_time("2026-11-25T10:00:00Z") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_time("nonsense") is None and parse_time(None) is None


# -- output ------------------------------------------------------------------------


def test_snapshot_line_shows_everything_the_live_view_shows():
    snap = Snapshot("r", "RUNNING", "STARTING", 5, 2, 1, 3, 10, 1, 75.0, 1.5, 0.1)
    assert snap.line() == (
        "[01:15] run RUNNING · model STARTING · queue 5 visible / 2 in flight / 1 delayed · "
        "DLQ 3 · done 10 · failed 1 · model 1.5 min ≈ 0.10 USD"
    )


def test_terminal_output_uses_live_widgets_and_pipes_get_plain_lines():
    tty, pipe = io.StringIO(), io.StringIO()
    with Ui(tty, interactive=True).progress("upload", 2, 2000) as meter:
        meter.advance(1, 1000)
        meter.advance(1, 1000)
    with Ui(pipe, interactive=False).progress("upload", 2, 2000) as meter:
        meter.advance(1, 1000)
        meter.advance(1, 1000)
    assert "\x1b[" in tty.getvalue() and "2/2 files" in tty.getvalue()
    assert "\x1b[" not in pipe.getvalue()
    assert pipe.getvalue().startswith("upload: 2/2 files, 2.0 KB/2.0 KB")


def test_human_bytes():
    assert [human_bytes(n) for n in (999, 1500, 2_500_000)] == ["999 B", "1.5 KB", "2.5 MB"]


# -- demo wiring -------------------------------------------------------------------


def test_demo_receives_every_argument(monkeypatch):
    import cli.demo
    from cli.main import main

    seen = []
    monkeypatch.setattr(cli.demo, "main", lambda argv: seen.append(argv) or 3)

    assert main(["demo", "--count", "3", "--out", "x y", "-h"]) == 3
    assert seen == [["--count", "3", "--out", "x y", "-h"]]


def test_the_closing_snapshot_counts_documents_afresh(monkeypatch):
    """The document count is refreshed at most every 5x its listing time; the line
    printed when the run ends must not reuse a count from before the work was done."""
    import io
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from cli import follow

    started = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    listing: list[dict] = []
    executions = iter(["RUNNING", "SUCCEEDED"])

    class FakeSfn:
        def describe_execution(self, executionArn):  # noqa: N803
            return {"status": next(executions), "startDate": started}

        def get_paginator(self, name):  # the execution history: no plan made yet
            return SimpleNamespace(paginate=lambda **_: [{"events": []}])

    class FakeS3:
        def get_paginator(self, name):
            return SimpleNamespace(paginate=lambda **_: [{"Contents": list(listing)}])

    aws = SimpleNamespace(client=lambda name: FakeSfn(), s3=FakeS3())
    stack = SimpleNamespace(
        require=lambda *names: tuple(f"<{n}>" for n in names),
        failed_prefix="failed/",
        runs_prefix="runs/",
        min_inference_units=1,
        price_per_iu_hour=4.0,
    )
    monkeypatch.setattr(follow, "describe_model", lambda *a: {"Status": "RUNNING"})
    monkeypatch.setattr(
        follow, "queue_depths", lambda *a: {"visible": 0, "inFlight": 0, "delayed": 0, "total": 0}
    )
    now = [0.0]

    def clock() -> float:  # every call is 10 s later: a listing that looks very slow
        now[0] += 10.0
        return now[0]

    follower = follow.Follower(
        aws, stack, follow.Ui(io.StringIO(), interactive=False), "arn:x:run-1", clock=clock
    )
    assert follower.poll().done == 0
    later = started + timedelta(minutes=1)
    listing.extend({"Key": f"img{i}.png.json", "LastModified": later} for i in range(4))

    final = follower.poll()
    assert final.status == "SUCCEEDED"
    assert final.done == 4


@pytest.mark.parametrize("interactive", [False, True], ids=["plain", "live view"])
def test_following_stops_at_the_deadline_without_sleeping_past_it(monkeypatch, interactive):
    import io
    from types import SimpleNamespace

    from cli import follow

    class FakeSfn:
        def describe_execution(self, executionArn):  # noqa: N803
            return {"status": "RUNNING"}

        def get_paginator(self, name):
            return SimpleNamespace(paginate=lambda **_: [{"events": []}])

    aws = SimpleNamespace(client=lambda name: FakeSfn(), s3=None)
    stack = SimpleNamespace(
        require=lambda *names: tuple(f"<{n}>" for n in names),
        failed_prefix="failed/",
        runs_prefix="runs/",
        min_inference_units=1,
        price_per_iu_hour=4.0,
    )
    monkeypatch.setattr(follow, "describe_model", lambda *a: {"Status": "STARTING"})
    monkeypatch.setattr(
        follow, "queue_depths", lambda *a: {"visible": 1, "inFlight": 0, "delayed": 0, "total": 1}
    )
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    follower = follow.Follower(
        aws,
        stack,
        follow.Ui(io.StringIO(), interactive=interactive),
        "arn:x:run-1",
        interval=4.0,
        clock=lambda: now[0],
        sleep=sleep,
        count_results=False,
        deadline=10.0,
    )
    with pytest.raises(TimeoutError, match="run-1 still RUNNING"):
        follower.follow()
    assert slept == [4.0, 4.0, 2.0], "the last wait ends at the deadline"
    assert now[0] == 10.0
