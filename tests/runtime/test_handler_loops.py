"""Event loops, threads and concurrency: warm invocations reuse their loop and
clients, several threads at once, bounded model calls, sized pools.

The inference handler against moto server + the Custom Labels model emulator
(fixtures: conftest.py; images and events: tests/factories.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.factories import s3_event_body, sqs_event, sqs_record
from tests.runtime.conftest import FINAL, SOURCE, FakeContext, model_delay

# -- event loops and threads ---------------------------------------------------


def test_the_first_invocation_opens_the_clients_warm_ones_reuse_loop_and_clients(
    env, context, put_and_event
):
    handler = env.handler()
    loop = handler.loop
    assert handler(put_and_event("w1.png"), context) == {"batchItemFailures": []}
    resources = handler.resources()

    assert handler(put_and_event("w2.png"), context) == {"batchItemFailures": []}

    assert handler.loop is loop and not loop.is_closed()
    assert handler.resources() is resources, "a warm invocation opens nothing new"
    assert env.keys(SOURCE) == set()


def test_another_asyncio_run_between_invocations_does_not_break_the_handler(
    env, context, put_and_event
):
    from concurrent.futures import ThreadPoolExecutor

    handler = env.handler()
    first, second = put_and_event("a1.png"), put_and_event("a2.png")

    def on_one_thread() -> dict[str, Any]:
        handler(first, context)
        asyncio.run(asyncio.sleep(0))  # other code creates, closes and unsets a loop here
        return handler(second, context)

    # A worker thread, so that asyncio.run does not leave the main thread without
    # a current loop for the tests that run after this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(on_one_thread).result() == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()


def test_one_handler_per_thread_several_threads_at_once(env):
    """The local poller's shape: each thread its own handler, all in one process
    (module-level logger, shared service models, per-invocation metrics)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    env.aws.model.configure(latency=model_delay(0.05))
    batches = []
    for t in range(4):
        keys = [f"t{t}/{i}.png" for i in range(4)]
        for key in keys:
            env.put(key)
        batches.append(sqs_event(*(sqs_record(s3_event_body(k), k) for k in keys)))

    local = threading.local()
    handlers_lock = threading.Lock()
    loops: dict[int, object] = {}

    def invoke(event):
        if not hasattr(local, "handler"):
            with handlers_lock:
                local.handler = env.handler(max_concurrency=2)
        response = local.handler(event, FakeContext())
        loops[threading.get_ident()] = local.handler.loop
        return response

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(invoke, batches))
        # Second round on the same (warm) threads.
        more = []
        for t in range(4):
            env.put(f"again/{t}.png")
            more.append(sqs_event(sqs_record(s3_event_body(f"again/{t}.png"))))
        responses += list(pool.map(invoke, more))

    assert all(r == {"batchItemFailures": []} for r in responses)
    assert env.keys(SOURCE) == set()
    assert len({id(loop) for loop in loops.values()}) == len(loops), "one loop per thread"
    assert len([k for k in env.keys(FINAL) if k.endswith(".json")]) == 20


def test_close_releases_the_clients_and_the_loop(env, context, put_and_event):
    handler = env.handler()
    handler(put_and_event("c.png"), context)
    handler.close()
    assert handler.loop.is_closed()
    handler.close()  # closing twice is harmless


def test_inside_lambda_the_same_loop_serves_warm_invocations(
    env, context, put_and_event, monkeypatch
):
    # Powertools switches to asyncio.get_event_loop() when LAMBDA_TASK_ROOT is set;
    # the handler's own loop must be used either way.
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    handler = env.handler()
    assert handler(put_and_event("l1.png"), context) == {"batchItemFailures": []}
    assert handler(put_and_event("l2.png"), context) == {"batchItemFailures": []}
    assert env.keys(SOURCE) == set()
    assert not handler.loop.is_closed()


# -- concurrency ---------------------------------------------------------------


def test_model_calls_are_bounded_by_max_concurrency(env, context):
    import threading
    import time

    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def latency() -> float:
        # Runs in the emulator's request thread: count calls in flight.
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        return 0.0

    env.aws.model.configure(latency=latency)
    keys = [f"c/{i}.png" for i in range(9)]
    for key in keys:
        env.put(key)
    event = sqs_event(*(sqs_record(s3_event_body(k), k) for k in keys))

    response = env.handler(max_concurrency=3)(event, context)

    assert response == {"batchItemFailures": []}
    assert state["peak"] == 3


def test_connection_pools_are_sized_to_the_concurrency(env, context, put_and_event):
    handler = env.handler(max_concurrency=5)
    handler(put_and_event("p.png"), context)
    resources = handler.resources()
    assert resources.rekognition.meta.config.max_pool_connections == 5
    assert resources.s3.meta.config.max_pool_connections == 10  # 2 images per model slot
    assert resources.rekognition.meta.config.retries == {
        "mode": "standard",
        "total_max_attempts": 1,
    }
