"""Group fan-out of the run socket through the channel layer, in-memory and with a real Redis.

A worker in another process commits the run's events; three sockets of the run are open in this
process. Each change is read from the database once (by the process's broadcaster of the run) and
reaches every socket through ``group_send`` on the layer; the sockets themselves read only their
catch-up. With Redis the layer is channels-redis on 127.0.0.1:6379 (the test skips when it is not
reachable).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from django.db import connection

from temporalflow.channels import consumers
from temporalflow.client import Client
from temporalflow.store import notify

from .conftest import communicator, new_task_queue, receive_until, wf_id
from .test_cross_process import ROOT, _database_url
from .test_run_history_socket import VIEW, _path, _run_row
from .workflows import ChatWorkflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

REDIS = ("127.0.0.1", 6379)
SUBSCRIBERS = 3

WORKER_SCRIPT = """
import asyncio, sys
import django
django.setup()
from temporalflow.client import Client
from temporalflow.worker import Worker
from tests.integration.channels.workflows import ChatWorkflow

async def main():
    client = await Client.connect()
    async with Worker(client, task_queue=sys.argv[1], workflows=[ChatWorkflow]):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes

asyncio.run(main())
"""


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["memory", "redis"])
def channel_layer(request: pytest.FixtureRequest, settings: Any) -> str:
    """CHANNEL_LAYERS for this test: the in-memory layer, or channels-redis on a fresh prefix."""
    if request.param == "redis":
        if not _redis_reachable():
            pytest.skip(f"Redis is not reachable on {REDIS[0]}:{REDIS[1]} (start redis-server to run this test)")
        settings.CHANNEL_LAYERS = {"default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # As project/settings.py: a read timeout longer than channels-redis' 5 s blocking receive.
            "CONFIG": {"hosts": [{"address": f"redis://{REDIS[0]}:{REDIS[1]}/0", "socket_timeout": 15}],
                       "prefix": f"tf-test-{uuid.uuid4().hex[:8]}"}}}
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return request.param


async def _start_worker_process(task_queue: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "project.settings"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER_SCRIPT, task_queue, cwd=ROOT, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = b""
    while not output.endswith(b"ready\n"):  # the worker's log lines come first
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, f"the worker process exited: {output.decode()}"
        output += line
    return proc


async def _stop(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def _has(event_type: str, after: int = 0) -> Any:
    return lambda m: any(e["event_type"] == event_type and e["event_id"] > after for e in m.get("events", []))


async def test_one_read_per_change_reaches_every_socket(
    channel_layer: str, tf_client: Client, make_user: Any, asgi_application: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A socket reads by itself only to catch up (on joining, or after a missed page); the
    # broadcaster counts its own reads.
    catch_ups = {"n": 0}
    original_catch_up = consumers.RunHistoryConsumer._catch_up

    async def counting_catch_up(self: consumers.RunHistoryConsumer) -> bool:
        catch_ups["n"] += 1
        return await original_catch_up(self)

    monkeypatch.setattr(consumers.RunHistoryConsumer, "_catch_up", counting_catch_up)
    session = await make_user("watcher", VIEW)
    task_queue = new_task_queue()
    worker = await _start_worker_process(task_queue)
    comms = []
    try:
        handle = await tf_client.start_workflow(ChatWorkflow.run, "fan-out", id=wf_id(), task_queue=task_queue)
        run = await _run_row(handle.result_run_id)
        for _ in range(SUBSCRIBERS):
            comm = communicator(asgi_application, _path(run.pk), session)
            assert (await comm.connect(timeout=10))[0]
            comms.append(comm)
        # The worker process completes the first workflow task: every socket sees its events.
        for comm in comms:
            await receive_until(comm, _has("WorkflowTaskCompleted"), timeout=30)
        if connection.vendor == "postgresql":  # the broadcaster's LISTEN connection is up
            # (started by its first wait, which may come after a quick worker's first task)
            deadline = time.monotonic() + 10
            while (ready := notify.hub.listener_ready("default")) is None:
                assert time.monotonic() < deadline, "the broadcaster never waited for a change"
                await asyncio.sleep(0.01)
            await asyncio.wait_for(ready.wait(), 10)
        broadcaster = consumers._broadcasters[asyncio.get_running_loop()][run.pk]
        assert broadcaster.members == SUBSCRIBERS
        catch_ups_before, broadcaster_before = catch_ups["n"], broadcaster.reads

        last = (await _run_row(run.run_id)).next_event_id - 1
        await handle.signal(ChatWorkflow.say, "hello")
        signaled_at = time.monotonic()
        latencies = []
        received_by: list[list[dict]] = []
        for comm in comms:
            received_by.append(await receive_until(comm, _has("WorkflowExecutionSignaled", last), timeout=10))
            latencies.append(time.monotonic() - signaled_at)
        for comm, received in zip(comms, received_by, strict=True):
            # ... and the workflow task the worker process completes for it (a quick worker's
            # completion may come in the same message as the signal).
            if not any(_has("WorkflowTaskCompleted", last)(m) for m in received):
                await receive_until(comm, _has("WorkflowTaskCompleted", last), timeout=30)

        # Every read after the sockets joined was the broadcaster's: one per change, whatever the subscribers.
        assert catch_ups["n"] == catch_ups_before
        assert broadcaster.reads - broadcaster_before <= 8, broadcaster.reads - broadcaster_before
        # PostgreSQL wakes the broadcaster by LISTEN/NOTIFY (issue 3: ~200 ms; the bound is generous for a
        # loaded CI machine); SQLite polls every POLL_INTERVAL (0.5 s).
        assert max(latencies) < (1.0 if connection.vendor == "postgresql" else 3.0), latencies

        await handle.signal(ChatWorkflow.done)
        for comm in comms:
            seen = await receive_until(comm, lambda m: m["type"] == "closed", timeout=30)
            assert seen[-1]["run"]["status_label"] == "Completed"
            assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 1000}
        assert run.pk not in consumers._broadcasters.get(asyncio.get_running_loop(), {})
    finally:
        for comm in comms:
            await comm.disconnect()
        await _stop(worker)
