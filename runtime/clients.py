"""aioboto3 clients and concurrency limits, owned by one event loop.

aiobotocore clients hold an aiohttp session and ``asyncio.Semaphore`` objects
belong to the loop that first waits on them; using either from another loop
fails ("attached to a different loop", "Event loop is closed"). So everything
here is created inside the loop that will use it, entered once through an
``AsyncExitStack`` and kept for as long as that loop lives, which lets warm
invocations reuse open connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.loaders import Loader, create_loader

from runtime.settings import Settings
from runtime.throttle import exclude_throttles_from_sdk_retries

# Images allowed in flight per model slot. An image spends part of its time in
# S3 (HEAD, put, copy, delete); admitting twice as many images as model slots
# keeps every model slot busy while other images do their S3 work, and still
# bounds memory and S3 connections.
IMAGES_PER_MODEL_SLOT = 2

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60


# The handler's only SQS calls change the visibility of records to retry: a
# few requests per invocation, bounded by the handler's own timeout.
SQS_CONFIG = AioConfig(
    max_pool_connections=10,
    connect_timeout=2,
    read_timeout=3,
    retries={"mode": "standard", "total_max_attempts": 2},
)

# Label alerts (runtime/alerts.py): one PutEvents per group of images, retried by
# the publisher itself within the invocation; botocore adds a quick second try.
EVENTS_CONFIG = AioConfig(
    max_pool_connections=10,
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 2},
)

_loader: Loader | None = None
_loader_lock = threading.Lock()

# Endpoint parameters S3's rule set declares but (in the pinned botocore) never
# reads; see :func:`drop_unreferenced_endpoint_params`.
UNREFERENCED_CANDIDATES = ("Key", "Prefix", "CopySource")

_log = logging.getLogger(__name__)
# Per service: the last rule set walked and the parameters it reads.
_references: dict[str, tuple[Any, frozenset[str]]] = {}


def new_session() -> aioboto3.Session:
    """A session for one thread, sharing the parsed service models with every other.

    botocore sessions are not meant to be shared between threads, but each new
    one re-reads and parses the S3 and Rekognition models (~0.4 s of CPU). The
    loader only caches those read-only documents, so one loader serves all
    sessions of the process: the first thread pays, later threads start fast.
    """
    botocore_session = AioSession()
    botocore_session.register_component("data_loader", shared_loader())
    return aioboto3.Session(botocore_session=botocore_session)


def shared_loader() -> Loader:
    """The process-wide botocore loader (see :func:`new_session`)."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = create_loader()
        return _loader


