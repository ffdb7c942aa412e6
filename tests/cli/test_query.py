"""rekbatch query: the named queries on DuckDB, the local copy, Athena's calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cli import query
from runtime import dataset, documents, tables

ARN = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v/1"
ROOT = Path(__file__).resolve().parents[2]


def result(key: str, labels: list[tuple[str, float]], at: str, etag: str = "e") -> dict[str, Any]:
    return documents.build_result_document(
        source=documents.source_section("src", key, etag, 10),
        final_bucket="final",
        project_version_arn=ARN,
        min_confidence=50.0,
        labels=[{"Name": n, "Confidence": c} for n, c in labels],
        processed_at=at,
    )


def failure(key: str, code: str, at: str) -> dict[str, Any]:
    return documents.build_error_document(
        source=documents.source_section("src", key, "e", 10),
        final_bucket="final",
        failed_prefix="failed/",
        code=code,
        message="why",
        project_version_arn=ARN,
        failed_at=at,
    )


def write_lines(root: Path, day: str, name: str, docs: list[dict[str, Any]]) -> None:
    folder = root / query.RESULTS_DIR / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [dataset.line_from_document(d, request_id=name) for d in docs]
    (folder / f"{name}.jsonl").write_bytes(dataset.dumps_lines(lines))


def write_run(root: Path, name: str, summary: dict[str, Any]) -> None:
    folder = root / query.RUNS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(summary), encoding="utf-8")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """Two days of lines (a redelivered duplicate, a re-upload, failures) and two runs."""
    root = tmp_path / "cache"
    write_lines(
        root,
        "2026-12-01",
        "00-a",
        [
            result("a.png", [("cat", 91.0), ("dog", 55.0)], "2026-12-01T00:00:01.000Z"),
            result("b.png", [("cat", 70.0)], "2026-12-01T00:00:02.000Z"),
            failure("c.txt", "UnsupportedImageType", "2026-12-01T00:00:03.000Z"),
        ],
    )
    write_lines(  # a redelivery of a.png (same etag), c.txt again, a new upload of b.png
        root,
        "2026-12-02",
        "05-b",
        [
            result("a.png", [("cat", 91.0), ("dog", 55.0)], "2026-12-01T00:00:01.000Z"),
            result("b.png", [("dog", 88.0)], "2026-12-02T05:00:01.000Z", etag="e2"),
            failure("d.png", "ImageTooLarge", "2026-12-02T05:00:02.000Z"),
        ],
    )
    base = {"schemaVersion": 2, "outcome": "drained", "config": {"pricePerInferenceUnitHour": 4.0}}
    write_run(
        root,
        "run-1",
        {
            **base,
            "executionName": "run-1",
            "plan": {"units": 2},
            "timestamps": {
                "executionStarted": "2026-12-01T00:00:00.000Z",
                "modelStartRequested": "2026-12-01T00:00:00.000Z",
                "modelStopRequested": "2026-12-01T00:30:00.000Z",
            },
        },
    )
    write_run(
        root,
        "run-2",
        {
            **base,
            "executionName": "run-2",
            "outcome": "nothing-to-do",
            "plan": {"units": None},
            "timestamps": {"executionStarted": "2026-12-02T00:00:00.000Z"},
        },
    )
    return root


def run(root: Path, name: str, *params: Any) -> list[dict[str, Any]]:
    rows = query.run_local(root, tables.named_query(name).sql, list(params))
    return [dict(zip(rows.columns, row, strict=True)) for row in rows.rows]


def test_results_columns_are_the_line_keys_in_order():
    assert tuple(name for name, _ in tables.RESULTS_COLUMNS) == dataset.LINE_KEYS


def test_labels_per_image_keeps_the_latest_line_of_each_image(cache):
    rows = run(cache, "labels-per-image")

    assert [(r["source_key"], r["label"], r["error_code"]) for r in rows] == [
        ("a.png", "cat", None),
        ("a.png", "dog", None),
        ("b.png", "dog", None),  # the newer upload replaced "cat"
        ("c.txt", None, "UnsupportedImageType"),
        ("d.png", None, "ImageTooLarge"),
    ]


def test_images_with_a_label_above_a_threshold(cache):
    assert [r["source_key"] for r in run(cache, "images-with-label", "dog", 80)] == ["b.png"]
    assert [r["source_key"] for r in run(cache, "images-with-label", "cat", 50.0)] == ["a.png"]


def test_label_counts_per_day_count_each_image_once(cache):
    rows = run(cache, "label-counts-per-day")

    assert [(r["day"], r["label"], r["images"]) for r in rows] == [
        ("2026-12-01", "cat", 1),  # a.png, written twice
        ("2026-12-01", "dog", 1),
        ("2026-12-02", "dog", 1),  # b.png's new upload
    ]


def test_failures_per_day_with_their_codes(cache):
    rows = run(cache, "failures-per-day")

    assert [(r["day"], r["error_code"], r["images"]) for r in rows] == [
        ("2026-12-01", "UnsupportedImageType", 1),
        ("2026-12-02", "ImageTooLarge", 1),
    ]


def test_cost_per_day_and_week_from_the_run_summaries(cache):
    days = run(cache, "cost-per-day")
    weeks = run(cache, "cost-per-week")

    assert [(r["day"], r["runs"], r["model_hours"], r["cost_usd"]) for r in days] == [
        ("2026-12-01", 1, 0.5, 4.0),  # half an hour at 2 units x 4 USD
        ("2026-12-02", 1, 0.0, 0.0),
    ]
    assert [(str(r["week"]), r["runs"], r["cost_usd"]) for r in weeks] == [("2026-11-30", 2, 4.0)]


def test_an_empty_cache_has_empty_tables_with_every_column(tmp_path):
    rows = query.run_local(tmp_path, "SELECT * FROM results")
    assert rows.rows == []
    assert rows.columns == [*dataset.LINE_KEYS, "dt"]
    for named in tables.NAMED_QUERIES:
        params = ["x"] * len(named.parameters)
        assert query.run_local(tmp_path, named.sql, params).rows == []


def test_a_bad_query_is_a_user_error(cache):
    with pytest.raises(query.UserError, match="query failed"):
        query.run_local(cache, "SELECT nope FROM results")


def test_duckdb_reads_json_without_installing_or_downloading_anything(cache, tmp_path):
    """A fresh HOME (DuckDB's extension directory lives there): the query works with
    extension auto-install/auto-load off, and no extension directory appears."""
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "import sys; from cli.query import run_local, connect; from pathlib import Path\n"
        "rows = run_local(Path(sys.argv[1]), 'SELECT count(*) FROM results')\n"
        "con = connect(Path(sys.argv[1]))\n"
        'modes = dict(con.execute("SELECT extension_name, install_mode FROM duckdb_extensions() '
        'WHERE loaded").fetchall())\n'
        "print(rows.rows[0][0], modes['json'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-c", script, str(cache)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["6", "STATICALLY_LINKED"]
    assert list(home.iterdir()) == []


def test_params_are_numbers_when_they_look_like_numbers():
    assert query.parse_params(["defect", "80", "0.5", "-3", "1e3"]) == [
        "defect",
        80,
        0.5,
        -3,
        "1e3",
    ]


def test_athena_literals_quote_text():
    assert query.athena_literal("it's") == "'it''s'"
    assert query.athena_literal(80) == "80"


def test_render_formats():
    rows = query.Rows(["a", "b"], [(1, None), ("x", {"k": 1})])
    assert query.render(rows, "csv") == 'a,b\n1,\nx,"{""k"":1}"\n'
    assert query.render(rows, "json").splitlines()[0] == '{"a": 1, "b": null}'
    table = query.render(rows, "table")
    assert table.splitlines()[0].split() == ["a", "b"] and "(2 rows)" in table


def athena_stubbed() -> tuple[Any, Stubber]:
    client = boto3.client(
        "athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    return client, Stubber(client)


def test_athena_runs_in_the_workgroup_waits_and_reads_every_page():
    client, stub = athena_stubbed()
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q1"},
        {
            "QueryString": "SELECT 1",
            "WorkGroup": "wg",
            "QueryExecutionContext": {"Database": "db"},
            "ExecutionParameters": ["'cat'", "80"],
        },
    )
    for state in ("QUEUED", "RUNNING", "SUCCEEDED"):
        stub.add_response(
            "get_query_execution",
            {
                "QueryExecution": {
                    "QueryExecutionId": "q1",
                    "Status": {"State": state},
                    "Statistics": {"DataScannedInBytes": 42},
                }
            },
            {"QueryExecutionId": "q1"},
        )
    meta = {"ColumnInfo": [{"Name": "label", "Type": "varchar"}]}
    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "ResultSetMetadata": meta,
                "Rows": [
                    {"Data": [{"VarCharValue": "label"}]},
                    {"Data": [{"VarCharValue": "cat"}]},
                ],
            },
            "NextToken": "t",
        },
        {"QueryExecutionId": "q1"},
    )
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"ResultSetMetadata": meta, "Rows": [{"Data": [{"VarCharValue": "dog"}]}]}},
        {"QueryExecutionId": "q1", "NextToken": "t"},
    )
    seen: list[str] = []
    with stub:
        rows = query.run_athena(
            client,
            "SELECT 1",
            ["cat", 80],
            workgroup="wg",
            database="db",
            status=seen.append,
            sleep=lambda _s: None,
        )
    stub.assert_no_pending_responses()
    assert rows == query.Rows(["label"], [("cat",), ("dog",)])
    assert [s.split(": ")[1].split(",")[0] for s in seen] == ["QUEUED", "RUNNING", "SUCCEEDED"]


def test_a_failed_athena_query_says_why():
    client, stub = athena_stubbed()
    stub.add_response("start_query_execution", {"QueryExecutionId": "q2"})
    stub.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "Status": {"State": "FAILED", "StateChangeReason": "COLUMN_NOT_FOUND: nope"}
            }
        },
    )
    with stub, pytest.raises(query.UserError, match="q2 failed: COLUMN_NOT_FOUND"):
        query.run_athena(
            client, "SELECT nope", [], workgroup="wg", database="db", status=lambda _t: None
        )


# -- the command, against the emulator ----------------------------------------------


def put_lines(s3: Any, key: str, docs: list[dict[str, Any]]) -> None:
    lines = [dataset.line_from_document(d, request_id="r") for d in docs]
    s3.put_object(Bucket="final-bucket", Key=key, Body=dataset.dumps_lines(lines))


def test_query_copies_the_dataset_incrementally_and_prints_rows(aws, stack, cli, tmp_path):
    s3 = aws.client("s3")
    now = datetime.now(UTC)
    first = dataset.object_key("results/", now, "one")
    put_lines(s3, first, [result("a.png", [("cat", 90.0)], documents.iso8601(now))])
    s3.put_object(Bucket="final-bucket", Key="a.png.json", Body=b"{}")  # not the dataset
    cache = tmp_path / "c"

    one = cli("query", "SELECT source_key FROM results", "--cache", cache, "--format", "csv")
    assert one.code == 0, one.err
    assert one.out == "source_key\na.png\n"
    assert "1 downloaded" in one.err

    second = dataset.object_key("results/", now, "two")
    put_lines(s3, second, [result("b.png", [("cat", 60.0)], documents.iso8601(now))])
    two = cli("query", "--named", "label-counts-per-day", "--cache", cache, "--format", "json")
    assert two.code == 0, two.err
    assert "1 downloaded" in two.err
    assert json.loads(two.out.splitlines()[0])["images"] == 2

    s3.delete_object(Bucket="final-bucket", Key=first)  # compacted away, say
    three = cli("query", "SELECT count(*) AS n FROM results", "--cache", cache, "--format", "csv")
    assert "1 downloaded, 1 removed" in three.err  # the day is copied again, whole
    assert three.out == "n\n1\n"

    offline = cli("query", "SELECT count(*) AS n FROM results", "--cache", cache, "--offline")
    assert offline.code == 0 and "dataset:" not in offline.err


def test_the_local_copy_keeps_a_few_part_files_per_day(aws, stack, tmp_path, monkeypatch):
    """One part file per sync that brings new objects, merged past MAX_PARTS: DuckDB
    opens a handful of files per day, whatever the bucket holds."""
    s3 = aws.client("s3")
    monkeypatch.setattr(query.DatasetCache, "MAX_PARTS", 2)
    cache = query.DatasetCache(tmp_path, results_prefix="results/", runs_prefix="runs/")
    now = datetime(2026, 12, 3, 10, tzinfo=UTC)
    for n in range(5):
        for m in range(3):
            key = dataset.object_key("results/", now, f"r{n}-{m}")
            put_lines(s3, key, [result(f"{n}-{m}.png", [("cat", 90.0)], documents.iso8601(now))])
        stats = cache.sync(s3, "final-bucket")
        assert stats.downloaded == 3
        parts = sorted(p.name for p in (tmp_path / "results" / "dt=2026-12-03").iterdir())
        assert len(parts) <= 2, parts
    assert query.run_local(tmp_path, "SELECT count(*) FROM results").rows == [(15,)]
    assert cache.sync(s3, "final-bucket").downloaded == 0


def test_after_a_full_listing_only_the_last_hours_are_listed(aws, stack, tmp_path):
    """Objects appear only in the current day and hour: a sync lists from an hour before
    the newest object held; an older addition (a compaction) waits for a full listing."""
    s3 = aws.client("s3")
    cache = query.DatasetCache(tmp_path, results_prefix="results/", runs_prefix="runs/")
    day = datetime(2026, 12, 3, 0, tzinfo=UTC)
    for hour in range(6):
        at = day + timedelta(hours=hour)
        put_lines(
            s3, dataset.object_key("results/", at, f"h{hour}"), [result(f"{hour}.png", [], "x")]
        )
    clock = [1_000_000.0]
    first = cache.sync(s3, "final-bucket", now=lambda: clock[0])
    assert (first.listed, first.downloaded) == (6, 6)

    latest = day + timedelta(hours=5)
    put_lines(s3, dataset.object_key("results/", latest, "late"), [result("late.png", [], "x")])
    put_lines(s3, "results/dt=2026-12-03/01-compacted.jsonl", [result("old.png", [], "x")])
    clock[0] += 3600
    second = cache.sync(s3, "final-bucket", now=lambda: clock[0])
    assert (second.listed, second.downloaded) == (3, 1)  # hours 04 and 05 only: "late"

    clock[0] += query.FULL_LISTING_EVERY_S
    third = cache.sync(s3, "final-bucket", now=lambda: clock[0])
    assert (third.listed, third.downloaded) == (8, 1)  # the full listing finds "old"
    assert query.run_local(tmp_path, "SELECT count(*) FROM results").rows == [(8,)]
    assert cache.sync(s3, "final-bucket", full=True, now=lambda: clock[0]).downloaded == 0


def test_a_part_file_left_by_an_interrupted_sync_is_removed(aws, stack, tmp_path):
    s3 = aws.client("s3")
    cache = query.DatasetCache(tmp_path, results_prefix="results/", runs_prefix="runs/")
    now = datetime(2026, 12, 3, 10, tzinfo=UTC)
    put_lines(s3, dataset.object_key("results/", now, "a"), [result("a.png", [], "x")])
    cache.sync(s3, "final-bucket")
    stray = tmp_path / "results" / "dt=2026-12-03" / "part-99.jsonl"
    stray.write_bytes((tmp_path / "results" / "dt=2026-12-03" / "part-1.jsonl").read_bytes())

    cache.sync(s3, "final-bucket")

    assert not stray.exists()
    assert query.run_local(tmp_path, "SELECT count(*) FROM results").rows == [(1,)]


def test_an_older_summary_stored_as_a_json_string_is_read_locally(aws, stack, cli, tmp_path):
    s3 = aws.client("s3")
    summary = {"executionName": "old-run", "outcome": "drained"}
    s3.put_object(
        Bucket="final-bucket", Key="runs/old-run.json", Body=json.dumps(json.dumps(summary))
    )

    done = cli(
        "query", "SELECT executionname, outcome FROM runs", "--cache", tmp_path, "--format", "csv"
    )

    assert done.code == 0, done.err
    assert done.out == "executionname,outcome\nold-run,drained\n"


def test_named_query_parameters_are_checked(stack, cli):
    done = cli("query", "--named", "images-with-label", "--param", "cat")
    assert done.code == 2
    assert "takes 2 --param value(s) (label name, minimum confidence (0-100)), got 1" in done.err
    assert cli("query", "--named", "nope").code == 2
    assert cli("query").code == 2


def test_list_shows_every_named_query(cli):
    done = cli("query", "--list")
    assert done.code == 0
    for named in tables.NAMED_QUERIES:
        assert named.name in done.out


def test_athena_needs_the_workgroup_and_database_outputs(stack, cli):
    done = cli("query", "SELECT 1", "--athena")
    assert done.code == 2
    assert "--athena-workgroup" in done.err and "--glue-database" in done.err
