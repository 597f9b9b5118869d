"""Wake-ups: same-process hub, PostgreSQL LISTEN/NOTIFY across connections, SQLite polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test import override_settings

from temporalflow.store import DjangoStore, notify

from .conftest import start

pytestmark = pytest.mark.django_db(transaction=True)


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run blocking store code in a worker thread (as workers do), closing its connection after."""

    def body() -> Any:
        try:
            return fn()
        finally:
            connections.close_all()

    return await asyncio.to_thread(body)


async def settled(sub: notify.LocalSubscription) -> None:
    """Start the LISTEN task (PostgreSQL), wait until it listens, and drop the wake-up it sends."""
    await sub.wait(0.01)
    ready = notify.hub.listener_ready("default")
    if ready is not None:
        await asyncio.wait_for(ready.wait(), 10)
    while await sub.wait(0.05):
        pass


@pytest.fixture
async def no_polling():
    with override_settings(TEMPORALFLOW={"POLL_INTERVAL": 60.0}):
        yield
    await notify.hub.aclose()


async def test_subscriber_wakes_on_write_from_another_thread(no_polling, queue):
    store = DjangoStore()
    sub = store.subscribe(f"wft:default:{queue}")
    other = store.subscribe("wft:default:some-other-queue")
    try:
        await settled(sub)
        await settled(other)
        assert await sub.wait(0.1) is False
        await in_thread(lambda: start(store, queue, "wf-1"))
        assert await sub.wait(5) is True
        assert await other.wait(0.1) is False
    finally:
        sub.close()
        other.close()


async def test_rolled_back_write_does_not_wake(no_polling, queue):
    store = DjangoStore()
    sub = store.subscribe(f"wft:default:{queue}")
    await settled(sub)

    def rolled_back() -> None:
        try:
            with transaction.atomic():
                start(store, queue, "wf-1")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass

    await in_thread(rolled_back)
    assert await sub.wait(0.3) is False
    sub.close()


async def test_run_channel_wakes_on_signal(no_polling, queue):
    store = DjangoStore()
    run_id = await in_thread(lambda: start(store, queue, "wf-1"))
    info = await in_thread(lambda: store.describe("default", "wf-1", run_id))
    sub = store.subscribe(f"run:{info.pk}")
    await settled(sub)
    await in_thread(lambda: store.signal("default", "wf-1", None, "s", {"payloads": []}))
    assert await sub.wait(5) is True
    sub.close()


async def test_notification_before_wait_is_kept(no_polling):
    sub = notify.hub.subscribe("custom")
    notify.hub.publish(["custom"])
    assert await sub.wait(0) is True
    assert await sub.wait(0) is False
    sub.close()


async def test_postgres_listen_sees_notify_from_other_connection(no_polling, queue):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    import psycopg

    store = DjangoStore()
    sub = store.subscribe(f"act:default:{queue}")
    await settled(sub)
    params = connection.get_connection_params()
    conninfo = {k: params[k] for k in ("dbname", "user", "host", "port") if params.get(k)}
    async with await psycopg.AsyncConnection.connect(autocommit=True, **conninfo) as conn:
        await conn.execute("SELECT pg_notify('temporalflow_act', %s)", [f"act:default:{queue}"])
    assert await sub.wait(5) is True
    sub.close()


async def test_sqlite_wait_polls(queue):
    if connection.vendor != "sqlite":
        pytest.skip("the polling fallback is what SQLite uses")
    with override_settings(TEMPORALFLOW={"POLL_INTERVAL": 0.05}):
        sub = DjangoStore().subscribe(f"wft:default:{queue}")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await sub.wait(10) is True  # "look again" after one poll interval
    assert loop.time() - t0 < 2
    assert await sub.wait(0.01) is False  # shorter than the poll interval: a real timeout
    sub.close()


async def test_postgres_listener_reconnects_and_wakes_everyone(no_polling, queue):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    import psycopg

    store = DjangoStore()
    sub = store.subscribe(f"act:default:{queue}")
    await settled(sub)
    listener = notify.hub._listeners["default"]
    pid = listener._conn.info.backend_pid
    params = connection.get_connection_params()
    conninfo = {k: params[k] for k in ("dbname", "user", "host", "port") if params.get(k)}
    async with await psycopg.AsyncConnection.connect(autocommit=True, **conninfo) as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    # After reconnecting, every subscriber is woken once (notifications may have been lost).
    assert await sub.wait(10) is True
    await asyncio.wait_for(listener.ready.wait(), 10)
    while await sub.wait(0.05):
        pass
    async with await psycopg.AsyncConnection.connect(autocommit=True, **conninfo) as conn:
        await conn.execute("SELECT pg_notify('temporalflow_act', %s)", [f"act:default:{queue}"])
    assert await sub.wait(5) is True
    sub.close()


async def test_postgres_listens_only_to_the_kinds_waited_on(queue):
    """A process LISTENs per kind of channel, adding a kind to the same session when first waited on."""
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    hub = notify.Hub()  # a hub of its own: the process-wide one remembers other tests' kinds

    async def settle(sub: notify.LocalSubscription) -> None:
        await sub.wait(0.01)
        ready = hub.listener_ready("default")
        assert ready is not None
        await asyncio.wait_for(ready.wait(), 10)
        while await sub.wait(0.05):
            pass

    acts = hub.subscribe(f"act:default:{queue}", alias="default", poll_interval=60.0)
    answers = hub.subscribe("queryans:12345", alias="default", poll_interval=60.0)
    try:
        await settle(acts)
        listener = hub._listeners["default"]
        assert listener.listening == {"temporalflow_act"}
        pid = listener._conn.info.backend_pid
        await settle(answers)
        assert listener.listening == {"temporalflow_act", "temporalflow_queryans"}
        assert hub._listeners["default"]._conn.info.backend_pid == pid  # the same session

        def write() -> None:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_notify('temporalflow_queryans', 'queryans:12345')")

        await in_thread(write)
        assert await answers.wait(5) is True
        assert await acts.wait(0.2) is False
    finally:
        acts.close()
        answers.close()
        await hub.aclose()


def test_pg_channel_per_kind():
    from temporalflow.store._dialects import pg_channel

    assert pg_channel("wft:default:q") == "temporalflow_wft"
    assert pg_channel("closed:42") == "temporalflow_closed"
    assert pg_channel("timers") == "temporalflow_timers"
    assert pg_channel("Weird Kind:1") == "temporalflow"
    assert pg_channel("x" * 60) == "temporalflow"
