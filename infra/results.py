"""The results dataset as Athena tables: a Glue database, the ``results`` and
``runs`` tables, an Athena workgroup, its named queries, and a query policy.

- ``results`` reads the JSON Lines objects the function writes under
  ``results/dt=YYYY-MM-DD/`` (``runtime/dataset.py``). Partition projection on
  ``dt`` (a date from 2024-01-01 to today): no crawler, no partitions to add.
- ``runs`` reads the run summaries ``runs/<execution>.json`` (one compact JSON
  object each). Summaries written by older versions are a JSON string literal
  holding the object: ``ignore.malformed.json`` turns them into empty rows
  instead of failing the query (``rekbatch query`` locally unwraps them).
- The workgroup enforces its own settings: query results go to
  ``athena-results/`` of the final bucket, encrypted like the bucket (SSE-S3,
  or SSE-KMS with the stack's key).
- The named queries and the column types come from ``runtime/tables.py``, the
  same definitions ``rekbatch query`` runs on DuckDB.
- The query policy is what a person or role needs to query (attach it): the
  workgroup's query calls, the Glue reads of this database and its tables,
  the objects of the two tables and the results prefix, and with a KMS key its
  use through S3 only.

Pure functions first (table inputs, the policy document), the component last.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.keypolicies import KMS_USE_ACTIONS
from infra.policies import Policy, _allow, _doc, objects_arn
from runtime import documents, tables

TYPE = "rekognition-batch:results:ResultsTables"
ATHENA_RESULTS_PREFIX = documents.QUERY_RESULTS_PREFIX  # query results in the final bucket
ENGINE_VERSION = "Athena engine version 3"

# Hive text tables read by the OpenX JSON SerDe (Athena's recommended JSON SerDe).
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

ATHENA_QUERY_ACTIONS = (
    "athena:BatchGetNamedQuery",
    "athena:GetNamedQuery",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetWorkGroup",
    "athena:ListNamedQueries",
    "athena:ListQueryExecutions",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
)
GLUE_READ_ACTIONS = (
    "glue:BatchGetPartition",
    "glue:GetDatabase",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:GetTable",
    "glue:GetTables",
)


def glue_database_name(prefix: str) -> str:
    """Glue/Athena database names: lower case letters, digits and underscores."""
    name = re.sub(r"[^a-z0-9_]", "_", prefix.lower())
    return name[:255]


def s3_location(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}"


def _columns(columns: tuple[tuple[str, tables.Type], ...]) -> list[dict[str, str]]:
    return [{"name": name.lower(), "type": tables.hive_type(t)} for name, t in columns]


def results_table_input(bucket: str, results_prefix: str) -> dict[str, Any]:
    """The CatalogTable arguments of ``results`` (partition projection on dt)."""
    location = s3_location(bucket, results_prefix)
    dt = tables.PARTITION_COLUMN
    return {
        "table_type": "EXTERNAL_TABLE",
        "description": "One line per image handled (runtime/dataset.py); dedupe on "
        "(source_key, source_etag)",
        "parameters": {
            "EXTERNAL": "TRUE",
            "classification": "json",
            "projection.enabled": "true",
            f"projection.{dt}.type": "date",
            f"projection.{dt}.format": tables.PARTITION_FORMAT,
            f"projection.{dt}.range": f"{tables.PARTITION_RANGE_START},NOW",
            f"projection.{dt}.interval": "1",
            f"projection.{dt}.interval.unit": "DAYS",
            "storage.location.template": f"{location}{dt}=${{{dt}}}/",
        },
        "partition_keys": [{"name": dt, "type": "string"}],
        "storage_descriptor": {
            "location": location,
            "input_format": INPUT_FORMAT,
            "output_format": OUTPUT_FORMAT,
            "ser_de_info": {"serialization_library": JSON_SERDE},
            "columns": _columns(tables.RESULTS_COLUMNS),
        },
    }


def runs_table_input(bucket: str, runs_prefix: str) -> dict[str, Any]:
    """The CatalogTable arguments of ``runs`` (no partitions: one object per run)."""
    return {
        "table_type": "EXTERNAL_TABLE",
        "description": "Run summaries (runs/<execution>.json)",
        "parameters": {"EXTERNAL": "TRUE", "classification": "json"},
        "storage_descriptor": {
            "location": s3_location(bucket, runs_prefix),
            "input_format": INPUT_FORMAT,
            "output_format": OUTPUT_FORMAT,
            "ser_de_info": {
                "serialization_library": JSON_SERDE,
                # Keys are camelCase, columns their lower case (the SerDe's default
                # case.insensitive); an older summary (a JSON string) is an empty row.
                "parameters": {"case.insensitive": "TRUE", "ignore.malformed.json": "TRUE"},
            },
            "columns": _columns(tables.RUNS_COLUMNS),
        },
    }


def workgroup_configuration(
    bucket: str, kms_key_arn: str | None
) -> aws.athena.WorkgroupConfigurationArgsDict:
    """Query results under athena-results/ of the final bucket, encrypted like it."""
    encryption: aws.athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgsDict = (
        {"encryption_option": "SSE_KMS", "kms_key_arn": kms_key_arn}
        if kms_key_arn
        else {"encryption_option": "SSE_S3"}
    )
    return {
        "enforce_workgroup_configuration": True,
        "publish_cloudwatch_metrics_enabled": True,
        "engine_version": {"selected_engine_version": ENGINE_VERSION},
        "result_configuration": {
            "output_location": s3_location(bucket, ATHENA_RESULTS_PREFIX),
            "encryption_configuration": encryption,
        },
    }


def query_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    workgroup_name: str,
    database_name: str,
    final_bucket_arn: str,
    results_prefix: str,
    runs_prefix: str,
    kms_key_arn: str | None,
) -> Policy:
    """What querying the dataset needs, on this stack's resources only."""
    glue = f"arn:{partition}:glue:{region}:{account_id}"
    prefixes = [results_prefix, runs_prefix, ATHENA_RESULTS_PREFIX]
    list_bucket = _allow("ListTheDatasetPrefixes", ["s3:ListBucket"], final_bucket_arn)
    list_bucket["Condition"] = {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}
    statements = [
        _allow(
            "QueryInTheWorkgroup",
            ATHENA_QUERY_ACTIONS,
            f"arn:{partition}:athena:{region}:{account_id}:workgroup/{workgroup_name}",
        ),
        _allow(
            "ReadTheTables",
            GLUE_READ_ACTIONS,
            [
                f"{glue}:catalog",
                f"{glue}:database/{database_name}",
                f"{glue}:table/{database_name}/*",
            ],
        ),
        _allow("FindTheBucket", ["s3:GetBucketLocation"], final_bucket_arn),
        list_bucket,
        _allow(
            "ReadTheDataset",
            ["s3:GetObject"],
            [objects_arn(final_bucket_arn, p) for p in prefixes],
        ),
        _allow(
            "WriteQueryResults",
            ["s3:AbortMultipartUpload", "s3:PutObject"],
            objects_arn(final_bucket_arn, ATHENA_RESULTS_PREFIX),
        ),
    ]
    if kms_key_arn:
        use = _allow("UseTheStackKeyThroughS3", KMS_USE_ACTIONS, kms_key_arn)
        use["Condition"] = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
        statements.append(use)
    return _doc(*statements)


