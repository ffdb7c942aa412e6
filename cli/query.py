"""``rekbatch query``: SQL over the results dataset, on DuckDB locally or on Athena.

Locally (the emulator, or AWS without Athena, or offline afterwards) the
dataset's objects are copied into a cache directory, incrementally: a listing
(paginated) tells which objects are new or changed (ETag), only those are
downloaded, and local copies of objects gone from the bucket (compacted,
expired) are removed. DuckDB then reads the copies under the same table names
and column types as the Glue tables (``runtime/tables.py``), so the named
queries run unchanged in both places. DuckDB's json reader is built into its
wheel: nothing is downloaded at run time (tests/cli/test_query.py checks that
no extension is installed or loaded from elsewhere).

Run summaries written by older versions of the workflow are a JSON string
holding the JSON object; Athena's JSON SerDe can not read those (their rows
are skipped), the local cache stores the object inside.

On Athena (``--athena``): StartQueryExecution in the stack's workgroup and
Glue database, progress while it is queued and running, then the rows
(GetQueryResults, paginated).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from runtime import dataset, tables

from .errors import UserError, error_code
from .operations import body_of
from .ui import Ui

MANIFEST = "manifest.json"
RESULTS_DIR = "results"  # cache layout: <cache>/results/dt=.../*.jsonl, <cache>/runs/*.json
RUNS_DIR = "runs"
ATHENA_POLL_S = (0.5, 1.0, 2.0)
FULL_LISTING_EVERY_S = 24 * 3600  # an incremental copy lists everything once a day
INCREMENTAL_OVERLAP_HOURS = 1  # first polls quicker: most dataset queries take seconds
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def default_cache_dir(bucket: str) -> Path:
    """``$XDG_CACHE_HOME/rekbatch/<bucket>`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rekbatch" / bucket


@dataclass
class SyncStats:
    listed: int = 0
    downloaded: int = 0
    removed: int = 0
    unreadable: list[str] = field(default_factory=list)
    bytes: int = 0


def _list(
    s3: Any, bucket: str, prefix: str, start_after: str | None = None
) -> Iterator[tuple[str, str, int]]:
    """(key, ETag, size) of every object under ``prefix`` (after ``start_after``; every page)."""
    extra = {"StartAfter": start_after} if start_after else {}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **extra)
    for page in pages:
        for obj in page.get("Contents", ()):
            yield obj["Key"], str(obj.get("ETag", "")).strip('"'), int(obj.get("Size", 0))


def _summary_line(body: bytes) -> bytes | None:
    """A run summary as one compact JSON line; an older JSON-string summary unwrapped."""
    try:
        value = json.loads(body)
        if isinstance(value, str):
            value = json.loads(value)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return json.dumps(value, separators=(",", ":")).encode("utf-8") + b"\n"


def _checked_lines(body: bytes) -> bytes | None:
    """A dataset object as it is, if every line is a JSON object (else None: left out)."""
    try:
        dataset.loads_lines(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return body


class DatasetCache:
    """A local copy of ``results/`` and ``runs/`` of the final bucket, kept in step.

    The function writes one small object per invocation; DuckDB (like Athena)
    pays per file opened (bench/bench_dataset.py: 100,000 lines in 10,000
    objects take ~65x longer than in 100). So the copy is not a mirror: the
    objects of one day are concatenated into a few local part files
    (``results/dt=D/part-N.jsonl``), a new part per sync that brings new
    objects, the parts of a day merged into one when there are more than
    ``MAX_PARTS``. The manifest records which part holds each object; a day
    with an object changed or gone from the bucket (a compaction, an expiry)
    is downloaded again whole. Part files the manifest does not name (a sync
    that stopped half-way) are removed before anything else.
    """

    MAX_PARTS = 8

    def __init__(self, root: Path, *, results_prefix: str, runs_prefix: str) -> None:
        self.root = root
        self.results_prefix = results_prefix
        self.runs_prefix = runs_prefix

    @property
    def results_dir(self) -> Path:
        return self.root / RESULTS_DIR

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIR

    def _manifest(self) -> tuple[dict[str, dict[str, Any]], float]:
        """The objects the copy holds, and when the dataset was last listed whole."""
        path = self.root / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}, 0.0
        if not isinstance(data, dict) or not isinstance(data.get("objects"), dict):
            return {}, 0.0
        return data["objects"], float(data.get("fullListingAt") or 0.0)

    def _save(self, manifest: dict[str, dict[str, Any]], full_listing_at: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (MANIFEST + ".tmp")
        data = {"objects": manifest, "fullListingAt": full_listing_at}
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        tmp.replace(self.root / MANIFEST)

    def _start_after(self, manifest: dict[str, dict[str, Any]]) -> str | None:
        """Where an incremental listing of results/ starts: an hour before the newest
        object the copy holds (keys are <prefix>dt=<UTC day>/<UTC hour>-<id>.jsonl and
        the function names each by the time it writes it, so new objects sort after)."""
        newest = max((k for k in manifest if self._day(k) is not None), default=None)
        if newest is None:
            return None
        day, name = newest[len(self.results_prefix) :].split("/")
        try:
            hour = datetime.strptime(f"{day[3:]} {name[:2]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
        except ValueError:
            return None
        back = hour - timedelta(hours=INCREMENTAL_OVERLAP_HOURS)
        return f"{self.results_prefix}dt={back:%Y-%m-%d}/{back:%H}"

    def _day(self, key: str) -> str | None:
        """The partition folder (``dt=...``) of a dataset object; None if not one."""
        if not key.startswith(self.results_prefix) or not key.endswith(dataset.OBJECT_SUFFIX):
            return None
        rest = key[len(self.results_prefix) :].split("/")
        if len(rest) != 2 or not re.fullmatch(r"dt=\d{4}-\d{2}-\d{2}", rest[0]):
            return None
        return rest[0]

    def _run_file(self, key: str) -> Path | None:
        if not key.startswith(self.runs_prefix) or key.startswith(self.results_prefix):
            return None
        name = key[len(self.runs_prefix) :]
        if "/" in name or not name.endswith(".json") or name in (".json", "..json"):
            return None
        return self.runs_dir / name

    def _remove_orphans(self, manifest: dict[str, dict[str, Any]]) -> None:
        named = {entry.get("file") for entry in manifest.values()}
        for folder, pattern in ((self.results_dir, "*/*"), (self.runs_dir, "*")):
            if not folder.is_dir():
                continue
            for path in folder.glob(pattern):
                if path.is_file() and str(path.relative_to(self.root)) not in named:
                    path.unlink()

    def _write(self, path: Path, data: bytes) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return str(path.relative_to(self.root))

    def _new_part(self, day: str) -> Path:
        folder = self.results_dir / day
        numbers = [int(p.stem.split("-")[1]) for p in folder.glob("part-*.jsonl")]
        return folder / f"part-{max(numbers, default=0) + 1}.jsonl"

    def sync(
        self,
        s3: Any,
        bucket: str,
        *,
        concurrency: int = 16,
        progress: Callable[[int, int], None] | None = None,
        full: bool = False,
        now: Callable[[], float] = time.time,
    ) -> SyncStats:
        """Download what is new or changed, drop what is gone; returns the counts.

        The first sync, one a day after that, and ``full`` list every object.
        The others list ``results/`` from an hour before the newest object held
        (objects only ever appear in the current day and hour), so a sync costs
        the listing of the last hours, not of the whole dataset; an object
        added to or removed from an older day (a compaction) is seen at the
        next full listing.
        """
        stats = SyncStats()
        manifest, full_listing_at = self._manifest()
        self._remove_orphans(manifest)
        started = now()
        start_after = None
        if not full and started - full_listing_at < FULL_LISTING_EVERY_S:
            start_after = self._start_after(manifest)
        listed: dict[str, tuple[str, int]] = {}
        for prefix, after in ((self.results_prefix, start_after), (self.runs_prefix, None)):
            for key, etag, size in _list(s3, bucket, prefix, after):
                if self._day(key) is not None or self._run_file(key) is not None:
                    listed[key] = (etag, size)
        stats.listed = len(listed)
        if start_after is None:
            full_listing_at = started
        else:  # the objects before the listing's start are as the copy has them
            for key, held in manifest.items():
                if self._day(key) is not None and key <= start_after:
                    listed.setdefault(key, (str(held.get("etag")), int(held.get("size") or 0)))

        def unchanged(key: str) -> bool:
            entry = manifest.get(key)
            return entry is not None and key in listed and entry.get("etag") == listed[key][0]

        # Days to download again whole: an object of theirs changed or gone.
        rebuild = {
            day for key in manifest if (day := self._day(key)) is not None and not unchanged(key)
        }
        fetch: list[str] = []
        for key in listed:
            day = self._day(key)
            if (day in rebuild) or not unchanged(key):
                fetch.append(key)
        for key in [k for k in manifest if k not in listed]:
            stats.removed += 1
            run_file = self._run_file(key)
            if run_file is not None:
                run_file.unlink(missing_ok=True)
            del manifest[key]
        for day in rebuild:
            for key in [k for k in manifest if self._day(k) == day]:
                del manifest[key]
            shutil.rmtree(self.results_dir / day, ignore_errors=True)

        bodies = self._download(s3, bucket, fetch, concurrency, progress)
        by_day: dict[str, list[str]] = {}
        for key in fetch:
            body = bodies.get(key)
            if body is None:  # gone since the listing: the next sync sees it so
                continue
            stats.downloaded += 1
            stats.bytes += len(body)
            entry: dict[str, Any] = {"etag": listed[key][0], "size": listed[key][1]}
            manifest[key] = entry
            run_file = self._run_file(key)
            if run_file is not None:
                line = _summary_line(body)
                if line is None:
                    entry["unreadable"] = True
                    run_file.unlink(missing_ok=True)
                else:
                    entry["file"] = self._write(run_file, line)
                continue
            if _checked_lines(body) is None:
                entry["unreadable"] = True
                continue
            by_day.setdefault(str(self._day(key)), []).append(key)
        for day, keys in by_day.items():
            data = b"".join(
                b if b.endswith(b"\n") else b + b"\n" for b in (bodies[k] for k in keys)
            )
            name = self._write(self._new_part(day), data)
            for key in keys:
                manifest[key]["file"] = name
            self._merge_parts(day, manifest)
        self._save(manifest, full_listing_at)
        stats.unreadable = sorted(k for k, v in manifest.items() if v.get("unreadable"))
        return stats

    def _merge_parts(self, day: str, manifest: dict[str, dict[str, Any]]) -> None:
        """More than MAX_PARTS local parts for a day: concatenate them into one."""
        parts = sorted((self.results_dir / day).glob("part-*.jsonl"))
        if len(parts) <= self.MAX_PARTS:
            return
        merged = self._new_part(day)
        name = self._write(merged, b"".join(p.read_bytes() for p in parts))
        old = {str(p.relative_to(self.root)) for p in parts}
        for entry in manifest.values():
            if entry.get("file") in old:
                entry["file"] = name
        for part in parts:
            part.unlink()

    def _download(
        self,
        s3: Any,
        bucket: str,
        keys: list[str],
        concurrency: int,
        progress: Callable[[int, int], None] | None,
    ) -> dict[str, bytes]:
        def get(key: str) -> tuple[str, bytes | None]:
            try:
                return key, body_of(s3.get_object(Bucket=bucket, Key=key))
            except ClientError as exc:
                if error_code(exc) in {"NoSuchKey", "404"}:
                    return key, None
                raise

        out: dict[str, bytes] = {}
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            for done, (key, body) in enumerate(pool.map(get, keys), start=1):
                if body is not None:
                    out[key] = body
                if progress is not None:
                    progress(done, len(keys))
        return out


def _columns(columns: Sequence[tuple[str, tables.Type]]) -> str:
    return "{" + ", ".join(f"'{name}': '{tables.duckdb_type(t)}'" for name, t in columns) + "}"


def _empty(columns: Sequence[tuple[str, tables.Type]], extra: str = "") -> str:
    cols = ", ".join(
        f"CAST(NULL AS {tables.duckdb_type(t)}) AS {name.lower()}" for name, t in columns
    )
    return f"SELECT {cols}{extra} WHERE false"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def connect(cache_root: Path) -> Any:
    """A DuckDB connection with the ``results`` and ``runs`` views over the cache."""
    import duckdb

    # Extensions are never installed or loaded at run time: the json reader (and
    # icu, parquet) are statically linked into the wheel.
    con = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    # Athena (Trino) functions the named queries use that DuckDB names otherwise.
    con.execute(
        "CREATE MACRO from_iso8601_timestamp(s) AS "
        "CAST(replace(replace(s, 'T', ' '), 'Z', '') AS TIMESTAMP)"
    )
    results = cache_root / RESULTS_DIR
    if any(results.rglob("*.jsonl")):
        source = (
            f"SELECT * FROM read_json('{_sql_path(results)}/**/*.jsonl', "
            f"format = 'newline_delimited', columns = {_columns(tables.RESULTS_COLUMNS)}, "
            f"hive_partitioning = true, hive_types = {{'{tables.PARTITION_COLUMN}': 'VARCHAR'}})"
        )
    else:
        source = _empty(
            tables.RESULTS_COLUMNS, f", CAST(NULL AS VARCHAR) AS {tables.PARTITION_COLUMN}"
        )
    con.execute(f"CREATE VIEW {tables.RESULTS_TABLE} AS {source}")
    runs = cache_root / RUNS_DIR
    if any(runs.glob("*.json")):
        # JSON keys are matched case-sensitively here: read them as written, then
        # name the columns in lower case as the Glue table does.
        lowered = ", ".join(f'"{name}" AS {name.lower()}' for name, _ in tables.RUNS_COLUMNS)
        source = (
            f"SELECT {lowered} FROM read_json('{_sql_path(runs)}/*.json', "
            f"format = 'newline_delimited', columns = {_columns(tables.RUNS_COLUMNS)})"
        )
    else:
        source = _empty(tables.RUNS_COLUMNS)
    con.execute(f"CREATE VIEW {tables.RUNS_TABLE} AS {source}")
    return con


@dataclass(frozen=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def parse_params(values: Sequence[str]) -> list[Any]:
    """``--param`` values: numbers as numbers, anything else as text."""
    out: list[Any] = []
    for value in values:
        if _NUMBER.match(value):
            out.append(float(value) if "." in value else int(value))
        else:
            out.append(value)
    return out


def run_local(cache_root: Path, sql: str, params: Sequence[Any] = ()) -> Rows:
    import duckdb

    con = connect(cache_root)
    try:
        cursor = con.execute(sql, list(params)) if params else con.execute(sql)
        if cursor.description is None:
            return Rows([], [])
        columns = [d[0] for d in cursor.description]
        return Rows(columns, [tuple(r) for r in cursor.fetchall()])
    except duckdb.Error as exc:
        raise UserError(f"query failed: {exc}") from None
    finally:
        con.close()


def athena_literal(value: Any) -> str:
    """An ExecutionParameters value: Athena substitutes it as SQL text."""
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def run_athena(
    athena: Any,
    sql: str,
    params: Sequence[Any],
    *,
    workgroup: str,
    database: str,
    status: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Rows:
    """StartQueryExecution, wait (reporting state and bytes scanned), then every row."""
    request: dict[str, Any] = {
        "QueryString": sql,
        "WorkGroup": workgroup,
        "QueryExecutionContext": {"Database": database},
    }
    if params:
        request["ExecutionParameters"] = [athena_literal(p) for p in params]
    query_id = athena.start_query_execution(**request)["QueryExecutionId"]
    polls = 0
    try:
        while True:
            execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            state = execution.get("Status", {}).get("State", "QUEUED")
            stats = execution.get("Statistics", {})
            scanned = stats.get("DataScannedInBytes")
            status(
                f"athena {query_id}: {state}"
                + (f", {scanned} bytes scanned" if scanned is not None else "")
                + (
                    f", {stats['EngineExecutionTimeInMillis']} ms"
                    if "EngineExecutionTimeInMillis" in stats
                    else ""
                )
            )
            if state == "SUCCEEDED":
                break
            if state in ("FAILED", "CANCELLED"):
                reason = execution.get("Status", {}).get("StateChangeReason", "")
                raise UserError(f"Athena query {query_id} {state.lower()}: {reason}")
            sleep(ATHENA_POLL_S[min(polls, len(ATHENA_POLL_S) - 1)])
            polls += 1
    except KeyboardInterrupt:
        athena.stop_query_execution(QueryExecutionId=query_id)
        raise
    columns: list[str] = []
    rows: list[tuple[Any, ...]] = []
    first = True
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        result_set = page.get("ResultSet", {})
        if not columns:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = [c.get("Name", "") for c in info]
        for row in result_set.get("Rows", []):
            values = tuple(d.get("VarCharValue") for d in row.get("Data", []))
            if first and list(values) == columns:
                first = False
                continue  # the header row a SELECT's first page starts with
            first = False
            rows.append(values)
    return Rows(columns, rows)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(",", ":"))
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    return str(value)


def render(result: Rows, fmt: str) -> str:
    """The rows as an aligned table, CSV or JSON Lines."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_text(v) for v in row] for row in result.rows)
        return buf.getvalue()
    if fmt == "json":
        return "".join(
            json.dumps(dict(zip(result.columns, row, strict=False)), default=str) + "\n"
            for row in result.rows
        )
    cells = [[_text(v) for v in row] for row in result.rows]
    widths = [len(c) for c in result.columns]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 80)

    def fmt_row(values: Sequence[str]) -> str:
        return "  ".join(
            (v if len(v) <= w else v[: w - 1] + "…").ljust(w)
            for v, w in zip(values, widths, strict=True)
        ).rstrip()

    lines = [fmt_row(result.columns), fmt_row(["-" * w for w in widths])]
    lines += [fmt_row(row) for row in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines) + "\n"


def sync_with_progress(
    cache: DatasetCache, s3: Any, bucket: str, ui: Ui, concurrency: int, full: bool = False
) -> SyncStats:
    """Bring the cache up to date, telling on stderr what it downloads."""
    started = time.monotonic()
    last = [started]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0 or done == total:
            last[0] = now
            print(f"dataset: {done}/{total} new object(s) downloaded", file=ui.err, flush=True)

    stats = cache.sync(s3, bucket, concurrency=concurrency, progress=progress, full=full)
    print(
        f"dataset: {stats.listed} object(s) listed in s3://{bucket}/{cache.results_prefix} and "
        f"{cache.runs_prefix}, {stats.downloaded} downloaded, {stats.removed} removed "
        f"({time.monotonic() - started:.1f} s; cache {cache.root})",
        file=ui.err,
        flush=True,
    )
    for key in stats.unreadable:
        ui.warn(f"s3://{bucket}/{key} is not JSON Lines of objects: left out of the dataset")
    return stats


def named_sql(name: str, params: Sequence[Any]) -> str:
    try:
        query = tables.named_query(name)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    if len(params) != len(query.parameters):
        wanted = ", ".join(query.parameters) or "none"
        raise UserError(
            f"named query {name!r} takes {len(query.parameters)} --param value(s) ({wanted}), "
            f"got {len(params)}"
        )
    return query.sql


def list_named() -> str:
    lines = []
    for query in tables.NAMED_QUERIES:
        params = f" (--param {' --param '.join(p.replace(' ', '_') for p in query.parameters)})"
        lines.append(f"{query.name}{params if query.parameters else ''}\n    {query.description}")
    return "\n".join(lines) + "\n"


__all__ = [
    "DatasetCache",
    "Rows",
    "connect",
    "default_cache_dir",
    "list_named",
    "named_sql",
    "parse_params",
    "render",
    "run_athena",
    "run_local",
    "sync_with_progress",
]
