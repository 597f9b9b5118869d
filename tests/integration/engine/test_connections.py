"""Worker database connections: bounded idle transactions, recovery after killed sessions."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

from temporalflow import activity, workflow
from temporalflow.client import Client
from temporalflow.store import get_store

from .conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _setting_in_worker_thread() -> str:
    out: list[str] = []

    def run() -> None:
        get_store().mark_worker_thread()
        with connections["default"].cursor() as cur:
            cur.execute("SHOW idle_in_transaction_session_timeout")
            out.append(cur.fetchone()[0])
        connections["default"].close()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_worker_connections_bound_idle_transactions() -> None:
    assert _setting_in_worker_thread() == "10s"


@activity.defn
async def echo(x: str) -> str:
    return x


@workflow.defn
class EchoWorkflow:
    @workflow.run
    async def run(self, x: str) -> str:
        return await workflow.execute_activity(echo, x, start_to_close_timeout=timedelta(seconds=10))


def _backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return int(cur.fetchone()[0])


def _kill_sessions_except(keep: list[int]) -> int:
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s)) AND backend_type = 'client backend'",
                [keep],
            )
            return int(cur.fetchone()[0])
    finally:
        connection.close()  # this helper thread's own session must not outlive the test


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_worker_recovers_after_its_sessions_are_killed(client: Client) -> None:
    async with running_worker(client, [EchoWorkflow], [echo]) as w:
        before = await client.execute_workflow(EchoWorkflow.run, "before", id=wf_id(), task_queue=w.task_queue)
        assert before == "before"
        client_pid = await client._run(_backend_pid)  # the test's client is not under test here
        assert await sync_to_async(_kill_sessions_except, thread_sensitive=False)([client_pid]) >= 1
        # Every worker thread's connection (and the LISTEN one) is gone; work must go on.
        result = await client.execute_workflow(EchoWorkflow.run, "after", id=wf_id(), task_queue=w.task_queue,
                                               rpc_timeout=timedelta(seconds=30))
        assert result == "after"
