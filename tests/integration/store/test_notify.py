"""Wake-ups: same-process hub, PostgreSQL LISTEN/NOTIFY across connections, SQLite polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test import override_settings

from temporalflow.store import DjangoStore, notify
from temporalflow.store._dialects import split_payload

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


class _FakeListener:
    """Stands in for a LISTEN session that listens to ``closed:`` (the hub only reads its state)."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()
        self.listening = {"temporalflow_closed"}
        self.epoch = 1

    def serving(self) -> bool:
        return True

    def alive_on(self, loop: Any) -> bool:
        return True

    def want_more(self) -> None:
        pass


async def test_a_subscription_since_a_mark_knows_what_was_published_after_it():
    hub = notify.Hub()
    listener = _FakeListener()
    hub._listeners["default"] = listener  # type: ignore[assignment]
    hub._wanted.add("temporalflow_closed")
    hub.publish(["closed:4"])  # before the mark: not news
    mark = hub.mark("default", "closed:")
    assert mark is not None
    assert hub.mark("default", "queryans:1") is None  # a kind nobody listens to: no mark
    hub.publish(["closed:5", "run:5"])
    published = hub.subscribe("closed:5", alias="default", poll_interval=60.0, since=mark)
    quiet = hub.subscribe("closed:6", alias="default", poll_interval=60.0, since=mark)
    old = hub.subscribe("closed:4", alias="default", poll_interval=60.0, since=mark)
    assert await published.wait(0) is True
    assert await quiet.wait(0) is False
    assert await old.wait(0) is False
    # A reconnect since the mark may have lost notifications: a new subscription looks at once.
    listener.epoch += 1
    assert await hub.subscribe("closed:7", alias="default", poll_interval=60.0, since=mark).wait(0) is True
    listener.epoch -= 1
    # So does one after more publishes than the hub remembers.
    for i in range(notify.RECENT):
        hub.publish([f"run:{i}"])
    assert await hub.subscribe("closed:8", alias="default", poll_interval=60.0, since=mark).wait(0) is True


async def test_result_right_after_start_sees_a_close_that_came_first(no_polling, queue):
    """result() waits before it reads after a start; a run that closed in between is still seen at once."""
    if connection.vendor != "postgresql":
        pytest.skip("marks need a LISTEN session (PostgreSQL)")
    from temporalflow.client import Client, WorkflowFailureError

    client = await Client.connect()
    store = client.store
    warm = await client.start_workflow("Nothing", id="warm-" + queue, task_queue=queue)
    waiting = asyncio.ensure_future(warm.result())  # its wait makes the process LISTEN to closed:
    while client.store.wakeup_mark("closed:") is None:
        await asyncio.sleep(0.01)
    await in_thread(lambda: store.terminate("default", "warm-" + queue, None, "warm-up", None, ""))
    with pytest.raises(WorkflowFailureError):  # terminated; only the LISTEN on closed: matters here
        await waiting
    handle = await client.start_workflow("Nothing", id="quick-" + queue, task_queue=queue)
    assert handle._started_mark is not None
    await in_thread(lambda: store.terminate("default", "quick-" + queue, None, "done quickly", None, ""))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        assert loop.time() - t0 < 0.5  # the mark made the first wait return at once, no 1 s re-check
    finally:
        from asgiref.sync import sync_to_async

        await sync_to_async(connections.close_all, thread_sensitive=True)()  # the client's thread


async def test_a_close_wakes_its_waiters_with_the_closing_event(no_polling, queue):
    """``closed:{pk}`` carries the closing event, as close_event() would read it, in-process and via NOTIFY."""
    store = DjangoStore()
    run_id = await in_thread(lambda: start(store, queue, "wf-1"))
    pk = (await in_thread(lambda: store.describe("default", "wf-1", run_id))).pk
    sub = store.subscribe(f"closed:{pk}")
    await settled(sub)
    remote = None
    if connection.vendor == "postgresql":
        import psycopg

        params = connection.get_connection_params()
        conninfo = {k: params[k] for k in ("dbname", "user", "host", "port") if params.get(k)}
        remote = await psycopg.AsyncConnection.connect(autocommit=True, **conninfo)
        await remote.execute("LISTEN temporalflow_closed")
    try:
        await in_thread(lambda: store.terminate("default", "wf-1", run_id, "enough", None, "me"))
        assert await sub.wait(5) is True
        event = await in_thread(lambda: store.close_event(pk))
        assert event is not None and event.attributes["reason"] == "enough"
        assert sub.notice is not None
        assert store.close_event_from_notice(sub.notice) == event
        if remote is not None:  # what another process's LISTEN session receives
            note = await asyncio.wait_for(anext(remote.notifies()), 5)
            channel, notice = split_payload(note.payload)
            assert channel == f"closed:{pk}"
            assert notice is not None and store.close_event_from_notice(notice) == event
    finally:
        sub.close()
        if remote is not None:
            await remote.close()


async def test_a_notice_from_another_connection_reaches_the_subscriber(no_polling):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    import psycopg

    sub = notify.hub.subscribe("closed:99", alias="default", poll_interval=60.0)
    await settled(sub)
    params = connection.get_connection_params()
    conninfo = {k: params[k] for k in ("dbname", "user", "host", "port") if params.get(k)}
    async with await psycopg.AsyncConnection.connect(autocommit=True, **conninfo) as conn:
        await conn.execute("SELECT pg_notify('temporalflow_closed', %s)", ['closed:99\n[5,"x",1.0,{}]'])
    assert await sub.wait(5) is True
    assert sub.notice == '[5,"x",1.0,{}]'
    sub.close()


async def test_result_takes_the_closing_event_from_the_wake_up(no_polling, queue):
    """result() reads the store only before the close: the closing event comes with the wake-up."""
    from temporalflow.client import Client, WorkflowFailureError

    client = await Client.connect()
    store = client.store
    reads: list[object] = []
    close_event = store.close_event

    def counted(pk: int) -> object:
        event = close_event(pk)
        reads.append(event)
        return event

    store.close_event = counted  # type: ignore[method-assign]
    try:
        handle = await client.start_workflow("Nothing", id="wf-" + queue, task_queue=queue)
        waiting = asyncio.ensure_future(handle.result())
        while not notify.hub._subs.get(f"closed:{handle._known_pk(handle.result_run_id)}"):
            await asyncio.sleep(0.01)
        await in_thread(lambda: store.terminate("default", "wf-" + queue, None, "from the notice", None, ""))
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(waiting, 10)
        assert str(info.value.cause) == "from the notice"
        assert all(event is None for event in reads)  # only looks taken while the run was open
    finally:
        del store.close_event
        from asgiref.sync import sync_to_async

        await sync_to_async(connections.close_all, thread_sensitive=True)()
