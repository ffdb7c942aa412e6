"""The results dataset's Glue tables, Athena workgroup, named queries and query
policy, under Pulumi's mocks (the same definitions rekbatch query runs on DuckDB)."""

from __future__ import annotations

import json

import pytest

from infra import outputs, results
from runtime import tables
from tests.infra.conftest import ACCOUNT, REGION, STACK, ProgramRun, run_program
from tests.infra.test_policies import findings

DATABASE = "aws:glue/catalogDatabase:CatalogDatabase"
TABLE = "aws:glue/catalogTable:CatalogTable"
WORKGROUP = "aws:athena/workgroup:Workgroup"
NAMED_QUERY = "aws:athena/namedQuery:NamedQuery"
PREFIX = f"rekognition-batch-{STACK}"  # __main__.py's resource prefix
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-aaaa-bbbb-cccc-000011112222"


def final_bucket(run: ProgramRun) -> str:
    return run.outputs[outputs.FINAL_BUCKET]


@pytest.fixture(scope="module")
def with_key(dummy_bundle) -> ProgramRun:
    from tests.infra.conftest import minimal_config

    with pytest.MonkeyPatch.context() as mp:
        return run_program({**minimal_config(dummy_bundle), "kmsKey": KEY}, mp)


def test_one_database_named_for_the_pipeline(program: ProgramRun) -> None:
    database = program.one(DATABASE)
    assert database.inputs["name"] == PREFIX.replace("-", "_")
    assert program.outputs[outputs.GLUE_DATABASE] == PREFIX.replace("-", "_")


def test_results_table_projects_dt_partitions_over_the_json_lines(program: ProgramRun) -> None:
    table = program.by_name("results-results")
    inputs = table.inputs
    bucket = final_bucket(program)
    assert inputs["name"] == tables.RESULTS_TABLE
    assert inputs["databaseName"] == PREFIX.replace("-", "_")
    assert inputs["tableType"] == "EXTERNAL_TABLE"
    assert inputs["partitionKeys"] == [{"name": "dt", "type": "string"}]
    params = inputs["parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.dt.range"] == "2024-01-01,NOW"
    assert params["storage.location.template"] == f"s3://{bucket}/results/dt=${{dt}}/"
    storage = inputs["storageDescriptor"]
    assert storage["location"] == f"s3://{bucket}/results/"
    assert storage["serDeInfo"]["serializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [c["name"] for c in storage["columns"]] == [n for n, _ in tables.RESULTS_COLUMNS]
    labels = next(c for c in storage["columns"] if c["name"] == "labels")
    assert labels["type"] == (
        "array<struct<name:string,confidence:double,"
        "box:struct<left:double,top:double,width:double,height:double>>>"
    )
    assert program.outputs[outputs.RESULTS_TABLE] == "results"


def test_runs_table_reads_the_summaries_case_insensitively(program: ProgramRun) -> None:
    inputs = program.by_name("results-runs").inputs
    storage = inputs["storageDescriptor"]
    assert inputs["name"] == tables.RUNS_TABLE
    assert storage["location"] == f"s3://{final_bucket(program)}/runs/"
    assert storage["serDeInfo"]["parameters"] == {
        "case.insensitive": "TRUE",
        "ignore.malformed.json": "TRUE",
    }
    names = [c["name"] for c in storage["columns"]]
    assert "executionname" in names and "timestamps" in names
    assert all(name == name.lower() for name in names)
    assert "partitionKeys" not in inputs or not inputs["partitionKeys"]


def test_workgroup_writes_encrypted_results_to_the_final_bucket(program: ProgramRun) -> None:
    workgroup = program.one(WORKGROUP).inputs
    assert workgroup["name"] == PREFIX
    config = workgroup["configuration"]
    assert config["enforceWorkgroupConfiguration"] is True
    assert config["engineVersion"] == {"selectedEngineVersion": "Athena engine version 3"}
    assert config["resultConfiguration"] == {
        "outputLocation": f"s3://{final_bucket(program)}/athena-results/",
        "encryptionConfiguration": {"encryptionOption": "SSE_S3"},
    }
    assert program.outputs[outputs.ATHENA_WORKGROUP] == PREFIX


def test_with_a_kms_key_the_query_results_use_it(with_key: ProgramRun) -> None:
    config = with_key.one(WORKGROUP).inputs["configuration"]
    assert config["resultConfiguration"]["encryptionConfiguration"] == {
        "encryptionOption": "SSE_KMS",
        "kmsKeyArn": KEY,
    }
    statements = {s["Sid"]: s for s in with_key.policy("results-query-policy")["Statement"]}
    assert statements["UseTheStackKeyThroughS3"] == {
        "Sid": "UseTheStackKeyThroughS3",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": KEY,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
    }


def test_every_named_query_is_in_the_workgroup_with_the_shared_sql(program: ProgramRun) -> None:
    found = {r.inputs["name"]: r.inputs for r in program.of_type(NAMED_QUERY)}
    assert set(found) == {q.name for q in tables.NAMED_QUERIES}
    for query in tables.NAMED_QUERIES:
        inputs = found[query.name]
        assert inputs["query"] == query.sql
        assert inputs["workgroup"] == PREFIX
        assert inputs["database"] == PREFIX.replace("-", "_")


def test_query_policy_grants_only_this_stack_s_dataset(program: ProgramRun) -> None:
    policy = program.policy("results-query-policy")
    bucket_arn = f"arn:aws:s3:::{final_bucket(program)}"
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["QueryInTheWorkgroup"]["Resource"] == (
        f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{PREFIX}"
    )
    assert statements["ReadTheDataset"]["Resource"] == [
        f"{bucket_arn}/results/*",
        f"{bucket_arn}/runs/*",
        f"{bucket_arn}/athena-results/*",
    ]
    assert statements["WriteQueryResults"]["Resource"] == f"{bucket_arn}/athena-results/*"
    assert statements["ListTheDatasetPrefixes"]["Condition"] == {
        "StringLike": {"s3:prefix": ["results/*", "runs/*", "athena-results/*"]}
    }
    assert "UseTheStackKeyThroughS3" not in statements  # SSE-S3: no key to use
    resources = json.dumps([s["Resource"] for s in policy["Statement"]])
    assert '"*"' not in resources
    assert findings(policy) == []
    assert program.outputs[outputs.QUERY_POLICY_ARN] == (
        f"arn:aws:iam::{ACCOUNT}:policy/{PREFIX}-query-results"
    )


def test_glue_database_names_are_lower_case_underscored() -> None:
    assert results.glue_database_name("My-Stack.dev-x") == "my_stack_dev_x"
