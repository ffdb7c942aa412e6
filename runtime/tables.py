"""The results dataset's tables and named queries, defined once.

Three readers use this module: the Glue tables of the stack (``infra/results.py``
renders the columns as Hive types), ``rekbatch query`` (``cli/query.py`` renders
them as DuckDB types over a local copy of the same objects) and the Athena named
queries, which the CLI runs unchanged on DuckDB. The SQL therefore keeps to what
Trino (Athena engine 3) and DuckDB both accept: ``CROSS JOIN UNNEST(...) AS
t(x)`` and ``LEFT JOIN UNNEST(...) AS t(x) ON true``, window functions,
``cardinality``, ``date_diff``/``date_trunc``, ``substr``, and
``from_iso8601_timestamp``, which the CLI defines for DuckDB as a macro.

Two tables:

- ``results``: the JSON Lines objects under ``results/dt=YYYY-MM-DD/``
  (``runtime/dataset.py``), partitioned by ``dt`` (a string, the UTC day).
- ``runs``: the run summaries ``runs/<execution>.json``, one compact JSON object
  each (camelCase keys: the OpenX JSON SerDe and DuckDB both match column names
  to keys without regard to case, so the columns are the lowercased keys).

A redelivered image can appear twice with the same (source_key, source_etag):
every query here keeps one line per image (the latest ``processed_at``).

Standard library only: the infra and the CLI import it.
"""

from __future__ import annotations

from dataclasses import dataclass

RESULTS_TABLE = "results"
RUNS_TABLE = "runs"
PARTITION_COLUMN = "dt"  # string yyyy-MM-dd, the UTC day the lines were written
PARTITION_FORMAT = "yyyy-MM-dd"  # Athena partition projection's date format
PARTITION_RANGE_START = "2024-01-01"  # projection range start (end: NOW)


@dataclass(frozen=True)
class Scalar:
    hive: str
    duckdb: str


@dataclass(frozen=True)
class Struct:
    fields: tuple[tuple[str, Type], ...]


@dataclass(frozen=True)
class Array:
    item: Type


Type = Scalar | Struct | Array

STRING = Scalar("string", "VARCHAR")
INT = Scalar("int", "INTEGER")
BIGINT = Scalar("bigint", "BIGINT")
DOUBLE = Scalar("double", "DOUBLE")
BOOLEAN = Scalar("boolean", "BOOLEAN")


def hive_type(t: Type) -> str:
    """Glue/Hive type string (struct field names lowercased, as the metastore keeps them)."""
    if isinstance(t, Scalar):
        return t.hive
    if isinstance(t, Array):
        return f"array<{hive_type(t.item)}>"
    return "struct<" + ",".join(f"{name.lower()}:{hive_type(f)}" for name, f in t.fields) + ">"


def duckdb_type(t: Type) -> str:
    """DuckDB type string (field names quoted: ``left`` is a keyword)."""
    if isinstance(t, Scalar):
        return t.duckdb
    if isinstance(t, Array):
        return f"{duckdb_type(t.item)}[]"
    return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(f)}' for name, f in t.fields) + ")"


BOX = Struct((("left", DOUBLE), ("top", DOUBLE), ("width", DOUBLE), ("height", DOUBLE)))
LABELS = Array(Struct((("name", STRING), ("confidence", DOUBLE), ("box", BOX))))

# The columns of `results`, in the order of runtime.dataset.LINE_KEYS (a test checks).
RESULTS_COLUMNS: tuple[tuple[str, Type], ...] = (
    ("schema_version", INT),
    ("status", STRING),
    ("source_bucket", STRING),
    ("source_key", STRING),
    ("source_etag", STRING),
    ("source_size", BIGINT),
    ("source_version_id", STRING),
    ("result_key", STRING),
    ("image_key", STRING),
    ("labels", LABELS),
    ("labels_below_threshold", LABELS),
    ("error_code", STRING),
    ("error_message", STRING),
    ("processed_at", STRING),
    ("project_version_arn", STRING),
    ("min_confidence", DOUBLE),
    ("request_id", STRING),
)

_TIMESTAMPS = (
    "executionStarted",
    "modelStartRequested",
    "modelRunning",
    "mappingEnabled",
    "drainEnded",
    "mappingDisabled",
    "modelStopRequested",
    "summaryWritten",
)
_COUNTS = Struct(
    (("visible", BIGINT), ("inFlight", BIGINT), ("delayed", BIGINT), ("total", BIGINT))
)

# The columns of `runs`, named as the summary's keys (docs/workflow.md, "Run summary").
RUNS_COLUMNS: tuple[tuple[str, Type], ...] = (
    ("schemaVersion", INT),
    ("execution", STRING),
    ("executionName", STRING),
    ("stateMachine", STRING),
    ("outcome", STRING),
    ("error", Struct((("Error", STRING), ("Cause", STRING)))),
    (
        "config",
        Struct(
            (
                ("projectVersionArn", STRING),
                ("versionName", STRING),
                ("ownership", STRING),
                ("minInferenceUnits", INT),
                ("maxInferenceUnits", INT),
                ("pricePerInferenceUnitHour", DOUBLE),
                ("tpsPerUnit", DOUBLE),
            )
        ),
    ),
    ("backlogAtStart", _COUNTS),
    ("queueAtEnd", _COUNTS),
    ("plan", Struct((("units", INT), ("concurrency", INT), ("tpsPlanned", DOUBLE)))),
    ("startedByThisRun", BOOLEAN),
    ("stoppedByThisRun", BOOLEAN),
    ("polls", INT),
    ("drainWaitSeconds", BIGINT),
    ("drainCostUsdE4", BIGINT),
    ("timestamps", Struct(tuple((name, STRING) for name in _TIMESTAMPS))),
)


