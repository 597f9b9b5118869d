"""Worker database connections: bounded idle transactions, recovery after killed sessions."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection, connections, transaction

from temporalflow import activity, workflow
from temporalflow.client import Client
from temporalflow.store import get_store
from temporalflow.store._base_sql import RUN
from tests.helpers import assert_eventually_async

from .conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _show_in_worker_thread(setting: str) -> str:
    """``SHOW setting`` on a connection opened by a thread marked as a worker's."""
    out: list[str] = []

    def run() -> None:
        get_store().mark_worker_thread()
        with connections["default"].cursor() as cur:
            cur.execute(f"SHOW {setting}")
            out.append(cur.fetchone()[0])
        connections["default"].close()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_worker_connections_bound_idle_transactions() -> None:
    assert _show_in_worker_thread("idle_in_transaction_session_timeout") == "10s"


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


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_worker_connections_name_their_process() -> None:
    assert _show_in_worker_thread("application_name") == f"temporalflow-worker pid={os.getpid()}"


@workflow.defn
class NapWorkflow:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(0.5)
        return "woke"


def _freeze_holding_run_lock(workflow_id: str, application_name: str) -> Any:
    """A session that, like a worker frozen mid-pipeline, holds the run's row lock and never sends Sync."""
    import psycopg

    keep = {"dbname", "user", "password", "host", "port"}
    params = {k: v for k, v in connection.get_connection_params().items() if k in keep and v not in (None, "")}
    raw = psycopg.connect(**params, application_name=application_name, autocommit=True)
    raw.frozen_pipeline = raw.pipeline()  # kept: leaving the block would send the Sync
    raw.frozen_pipeline.__enter__()
    raw.execute("BEGIN")
    raw.execute(f"SELECT id FROM {RUN} WHERE workflow_id = %s FOR UPDATE", [workflow_id])
    raw.execute("SELECT pg_sleep(0)")  # flushed like the statement before it, still no Sync
    return raw


def _wait_until_locked(workflow_id: str) -> None:
    try:
        with connection.cursor() as cur:
            cur.execute("SET lock_timeout = '50ms'")
            for _ in range(200):
                try:
                    with transaction.atomic():
                        cur.execute(f"SELECT id FROM {RUN} WHERE workflow_id = %s FOR UPDATE", [workflow_id])
                except OperationalError:
                    return  # the frozen session holds it
            raise AssertionError("the frozen session never took the run's lock")
    finally:
        connection.close()  # this helper thread's own session must not outlive the test


async def _timer_started(handle: Any) -> bool:
    history = await handle.fetch_history()
    return any(e.event_type == "TimerStarted" for e in history.events)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
async def test_a_worker_frozen_inside_a_transaction_loses_its_session_and_the_run_goes_on(
    client: Client, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TEMPORALFLOW = {"WORKER_IDLE_IN_TRANSACTION_TIMEOUT": 1.0}
    import psycopg

    freeze = sync_to_async(_freeze_holding_run_lock, thread_sensitive=False)
    async with running_worker(client, [NapWorkflow]) as w:
        handle = await client.start_workflow(NapWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        await assert_eventually_async(lambda: _timer_started(handle), timeout=10)
        frozen = await freeze(handle.id, "temporalflow-worker pid=0")
        # A session of another application stuck the same way is not the worker's to end.
        bystander = await freeze("no-such-workflow", "someone-else")
        try:
            await sync_to_async(_wait_until_locked, thread_sensitive=False)(handle.id)
            # The timer's sweep waits on the frozen lock until the session is ended.
            assert await handle.result(rpc_timeout=timedelta(seconds=30)) == "woke"
            assert "not responding" in caplog.text
            with pytest.raises(psycopg.OperationalError):
                frozen.execute("SELECT 1").fetchone()
            assert bystander.execute("SELECT 1").fetchone() == (1,)  # still there, answered on Sync
        finally:
            frozen.close()
            bystander.close()
