"""Engine metrics move by the right amounts, with the right labels, when workflows run."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from prometheus_client import REGISTRY

from temporalflow import activity, workflow
from temporalflow.client import Client, WorkflowFailureError
from temporalflow.common import RetryPolicy
from temporalflow.core.events import EventType
from temporalflow.exceptions import ApplicationError
from temporalflow.testing import WorkflowEnvironment
from tests.integration.engine.conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    """The environment's client (this module only; elsewhere ``client`` is Django's test client)."""
    return env.client


def value(name: str, **labels: str) -> float:
    """A sample of the default registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def eventually(condition: Any, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` holds: a worker counts a close after its commit, which a
    client waiting for the result may see first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@activity.defn
async def broken(text: str) -> str:
    raise ApplicationError("always broken", non_retryable=True)


@workflow.defn
class ShoutTwice:
    @workflow.run
    async def run(self, text: str) -> str:
        a = await workflow.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))
        return await workflow.execute_activity(shout, a + "!", start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class FailsOnActivity:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(broken, "x", start_to_close_timeout=timedelta(seconds=10),
                                               retry_policy=RetryPolicy(maximum_attempts=1))


@workflow.defn
class WaitsForever:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_completed_workflow_counts_and_latencies(client: Client) -> None:
    ns = client.namespace
    async with running_worker(client, [ShoutTwice], [shout]) as w:
        tq = w.task_queue
        wf = {"namespace": ns, "task_queue": tq, "workflow_type": "ShoutTwice"}
        act = {"namespace": ns, "task_queue": tq, "activity_type": "shout"}
        assert await client.execute_workflow(ShoutTwice.run, "hi", id=wf_id(), task_queue=tq) == "HI!"
        assert await client.execute_workflow(ShoutTwice.run, "yo", id=wf_id(), task_queue=tq) == "YO!"
        await eventually(lambda: value("temporalflow_workflows_closed_total", **wf, status="completed") == 2)

        assert value("temporalflow_workflows_started_total", **wf) == 2
        assert value("temporalflow_workflows_closed_total", **wf, status="completed") == 2
        assert value("temporalflow_workflows_closed_total", **wf, status="failed") == 0
        # Three workflow tasks per run (start, after each activity), each activated once.
        assert value("temporalflow_workflow_task_execution_seconds_count", **wf) == 6
        assert value("temporalflow_workflow_task_execution_seconds_sum", **wf) > 0
        s2s = value("temporalflow_workflow_task_schedule_to_start_seconds_count", **wf)
        assert s2s == 6  # every lease carries its task's scheduled and started events (new to the cache)
        assert value("temporalflow_workflow_task_schedule_to_start_seconds_bucket", **wf, le="+Inf") == s2s
        # Two activity attempts per run.
        assert value("temporalflow_activity_schedule_to_start_seconds_count", **act) == 4
        assert value("temporalflow_activity_execution_seconds_count", **act) == 4
        assert value("temporalflow_activity_execution_failed_total", **act) == 0

        # The worker's cache and slots, read at scrape time while it runs.
        q = {"namespace": ns, "task_queue": tq}
        hits = value("temporalflow_sticky_cache_hits_total", **q)
        misses = value("temporalflow_sticky_cache_misses_total", **q)
        assert hits >= 1 and misses >= 2  # each run's first task misses; its later ones hit the sticky cache
        assert value("temporalflow_sticky_cache_size", **q) == 0  # closed runs leave the cache
        assert value("temporalflow_worker_slots", **q, kind="workflow") == 100
        assert value("temporalflow_worker_slots", **q, kind="activity") == 100
        assert value("temporalflow_worker_slots_used", **q, kind="activity") == 0
    # A stopped worker's gauges go; its hit and miss totals stay.
    assert value("temporalflow_worker_slots", **q, kind="workflow") == 0
    assert value("temporalflow_sticky_cache_hits_total", **q) == hits
    assert value("temporalflow_sticky_cache_misses_total", **q) == misses


async def test_failed_workflow_and_activity_failure(client: Client) -> None:
    async with running_worker(client, [FailsOnActivity], [broken]) as w:
        wf = {"namespace": client.namespace, "task_queue": w.task_queue, "workflow_type": "FailsOnActivity"}
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(FailsOnActivity.run, id=wf_id(), task_queue=w.task_queue)
        await eventually(lambda: value("temporalflow_workflows_closed_total", **wf, status="failed") == 1)
    assert value("temporalflow_workflows_closed_total", **wf, status="failed") == 1
    assert value("temporalflow_workflows_closed_total", **wf, status="completed") == 0
    act = {"namespace": client.namespace, "task_queue": w.task_queue, "activity_type": "broken"}
    assert value("temporalflow_activity_execution_failed_total", **act) == 1
    assert value("temporalflow_activity_execution_seconds_count", **act) == 1


@workflow.defn
class BrokenTask:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug: fails the workflow task, not the workflow")


async def test_workflow_task_failure(client: Client) -> None:
    async with running_worker(client, [BrokenTask]) as w:
        labels = {"namespace": client.namespace, "task_queue": w.task_queue, "workflow_type": "BrokenTask"}
        h = await client.start_workflow(BrokenTask.run, id=wf_id(), task_queue=w.task_queue)
        await eventually(lambda: value("temporalflow_workflow_task_failed_total", **labels,
                                       cause="WorkflowWorkerUnhandledFailure") >= 1)
        await h.terminate("done")
    await eventually(lambda: value("temporalflow_workflows_closed_total", **labels, status="terminated") == 1)
    assert value("temporalflow_workflows_closed_total", **labels, status="failed") == 0


async def test_terminated_and_canceled(client: Client) -> None:
    async with running_worker(client, [WaitsForever]) as w:
        wf = {"namespace": client.namespace, "task_queue": w.task_queue, "workflow_type": "WaitsForever"}
        h1 = await client.start_workflow(WaitsForever.run, id=wf_id(), task_queue=w.task_queue)
        h2 = await client.start_workflow(WaitsForever.run, id=wf_id(), task_queue=w.task_queue)
        await h1.terminate("enough")
        # Cancel once the run is waiting (its first task completed): a cancel request recorded
        # before the first workflow task starts is not delivered to the workflow today.
        for _ in range(1000):
            if any(e.event_type is EventType.WORKFLOW_TASK_COMPLETED for e in (await h2.fetch_history()).events):
                break
            await asyncio.sleep(0.01)
        await h2.cancel()
        for h in (h1, h2):
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(h.result(), 20)
        await eventually(lambda: value("temporalflow_workflows_closed_total", **wf, status="canceled") == 1)
    assert value("temporalflow_workflows_started_total", **wf) == 2
    assert value("temporalflow_workflows_closed_total", **wf, status="terminated") == 1
    assert value("temporalflow_workflows_closed_total", **wf, status="canceled") == 1


async def test_timed_out(time_env: WorkflowEnvironment) -> None:
    client = time_env.client
    async with running_worker(client, [WaitsForever]) as w:
        wf = {"namespace": client.namespace, "task_queue": w.task_queue, "workflow_type": "WaitsForever"}
        h = await client.start_workflow(WaitsForever.run, id=wf_id(), task_queue=w.task_queue,
                                        execution_timeout=timedelta(seconds=30))
        with pytest.raises(WorkflowFailureError):
            await h.result()
    assert value("temporalflow_workflows_closed_total", **wf, status="timed_out") == 1


async def test_task_queue_backlog(client: Client, settings: Any) -> None:
    settings.TEMPORALFLOW = {"METRICS_BACKLOG_INTERVAL": 0}
    tq = new_task_queue()  # no worker polls it yet
    labels = {"namespace": client.namespace, "task_queue": tq}
    for _ in range(3):
        await client.start_workflow(ShoutTwice.run, "x", id=wf_id(), task_queue=tq)
    # The backlog is read from the database by the scraping thread (never the event loop).
    read = sync_to_async(value)
    assert await read("temporalflow_task_queue_backlog", **labels, kind="workflow") == 3
    assert await read("temporalflow_task_queue_backlog", **labels, kind="activity") == 0
    async with running_worker(client, [ShoutTwice], [shout], task_queue=tq):
        for _ in range(500):
            if await read("temporalflow_task_queue_backlog", **labels, kind="workflow") == 0:
                break
            await asyncio.sleep(0.02)
        assert await read("temporalflow_task_queue_backlog", **labels, kind="workflow") == 0