@dataclass(frozen=True)
class NamedQuery:
    name: str  # the CLI's --named value and the Athena named query's name suffix
    description: str
    sql: str
    parameters: tuple[str, ...] = ()  # what each positional ``?`` stands for


# One line per image: the latest (processed_at) of its lines. Lines of one
# (source_key, source_etag) are the same image written twice (a redelivery
# writes the stored document's processed_at again, in another dt); a newer
# ETag is a newer upload of the key, which replaces the older. Days are those
# of processed_at, not dt (the day a line was written, which a redelivery
# changes): dt is for partition pruning (WHERE dt >= '...').
_LATEST = f"""WITH latest AS (
  SELECT *
  FROM (
    SELECT r.*, row_number() OVER (
      PARTITION BY source_bucket, source_key
      ORDER BY processed_at DESC, source_etag, dt, request_id
    ) AS line_rank
    FROM {RESULTS_TABLE} r
  ) ranked
  WHERE line_rank = 1
)"""

# The run's billed model time, estimated from the summary: from the start request
# (or, for a model found running, the mapping being enabled) to the stop request,
# at the plan's units and the configured price.
_RUN_COST = f"""WITH costed AS (
  SELECT
    executionname,
    outcome,
    substr(timestamps.executionstarted, 1, 10) AS day,
    from_iso8601_timestamp(timestamps.executionstarted) AS started,
    plan.units AS units,
    config.priceperinferenceunithour AS price,
    CASE WHEN timestamps.modelstoprequested IS NULL THEN 0 ELSE date_diff(
      'second',
      from_iso8601_timestamp(
        coalesce(timestamps.modelstartrequested, timestamps.mappingenabled,
                 timestamps.modelstoprequested)
      ),
      from_iso8601_timestamp(timestamps.modelstoprequested)
    ) END AS model_seconds
  FROM {RUNS_TABLE}
)"""

NAMED_QUERIES: tuple[NamedQuery, ...] = (
    NamedQuery(
        "labels-per-image",
        "Each image's labels from its latest line (one row per label; an image "
        "without labels or a failed one has one row with an empty label).",
        f"""{_LATEST}
SELECT source_key, status, processed_at, label.name AS label, label.confidence AS confidence,
       error_code
FROM latest LEFT JOIN UNNEST(labels) AS t(label) ON true
ORDER BY source_key, confidence DESC""",
    ),
    NamedQuery(
        "images-with-label",
        "Images whose latest line has a given label at or above a confidence.",
        f"""{_LATEST}
SELECT source_key, label.confidence AS confidence, label.box AS box, processed_at, image_key
FROM latest CROSS JOIN UNNEST(labels) AS t(label)
WHERE label.name = ? AND label.confidence >= ?
ORDER BY confidence DESC, source_key""",
        ("label name", "minimum confidence (0-100)"),
    ),
    NamedQuery(
        "label-counts-per-day",
        "Images per label and UTC day of processing.",
        f"""{_LATEST}
SELECT substr(processed_at, 1, 10) AS day, label.name AS label,
       count(DISTINCT source_key) AS images, count(*) AS instances,
       round(avg(label.confidence), 2) AS avg_confidence
FROM latest CROSS JOIN UNNEST(labels) AS t(label)
WHERE status = 'succeeded'
GROUP BY substr(processed_at, 1, 10), label.name
ORDER BY day, images DESC, label""",
    ),
    NamedQuery(
        "failures-per-day",
        "Failed images per UTC day and error code, with one example key.",
        f"""{_LATEST}
SELECT substr(processed_at, 1, 10) AS day, error_code, count(*) AS images,
       min(source_key) AS example_key
FROM latest
WHERE status = 'failed'
GROUP BY substr(processed_at, 1, 10), error_code
ORDER BY day, images DESC, error_code""",
    ),
    NamedQuery(
        "cost-per-day",
        "Runs, model hours and estimated model cost (USD) per day, from the run summaries.",
        f"""{_RUN_COST}
SELECT day, count(*) AS runs, round(sum(model_seconds) / 3600.0, 3) AS model_hours,
       round(sum(model_seconds / 3600.0 * coalesce(units, 0) * coalesce(price, 0)), 2)
         AS cost_usd
FROM costed
GROUP BY day
ORDER BY day""",
    ),
    NamedQuery(
        "cost-per-week",
        "Runs, model hours and estimated model cost (USD) per week (weeks start on Monday).",
        f"""{_RUN_COST}
SELECT CAST(date_trunc('week', started) AS date) AS week, count(*) AS runs,
       round(sum(model_seconds) / 3600.0, 3) AS model_hours,
       round(sum(model_seconds / 3600.0 * coalesce(units, 0) * coalesce(price, 0)), 2)
         AS cost_usd
FROM costed
GROUP BY CAST(date_trunc('week', started) AS date)
ORDER BY week""",
    ),
)


def named_query(name: str) -> NamedQuery:
    for query in NAMED_QUERIES:
        if query.name == name:
            return query
    known = ", ".join(q.name for q in NAMED_QUERIES)
    raise KeyError(f"no named query {name!r} (known: {known})")
