"""Another process appends to the run (a signal sent by a separate ``SyncClient`` process): the socket sees it.

On PostgreSQL the wake-up comes by LISTEN/NOTIFY, so the event reaches the socket within
a fraction of a second of the writer's commit; on SQLite the consumer polls
(``POLL_INTERVAL``, 0.5 s).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from temporalflow.client import Client
from temporalflow.store import notify
from temporalflow.worker import Worker

from .conftest import communicator, new_task_queue, receive_until
from .test_run_history_socket import VIEW, _path, _waiting_run
from .workflows import ChatWorkflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[3]

SIGNAL_SCRIPT = """
import sys, time
import django
django.setup()
from temporalflow.client import SyncClient
SyncClient.connect().get_workflow_handle(sys.argv[1]).signal("say", "from another process")
print(time.time(), flush=True)
"""


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


async def test_an_event_written_by_another_process_reaches_the_socket(
    tf_client: Client, make_user: Any, asgi_application: Any,
) -> None:
    session = await make_user("watcher", VIEW)
    database_url = _database_url()
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        handle, run = await _waiting_run(tf_client, worker.task_queue)
        comm = communicator(asgi_application, _path(run.pk, after=run.next_event_id - 1), session)
        assert (await comm.connect())[0]
        first = await comm.receive_json_from(timeout=5)
        assert first["events"] == []
        if connection.vendor == "postgresql":
            ready = notify.hub.listener_ready("default")
            assert ready is not None
            await asyncio.wait_for(ready.wait(), 10)
        env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "project.settings"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SIGNAL_SCRIPT, handle.id, cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # The commit time as soon as the writer prints it (not after its interpreter exits, which on a
        # loaded machine can take longer than the event takes to arrive).
        assert proc.stdout is not None
        out = b""
        committed_at = None
        while committed_at is None:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, f"the writer process exited: {out.decode()}"
            out += line
            try:
                committed_at = float(line)
            except ValueError:
                continue  # a log line
        seen = await receive_until(
            comm, lambda m: any(e["event_type"] == "WorkflowExecutionSignaled" for e in m.get("events", [])),
            timeout=10)
        latency = time.time() - committed_at
        signaled = next(e for m in seen for e in m["events"] if e["event_type"] == "WorkflowExecutionSignaled")
        assert "from another process" in signaled["html"]
        # LISTEN/NOTIFY on PostgreSQL; polling every POLL_INTERVAL on SQLite (bounds are generous for CI).
        assert latency < (1.0 if connection.vendor == "postgresql" else 3.0), latency
        rest, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, (out + rest).decode()
        await comm.disconnect()


