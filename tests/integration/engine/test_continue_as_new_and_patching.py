"""Continue-as-new chains and patching across a deploy, through the public API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.client import Client, WorkflowExecutionStatus
from temporalflow.worker import Replayer
from tests.helpers import assert_eventually_async

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@workflow.defn
class Accumulate:
    @workflow.run
    async def run(self, runs_left: int, total: int) -> int:
        total += workflow.info().attempt  # 1 per run: the total counts the runs
        if runs_left > 1:
            workflow.continue_as_new(args=[runs_left - 1, total], memo={"total": total})
        return total


async def test_a_chain_of_fifty_runs_links_every_run_and_result_follows_it(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [Accumulate]) as w:
        handle = await client.start_workflow(Accumulate.run, args=[50, 0], id=key, task_queue=w.task_queue)
        assert await handle.result() == 50
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{key}'")]
    assert len(runs) == 50
    by_run = {r.run_id: r for r in runs}
    closed_as_new = [r for r in runs if r.status == WorkflowExecutionStatus.CONTINUED_AS_NEW]
    assert len(closed_as_new) == 49
    # Walk the chain from the first run: each close names the next run, whose start names it back.
    run_id, seen = handle.first_execution_run_id, 0
    while True:
        seen += 1
        history = await client.get_workflow_handle(key, run_id=run_id).fetch_history()
        started, last = history.events[0].attributes, history.events[-1]
        assert started["first_execution_run_id"] == handle.first_execution_run_id
        if last.event_type.value != "WorkflowExecutionContinuedAsNew":
            assert last.event_type.value == "WorkflowExecutionCompleted"
            break
        nxt = last.attributes["new_execution_run_id"]
        assert nxt in by_run
        following = (await client.get_workflow_handle(key, run_id=nxt).fetch_history()).events[0].attributes
        assert following["continued_execution_run_id"] == run_id
        run_id = nxt
    assert seen == 50
    latest = await client.get_workflow_handle(key).describe()
    assert latest.run_id == run_id and latest.status == WorkflowExecutionStatus.COMPLETED
    assert await latest.memo_value("total") == 49


@activity.defn
async def old_step(name: str) -> str:
    return f"old {name}"


@activity.defn
async def new_step(name: str) -> str:
    return f"new {name}"


@workflow.defn(name="Shipping")
class ShippingV1:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, name: str) -> str:
        first = await workflow.execute_activity(old_step, name, start_to_close_timeout=timedelta(seconds=5))
        await workflow.wait_condition(lambda: self.go)
        return first


@workflow.defn(name="Shipping")
class ShippingV2:
    """The deploy: new code behind a patch, old runs keep the old path."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, name: str) -> str:
        if workflow.patched("new-step"):
            first = await workflow.execute_activity(new_step, name, start_to_close_timeout=timedelta(seconds=5))
        else:
            first = await workflow.execute_activity(old_step, name, start_to_close_timeout=timedelta(seconds=5))
        await workflow.wait_condition(lambda: self.go)
        return first


@workflow.defn(name="Shipping")
class ShippingV3:
    """Once no old run is left: the old path goes, the patch is deprecated."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, name: str) -> str:
        workflow.deprecate_patch("new-step")
        first = await workflow.execute_activity(new_step, name, start_to_close_timeout=timedelta(seconds=5))
        await workflow.wait_condition(lambda: self.go)
        return first


async def test_a_patched_deploy_keeps_old_runs_on_the_old_path(client: Client) -> None:
    tq = new_task_queue()
    old_run, new_run, newest_run = wf_id(), wf_id(), wf_id()
    async with running_worker(client, [ShippingV1], [old_step], task_queue=tq):
        old = await client.start_workflow(ShippingV1.run, "a", id=old_run, task_queue=tq)
        # Wait until the old run is blocked on the signal (its activity done) before the deploy.
        async def activity_done() -> bool:
            types = [e.event_type.value for e in (await old.fetch_history()).events]
            return types[-1] == "WorkflowTaskCompleted" and "ActivityTaskCompleted" in types

        await assert_eventually_async(activity_done)
    # The deploy: v2 on a fresh worker (no cache) replays the old run and starts new ones.
    async with running_worker(client, [ShippingV2], [old_step, new_step], task_queue=tq, max_cached_workflows=0):
        new = await client.start_workflow(ShippingV2.run, "b", id=new_run, task_queue=tq)
        await old.signal(ShippingV2.proceed)
        await new.signal(ShippingV2.proceed)
        assert await old.result() == "old a"
        assert await new.result() == "new b"
    old_history, new_history = await old.fetch_history(), await new.fetch_history()
    assert not any(e.event_type.value == "MarkerRecorded" for e in old_history.events)
    assert any(e.event_type.value == "MarkerRecorded" for e in new_history.events)
    replayer = Replayer(workflows=[ShippingV2])
    await replayer.replay_workflow(old_history)
    await replayer.replay_workflow(new_history)
    # v3 (deprecated patch) replays the patched history and runs new ones without the old path...
    await Replayer(workflows=[ShippingV3]).replay_workflow(new_history)
    async with running_worker(client, [ShippingV3], [new_step], task_queue=tq):
        newest = await client.start_workflow(ShippingV3.run, "c", id=newest_run, task_queue=tq)
        await newest.signal(ShippingV3.proceed)
        assert await newest.result() == "new c"
    # ... but an unpatched history from before the deploy no longer replays on v3.
    result = await Replayer(workflows=[ShippingV3]).replay_workflow(old_history, raise_on_replay_failure=False)
    assert result.replay_failure is not None and "TMPRL1100" in str(result.replay_failure)
