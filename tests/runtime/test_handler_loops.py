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


def test_warm_opens_the_clients_the_first_invocation_then_uses(env, context, put_and_event):
    handler = env.handler()
    handler.warm()
    state = handler._local.state
    resources = state.resources
    assert resources is not None

    assert handler(put_and_event("warmed.png"), context) == {"batchItemFailures": []}
    assert handler._local.state is state and state.resources is resources
    handler.warm()
    assert state.resources is resources, "warming twice opens nothing new"


def test_warm_invocations_on_one_thread_reuse_loop_and_clients(env, context, put_and_event):
    handler = env.handler()
    assert handler(put_and_event("w1.png"), context) == {"batchItemFailures": []}
    state = handler._local.state
    loop, resources = state.loop, state.resources

    assert handler(put_and_event("w2.png"), context) == {"batchItemFailures": []}

    assert handler._local.state.loop is loop and not loop.is_closed()
    assert handler._local.state.resources is resources
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


def test_handler_called_from_several_threads_at_once(env, context):
    from concurrent.futures import ThreadPoolExecutor

    handler = env.handler(max_concurrency=2)
    env.aws.model.configure(latency=model_delay(0.05))
    batches = []
    for t in range(4):
        keys = [f"t{t}/{i}.png" for i in range(4)]
        for key in keys:
            env.put(key)
        batches.append(sqs_event(*(sqs_record(s3_event_body(k), k) for k in keys)))

    loops: dict[int, object] = {}

    def invoke(event):
        import threading

        response = handler(event, FakeContext())
        loops[threading.get_ident()] = handler._local.state.loop
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


def test_close_releases_every_thread_loop(env, context, put_and_event):
    handler = env.handler()
    handler(put_and_event("c.png"), context)
    loop = handler._local.state.loop
    handler.close()
    assert loop.is_closed()
    # A closed handler opens a fresh loop when called again.
    assert handler(put_and_event("d.png"), context) == {"batchItemFailures": []}


def test_inside_lambda_the_same_loop_serves_warm_invocations(
    env, context, put_and_event, monkeypatch
):
    # Powertools switches to asyncio.get_event_loop() when LAMBDA_TASK_ROOT is set;
    # the handler's own loop must be used either way.
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    handler = env.handler()
    assert handler(put_and_event("l1.png"), context) == {"batchItemFailures": []}
    loop = handler._local.state.loop
    assert handler(put_and_event("l2.png"), context) == {"batchItemFailures": []}
    assert handler._local.state.loop is loop
    assert env.keys(SOURCE) == set()


def test_close_during_an_invocation_lets_it_finish_then_closes_its_loop(
    env, context, put_and_event
):
    import threading

    in_model, release = threading.Event(), threading.Event()

    def latency() -> float:
        in_model.set()
        release.wait(5)
        return 0.0

    env.aws.model.configure(latency=latency)
    handler = env.handler()
    event = put_and_event("busy.png")
    result: dict[str, Any] = {}

    def invoke() -> None:
        result["response"] = handler(event, FakeContext())
        result["loop"] = handler._local.state.loop

    worker = threading.Thread(target=invoke)
    worker.start()
    assert in_model.wait(10)
    handler.close()  # the invocation on the worker thread is still running
    release.set()
    worker.join(10)

    assert result["response"] == {"batchItemFailures": []}
    assert result["loop"].is_closed()
    assert env.keys(SOURCE) == set()


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
    resources = handler._local.state.resources
    assert resources.rekognition.meta.config.max_pool_connections == 5
    assert resources.s3.meta.config.max_pool_connections == 10  # 2 images per model slot
    assert resources.rekognition.meta.config.retries == {
        "mode": "standard",
        "total_max_attempts": 1,
    }
