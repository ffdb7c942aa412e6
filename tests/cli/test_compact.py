"""rekbatch compact: a closed day's objects merged, the answers of every query unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cli import compact as compaction
from runtime import dataset, documents, tables
from tests.cli.conftest import list_keys
from tests.cli.test_query import put_lines, result

BUCKET = "final-bucket"


def seed(s3, day: datetime, objects: int, start: int = 0) -> None:
    for n in range(objects):
        at = day + timedelta(minutes=n)
        key = dataset.object_key("results/", at, f"{day:%d}-{n}")
        docs = [
            result(f"{day:%d}/{start + n}-{i}.png", [("cat", 90.0)], documents.iso8601(at))
            for i in range(3)
        ]
        put_lines(s3, key, docs)


def answers(cli) -> list[str]:
    return [
        cli(
            "query",
            "--named",
            named.name,
            "--format",
            "csv",
            *(["--param", "cat", "--param", "50"] if named.parameters else []),
        ).out
        for named in tables.NAMED_QUERIES
    ]


def test_closed_days_become_one_object_and_every_query_answers_the_same(aws, stack, cli):
    s3 = aws.client("s3")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for back in (2, 1, 0):
        seed(s3, today - timedelta(days=back), 5)
    redelivered = list_keys(s3, BUCKET, f"results/dt={(today - timedelta(days=1)):%Y-%m-%d}/")[0]
    body = s3.get_object(Bucket=BUCKET, Key=redelivered)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=redelivered.replace(".jsonl", "-again.jsonl"), Body=body)
    before = answers(cli)

    done = cli("compact")

    assert done.code == 0, done.err
    assert "15 line(s) -> 1 object(s), 15 line(s)" in done.out
    assert "18 line(s) -> 1 object(s), 15 line(s)" in done.out  # the redelivery's copies once
    for back, expected in ((2, 1), (1, 1), (0, 5)):  # today is not over: untouched
        day = today - timedelta(days=back)
        assert len(list_keys(s3, BUCKET, f"results/dt={day:%Y-%m-%d}/")) == expected
    assert answers(cli) == before
    again = cli("compact")
    assert again.out.count("nothing to merge") == 2


def test_a_dry_run_changes_nothing(aws, stack, cli):
    s3 = aws.client("s3")
    seed(s3, datetime(2026, 1, 5, tzinfo=UTC), 4)
    keys = list_keys(s3, BUCKET, "results/")

    done = cli("compact", "--dry-run")

    assert "would merge 4 object(s)" in done.out
    assert list_keys(s3, BUCKET, "results/") == keys


def test_large_days_are_split_at_the_size_limit(aws, stack):
    s3 = aws.client("s3")
    seed(s3, datetime(2026, 1, 5, tzinfo=UTC), 6)

    (day,) = compaction.compact(s3, BUCKET, "results/", max_bytes=2000)

    assert len(day.outputs) > 1
    assert len(list_keys(s3, BUCKET, "results/")) == len(day.outputs)
    lines = sum(
        len(dataset.loads_lines(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()))
        for k in day.outputs
    )
    assert lines == 18


def test_an_unreadable_object_is_left_in_place(aws, stack, cli):
    s3 = aws.client("s3")
    seed(s3, datetime(2026, 1, 5, tzinfo=UTC), 2)
    s3.put_object(Bucket=BUCKET, Key="results/dt=2026-01-05/00-bad.jsonl", Body=b"{no")

    done = cli("compact")

    assert "results/dt=2026-01-05/00-bad.jsonl is not JSON Lines of objects" in done.err
    assert "results/dt=2026-01-05/00-bad.jsonl" in list_keys(s3, BUCKET, "results/")


def test_today_is_refused(stack, cli):
    today = datetime.now(UTC).date().isoformat()
    done = cli("compact", "--day", today)
    assert done.code == 2 and "is not over" in done.err
