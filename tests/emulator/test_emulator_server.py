"""LocalAws: one endpoint for moto and the model emulator, reachable from
plain boto3 / aioboto3 through the standard AWS_* environment."""

from __future__ import annotations

import http.client
import os
import socket

import aioboto3
import boto3
import pytest

from emulator import LocalAws
from tests.emulator.emu_helpers import VERSION_ARN, run_off_main_thread


def test_env_points_clients_at_the_endpoint(aws):
    env = aws.env()
    assert env["AWS_ENDPOINT_URL"] == aws.endpoint
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_DEFAULT_REGION"] == aws.region == "us-east-1"
    assert aws.account_id == "123456789012"
    assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint


def test_plain_boto3_reaches_moto_through_the_environment(aws):
    boto3.client("s3").create_bucket(Bucket="plain-boto3")
    names = [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    assert names == ["plain-boto3"]
    identity = boto3.client("sts").get_caller_identity()
    assert identity["Account"] == aws.account_id


def test_aioboto3_reaches_the_emulator(aws):
    aws.client("sqs").create_queue(QueueName="aio-queue")

    async def list_queues() -> list[str]:
        async with aioboto3.Session().client("sqs") as sqs:
            return (await sqs.list_queues())["QueueUrls"]

    urls = run_off_main_thread(list_queues())
    assert len(urls) == 1 and urls[0].endswith("/aio-queue")


def test_reset_empties_moto_and_the_model(aws):
    aws.client("s3").create_bucket(Bucket="to-be-reset")
    arn = aws.model.create(VERSION_ARN, status="RUNNING")
    aws.model.configure(tps_per_unit=1)
    aws.reset()
    assert aws.client("s3").list_buckets()["Buckets"] == []
    with pytest.raises(KeyError):
        aws.model.status(arn)
    assert aws.model.config.tps_per_unit != 1
    assert aws.model.meter()["running_seconds"] == 0


@pytest.mark.parametrize("first", ["a", "b"])
def test_each_test_starts_empty(aws, first):
    s3 = aws.client("s3")
    assert s3.list_buckets()["Buckets"] == []
    assert aws.model.meter()["detect_calls"] == 0
    s3.create_bucket(Bucket=f"leftover-{first}")


def test_step_functions_execution_is_enabled(aws):
    from moto.core.config import default_user_config

    assert default_user_config["stepfunctions"]["execute_state_machine"] is True


def test_a_second_server_gets_its_own_free_port(local_aws):
    with LocalAws() as other:
        assert other.endpoint != local_aws.endpoint
        assert other.client("s3").list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(RuntimeError):
        other.env()


# -- HTTP/1.1 keep-alive -----------------------------------------------------------


def _connect(server: LocalAws) -> http.client.HTTPConnection:
    host, port = server.endpoint.removeprefix("http://").rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=5)


def _list_buckets(conn: http.client.HTTPConnection, **kwargs) -> http.client.HTTPResponse:
    # Unsigned requests default to S3 in moto's dispatcher.
    conn.request("GET", "/", **kwargs)
    response = conn.getresponse()
    response.read()
    return response


def test_connections_are_kept_alive(aws):
    conn = _connect(aws)
    first = _list_buckets(conn)
    sock = conn.sock
    second = _list_buckets(conn)
    assert (first.status, second.status) == (200, 200)
    assert first.getheader("Connection") is None and not first.will_close
    assert conn.sock is sock  # the second request went over the same connection
    conn.close()


def test_an_unread_request_body_does_not_corrupt_the_next_request(aws):
    """The server reads what the application left of a body before the next
    request line (moto's S3 ListBuckets ignores a body)."""
    conn = _connect(aws)
    assert _list_buckets(conn, body=b"x" * 200_000).status == 200
    conn.request("GET", "/", body=iter([b"chunk" * 1000, b"ed"]), encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200 and b"ListAllMyBucketsResult" in response.read()
    sock = conn.sock
    assert _list_buckets(conn).status == 200
    assert conn.sock is sock
    conn.close()


def test_a_client_asking_to_close_gets_the_connection_closed(aws):
    conn = _connect(aws)
    response = _list_buckets(conn, headers={"Connection": "close"})
    assert response.status == 200
    assert response.getheader("Connection") == "close"
    conn.close()


def test_http_1_0_clients_are_answered_and_closed(aws):
    host, port = aws.endpoint.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):  # the server ends the response by closing
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"ListAllMyBucketsResult" in data


def test_stopping_the_server_closes_idle_keep_alive_connections():
    with LocalAws() as other:
        conn = _connect(other)
        assert _list_buckets(conn).status == 200
    conn.sock.settimeout(5)
    assert conn.sock.recv(1) == b""  # closed by the server, not left serving
    conn.close()
