"""What `rekbatch` says when something fails: AWS's failures are one line and exit 2;
a bug of its own is one line naming the file that holds the traceback and exit
70 in use, and under tests (REKBATCH_DEBUG, set by tests/conftest.py) the
exception itself, traceback and all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli import errors, operations
from cli.errors import EXIT_INTERNAL, EXIT_USER, UnexpectedResponse, reading
from cli.main import main
from infra import outputs as out


@pytest.fixture
def outputs_file(tmp_path: Path) -> str:
    path = tmp_path / "outputs.json"
    arn = "arn:aws:rekognition:us-east-1:123456789012:project/p/1"
    path.write_text(
        json.dumps(
            {
                out.QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                out.DLQ_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
                out.STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
                out.PROJECT_ARN: arn,
                out.VERSION_NAME: "v1",
                out.FINAL_BUCKET: "final",
                out.REGION: "us-east-1",
            }
        )
    )
    return str(path)


def a_bug(*args, **kwargs):
    return {}["no such key"]  # a KeyError of the CLI's own, no AWS involved


def test_reading_turns_a_malformed_response_into_unexpected_response():
    with (
        pytest.raises(UnexpectedResponse, match=r"ListThings: KeyError: 'Things'"),
        reading("ListThings"),
    ):
        {}["Things"]  # noqa: B018 - the read under test


def test_reading_lets_other_failures_through():
    with pytest.raises(RuntimeError), reading("ListThings"):
        raise RuntimeError("not about the response")


def test_a_bug_in_use_is_one_line_naming_the_traceback_file_and_exit_70(
    outputs_file, capsys, monkeypatch, tmp_path
):
    monkeypatch.delenv("REKBATCH_DEBUG")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr("cli.status.status_data", a_bug)

    code = main(["status", "--plain", "--outputs", outputs_file])

    captured = capsys.readouterr()
    assert code == EXIT_INTERNAL == 70
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "internal error (KeyError" in lines[0] and "unexpected response" not in lines[0]
    path = Path(re.search(r"the traceback is in (\S+)$", lines[0]).group(1))
    assert path.parent == tmp_path
    written = path.read_text()
    assert written.startswith("Traceback") and "a_bug" in written and "no such key" in written


def test_a_bug_under_tests_raises_with_its_traceback(outputs_file, monkeypatch):
    monkeypatch.setattr("cli.status.status_data", a_bug)
    with pytest.raises(KeyError, match="no such key"):
        main(["status", "--plain", "--outputs", outputs_file])


def test_a_malformed_aws_response_is_not_called_a_bug(outputs_file, capsys, monkeypatch):
    monkeypatch.delenv("REKBATCH_DEBUG")

    class Sqs:
        def get_queue_attributes(self, **kwargs):
            return {"Attributes": {"ApproximateNumberOfMessages": "many"}}

    def status_data(aws, stack, runs):
        return {"queue": operations.queue_depth(Sqs(), "url")}

    monkeypatch.setattr("cli.status.status_data", status_data)
    code = main(["status", "--plain", "--outputs", outputs_file])
    err = capsys.readouterr().err
    assert code == EXIT_USER
    assert err.startswith("error: unexpected response from AWS (GetQueueAttributes: ValueError")


def test_write_traceback_keeps_the_whole_chain(tmp_path):
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        path = Path(errors.write_traceback(exc, str(tmp_path)))
    text = path.read_text()
    assert "KeyError: 'inner'" in text and "RuntimeError: outer" in text


def test_a_local_file_error_is_one_line_naming_the_file_not_a_bug(
    outputs_file, capsys, monkeypatch, tmp_path
):
    monkeypatch.delenv("REKBATCH_DEBUG")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    def unwritable(aws, stack, runs):
        raise PermissionError(13, "Permission denied", "/home/me/.cache/rekbatch/x")

    monkeypatch.setattr("cli.status.status_data", unwritable)
    code = main(["status", "--plain", "--outputs", outputs_file])

    err = capsys.readouterr().err
    assert code == EXIT_USER
    assert err.strip() == "error: /home/me/.cache/rekbatch/x: Permission denied"
    assert not list(tmp_path.glob("rekbatch-*"))  # no traceback file: not a bug


def test_compact_refuses_a_before_day_in_the_future(outputs_file, capsys):
    from datetime import UTC, datetime, timedelta

    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    code = main(["compact", "--before", tomorrow, "--outputs", outputs_file])

    assert code == EXIT_USER
    assert "is not over (UTC)" in capsys.readouterr().err