@dataclass
class ResultsTablesArgs:
    final_bucket: pulumi.Input[str]
    final_bucket_arn: pulumi.Input[str]
    results_prefix: str
    runs_prefix: str
    resource_prefix: str  # physical names: database (underscored), workgroup, policy
    partition: str
    region: str
    account_id: str
    force_destroy: bool = False  # the workgroup goes with its named queries and history
    kms_key_arn: pulumi.Input[str] | None = None


class ResultsTables(pulumi.ComponentResource):
    """Glue database + results/runs tables + Athena workgroup + named queries + query policy."""

    database: aws.glue.CatalogDatabase
    results_table: aws.glue.CatalogTable
    runs_table: aws.glue.CatalogTable
    workgroup: aws.athena.Workgroup
    query_policy: aws.iam.Policy

    def __init__(
        self, name: str, args: ResultsTablesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        database_name = glue_database_name(args.resource_prefix)
        workgroup_name = args.resource_prefix

        self.database = aws.glue.CatalogDatabase(
            f"{name}-database",
            name=database_name,
            description="Results of the Rekognition Custom Labels batch pipeline",
            opts=child,
        )
        bucket = pulumi.Output.from_input(args.final_bucket)
        results_input = bucket.apply(lambda b: results_table_input(b, args.results_prefix))
        self.results_table = aws.glue.CatalogTable(
            f"{name}-results",
            name=tables.RESULTS_TABLE,
            database_name=self.database.name,
            table_type="EXTERNAL_TABLE",
            description=results_input["description"],
            parameters=results_input["parameters"],
            partition_keys=results_input["partition_keys"],
            storage_descriptor=results_input["storage_descriptor"],
            opts=child,
        )
        runs_input = bucket.apply(lambda b: runs_table_input(b, args.runs_prefix))
        self.runs_table = aws.glue.CatalogTable(
            f"{name}-runs",
            name=tables.RUNS_TABLE,
            database_name=self.database.name,
            table_type="EXTERNAL_TABLE",
            description=runs_input["description"],
            parameters=runs_input["parameters"],
            storage_descriptor=runs_input["storage_descriptor"],
            opts=child,
        )
        key = pulumi.Output.from_input(args.kms_key_arn) if args.kms_key_arn else None
        configuration = pulumi.Output.all(bucket, key).apply(
            lambda a: workgroup_configuration(a[0], a[1])
        )
        self.workgroup = aws.athena.Workgroup(
            f"{name}-workgroup",
            name=workgroup_name,
            description="Queries over the results dataset (named queries included)",
            force_destroy=args.force_destroy,
            configuration=configuration,
            opts=child,
        )
        for query in tables.NAMED_QUERIES:
            aws.athena.NamedQuery(
                f"{name}-{query.name}",
                name=query.name,
                description=query.description
                + (f" Parameters: {', '.join(query.parameters)}." if query.parameters else ""),
                database=self.database.name,
                workgroup=self.workgroup.name,
                query=query.sql,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.results_table]),
            )
        policy = pulumi.Output.all(args.final_bucket_arn, key).apply(
            lambda a: json.dumps(
                query_policy(
                    partition=args.partition,
                    region=args.region,
                    account_id=args.account_id,
                    workgroup_name=workgroup_name,
                    database_name=database_name,
                    final_bucket_arn=a[0],
                    results_prefix=args.results_prefix,
                    runs_prefix=args.runs_prefix,
                    kms_key_arn=a[1],
                )
            )
        )
        self.query_policy = aws.iam.Policy(
            f"{name}-query-policy",
            name=f"{args.resource_prefix}-query-results",
            description="Query the results dataset with Athena (attach to who queries)",
            policy=policy,
            opts=child,
        )
        self.register_outputs(
            {
                "databaseName": self.database.name,
                "workgroupName": self.workgroup.name,
                "queryPolicyArn": self.query_policy.arn,
            }
        )