def ruleset_references(node: Any) -> set[str]:
    """Every parameter an endpoint rule set reads: ``{"ref": name}`` and ``{name}`` in templates."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("ref")
            if isinstance(ref, str):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.update(re.findall(r"\{([A-Za-z][A-Za-z0-9_]*)", item))
    return found


def drop_unreferenced_endpoint_params(
    client: Any, loader: Loader, candidates: Iterable[str] = UNREFERENCED_CANDIDATES
) -> tuple[str, ...]:
    """Let the client's endpoint cache hit: stop passing parameters its rules never read.

    botocore resolves each request's endpoint by evaluating the service's rule
    set, cached on the parameter values. S3's rule set declares ``Key``,
    ``Prefix`` and ``CopySource`` without reading them, so every new object key
    misses the cache and the whole S3 rule tree is evaluated again: about a
    fifth of the handler's CPU per S3 request in a cProfile of
    bench/bench_handler.py. Later botocore releases drop exactly these three
    (boto/botocore#3692, merged May 2026); aioboto3 15.5 pins botocore 1.40, so
    this is that fix, per client, made safe by construction: a candidate is
    dropped only if the client's own rule set does not reference it, so a
    botocore whose rules start using one keeps it.
    Returns the dropped names (none if botocore's internals look different).
    """
    resolver: Any = getattr(client, "_ruleset_resolver", None)
    definitions = getattr(resolver, "_param_definitions", None)
    if not isinstance(definitions, dict):
        return ()
    try:
        service = client.meta.service_model.endpoint_prefix
        ruleset = loader.load_service_model(service, "endpoint-rule-set-1")
    except Exception:  # pragma: no cover - no rule set to check against: leave it be
        _log.debug("no endpoint rule set for %r", client, exc_info=True)
        return ()
    cached = _references.get(service)
    if cached is not None and cached[0] is ruleset:
        used = cached[1]
    else:
        used = frozenset(ruleset_references(ruleset.get("rules", [])))
        _references[service] = (ruleset, used)
    dropped = tuple(name for name in candidates if name in definitions and name not in used)
    if dropped:
        resolver._param_definitions = {
            name: value for name, value in definitions.items() if name not in dropped
        }
    return dropped


def image_slots(settings: Settings) -> int:
    """How many images one invocation works on at once."""
    return settings.max_concurrency * IMAGES_PER_MODEL_SLOT


def client_config(settings: Settings, pool: int, *, mode: str | None = None) -> AioConfig:
    """The client configuration: a pool sized to the concurrency and throttling-aware retries.

    ``max_pool_connections`` below the concurrency would queue requests inside
    aiohttp and cap the throughput silently; above it only wastes sockets.
    ``total_max_attempts`` counts the first call too (botocore's ``max_attempts``
    key counts retries only), matching the MAX_ATTEMPTS setting and AWS_MAX_ATTEMPTS.
    """
    return AioConfig(
        max_pool_connections=pool,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": mode or settings.retry_mode, "total_max_attempts": settings.max_attempts},
    )


def rekognition_config(settings: Settings) -> AioConfig:
    """The Rekognition client: standard retries, throttles excluded (see ``runtime.throttle``).

    The adaptive mode's client-side token bucket reacts to throttles by sleeping
    inside a model slot, and throttles are the pipeline's to retry (jittered
    back-off outside the slot), so ``RETRY_MODE`` applies to S3 and Rekognition
    always runs "standard".
    """
    return client_config(settings, settings.max_concurrency, mode="standard")


@dataclass
class LoopResources:
    """The clients and limits of one event loop; build with :meth:`open` inside that loop."""

    loop: asyncio.AbstractEventLoop
    s3: Any
    rekognition: Any
    model_slots: asyncio.Semaphore
    image_slots: asyncio.Semaphore
    _stack: contextlib.AsyncExitStack
    _session: aioboto3.Session | None = None
    _sqs: Any = None
    _events: Any = None

    @classmethod
    async def open(
        cls, settings: Settings, session: aioboto3.Session | None = None
    ) -> LoopResources:
        """Enter both clients once (the endpoint comes from AWS_ENDPOINT_URL, like any SDK)."""
        session = session or new_session()
        stack = contextlib.AsyncExitStack()
        try:
            s3 = await stack.enter_async_context(
                session.client("s3", config=client_config(settings, image_slots(settings)))
            )
            rekognition = await stack.enter_async_context(
                session.client("rekognition", config=rekognition_config(settings))
            )
            exclude_throttles_from_sdk_retries(rekognition)
            drop_unreferenced_endpoint_params(s3, shared_loader())
        except BaseException:
            await stack.aclose()
            raise
        return cls(
            loop=asyncio.get_running_loop(),
            s3=s3,
            rekognition=rekognition,
            model_slots=asyncio.Semaphore(settings.max_concurrency),
            image_slots=asyncio.Semaphore(image_slots(settings)),
            _stack=stack,
            _session=session,
        )

    async def sqs(self) -> Any:
        """The SQS client, entered on first use: only invocations with records to
        retry need it (runtime/visibility.py), so a cold start does not pay for it."""
        if self._sqs is None:
            session = self._session or new_session()
            self._sqs = await self._stack.enter_async_context(
                session.client("sqs", config=SQS_CONFIG)
            )
        return self._sqs

    async def events(self) -> Any:
        """The EventBridge client, entered on first use: only invocations with a label
        alert to send need it (runtime/alerts.py)."""
        if self._events is None:
            session = self._session or new_session()
            self._events = await self._stack.enter_async_context(
                session.client("events", config=EVENTS_CONFIG)
            )
        return self._events

    async def aclose(self) -> None:
        """Close the clients (their HTTP sessions); the loop itself is the caller's."""
        await self._stack.aclose()
