"""Run summaries as the workflow stored them: compact JSON (the summary object
as the putObject Body, what AWS writes), a JSON string literal holding the JSON
(earlier versions passed a string Body, which AWS stores quoted), or the raw JSON
text (emulators that stored that string as it was)."""

from __future__ import annotations

import json

import pytest

from cli.operations import parse_summary, read_summary

SUMMARY = {"schemaVersion": 2, "outcome": "drained", "error": None, "note": 'été "q"'}


@pytest.mark.parametrize(
    "stored",
    [
        json.dumps(SUMMARY, separators=(",", ":"), ensure_ascii=False).encode(),
        json.dumps(json.dumps(SUMMARY)).encode(),  # AWS's storage of a string Body
        json.dumps(SUMMARY).encode(),
    ],
    ids=["object-body", "string-literal", "raw-text"],
)
def test_a_summary_reads_in_every_stored_form(stored: bytes) -> None:
    assert parse_summary(stored) == SUMMARY


@pytest.mark.parametrize(
    "stored", [b"", b"not json", b'"just a string"', b"[1, 2]", json.dumps('"x"').encode()]
)
def test_anything_else_is_no_summary(stored: bytes) -> None:
    assert parse_summary(stored) is None


def test_read_summary_reads_a_string_literal_from_the_bucket(aws) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="final")
    s3.put_object(Bucket="final", Key="runs/r1.json", Body=json.dumps(json.dumps(SUMMARY)))
    assert read_summary(s3, "final", "runs/", "r1") == SUMMARY
    assert read_summary(s3, "final", "runs/", "absent") is None
