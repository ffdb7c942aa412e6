"""runtime/clients.py: the S3 client's endpoint cache (a backport of boto/botocore#3692)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.endpoint_provider import EndpointProvider

from runtime.clients import (
    UNREFERENCED_CANDIDATES,
    drop_unreferenced_endpoint_params,
    new_session,
    ruleset_references,
    shared_loader,
)


def test_ruleset_references_finds_refs_and_template_parameters():
    rules = [
        {"conditions": [{"fn": "isSet", "argv": [{"ref": "Bucket"}]}]},
        {"endpoint": {"url": "https://{Bucket}.s3.{Region}.amazonaws.com/{Key#suffix}"}},
        {"error": "no {Prefix in prose"},
    ]
    assert ruleset_references(rules) == {"Bucket", "Region", "Key", "Prefix"}


def test_the_pinned_s3_rule_set_declares_but_never_reads_key_prefix_copysource():
    """If this fails, botocore's S3 rules changed: the drop adapts, but re-check the gain."""
    ruleset = shared_loader().load_service_model("s3", "endpoint-rule-set-1")
    declared = set(ruleset["parameters"])
    used = ruleset_references(ruleset["rules"])
    assert set(UNREFERENCED_CANDIDATES) <= declared - used


def test_a_parameter_the_rules_read_is_kept():
    definitions = {"Bucket": object(), "Key": object(), "Prefix": object()}
    client = SimpleNamespace(
        _ruleset_resolver=SimpleNamespace(_param_definitions=dict(definitions)),
        meta=SimpleNamespace(service_model=SimpleNamespace(endpoint_prefix="s3")),
    )
    loader = SimpleNamespace(
        load_service_model=lambda service, kind: {
            "rules": [{"endpoint": {"url": "https://{Bucket}/{Key}"}}]
        }
    )
    assert drop_unreferenced_endpoint_params(client, loader) == ("Prefix",)
    assert set(client._ruleset_resolver._param_definitions) == {"Bucket", "Key"}


def test_a_client_without_the_expected_internals_is_left_alone():
    assert drop_unreferenced_endpoint_params(SimpleNamespace(), shared_loader()) == ()


@pytest.mark.parametrize("drop", [False, True], ids=["as-botocore-ships", "with-the-drop"])
def test_requests_for_new_keys_hit_the_endpoint_cache_only_with_the_drop(aws, drop):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="endpoint-cache")
    keys = [f"many/{i}.png" for i in range(6)]
    for key in keys:
        s3.put_object(Bucket="endpoint-cache", Key=key, Body=b"x")

    async def head_all() -> tuple[int, list[Any]]:
        async with new_session().client("s3", region_name="us-east-1") as client:
            if drop:
                assert drop_unreferenced_endpoint_params(client, shared_loader())
            misses = EndpointProvider.resolve_endpoint.cache_info().misses
            heads = [await client.head_object(Bucket="endpoint-cache", Key=k) for k in keys]
            return EndpointProvider.resolve_endpoint.cache_info().misses - misses, heads

    new_misses, heads = asyncio.run(head_all())

    assert [h["ContentLength"] for h in heads] == [1] * len(keys), "the endpoint still works"
    if drop:
        assert new_misses <= 1
    else:
        assert new_misses == len(keys)
