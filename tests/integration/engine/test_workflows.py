"""Workflows through the public API: signals, queries, updates, timers, cancel, terminate,
id policies, transactions, non-determinism, time skipping."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from temporalflow import activity, workflow
from temporalflow.client import (
    Client,
    SyncClient,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalflow.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalflow.exceptions import ApplicationError, CancelledError, TerminatedError, WorkflowAlreadyStartedError
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.testing import WorkflowEnvironment

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@dataclass
class Item:
    sku: str
    qty: int


@workflow.defn
class CartWorkflow:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.checked_out = False

    @workflow.run
    async def run(self) -> list[Item]:
        await workflow.wait_condition(lambda: self.checked_out)
        return self.items

    @workflow.signal
    def add(self, item: Item) -> None:
        self.items.append(item)

    @workflow.signal
    def checkout(self) -> None:
        self.checked_out = True

    @workflow.query
    def count(self) -> int:
        return sum(i.qty for i in self.items)

    @workflow.update
    def set_qty(self, sku: str, qty: int) -> int:
        for item in self.items:
            if item.sku == sku:
                item.qty = qty
        return self.count()

    @set_qty.validator
    def validate_set_qty(self, sku: str, qty: int) -> None:
        if qty < 0:
            raise ValueError("quantity must not be negative")
        if not any(i.sku == sku for i in self.items):
            raise ApplicationError(f"no item {sku}", type="UnknownItem")


async def test_signals_in_a_burst_keep_order_and_queries_see_state(client: Client) -> None:
    async with running_worker(client, [CartWorkflow]) as w:
        handle = await client.start_workflow(CartWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        for i in range(30):
            await handle.signal(CartWorkflow.add, Item(f"sku-{i}", 1))
        assert await handle.query(CartWorkflow.count) == 30
        with pytest.raises(WorkflowQueryFailedError, match="nope"):
            await handle.query("nope")
        await handle.signal(CartWorkflow.checkout)
        items = await handle.result()
        assert [i.sku for i in items] == [f"sku-{i}" for i in range(30)]
        assert all(isinstance(i, Item) for i in items)
        # A closed run still answers queries (by replaying its history).
        assert await handle.query(CartWorkflow.count) == 30
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED and desc.workflow_type == "CartWorkflow"


async def test_signal_with_start_and_signal_before_first_task(client: Client) -> None:
    tq = new_task_queue()
    handle = await client.start_workflow(CartWorkflow.run, id=wf_id(), task_queue=tq,
                                         start_signal="add", start_signal_args=[Item("early", 2)])
    await handle.signal(CartWorkflow.add, Item("second", 1))
    await handle.signal(CartWorkflow.checkout)
    async with running_worker(client, [CartWorkflow], task_queue=tq):
        items = await handle.result()
    assert [(i.sku, i.qty) for i in items] == [("early", 2), ("second", 1)]


async def test_updates_validate_reject_and_complete(client: Client) -> None:
    async with running_worker(client, [CartWorkflow]) as w:
        handle = await client.start_workflow(CartWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        await handle.signal(CartWorkflow.add, Item("a", 1))
        assert await handle.execute_update(CartWorkflow.set_qty, args=["a", 5]) == 5
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(CartWorkflow.set_qty, args=["a", -1])
        assert "negative" in str(err.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(CartWorkflow.set_qty, args=["zzz", 1])
        assert isinstance(err.value.cause, ApplicationError) and err.value.cause.type == "UnknownItem"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("no_such_update")
        # Same update id: applied once, same answer.
        first = await handle.execute_update(CartWorkflow.set_qty, args=["a", 7], id="u-fixed")
        again = await handle.execute_update(CartWorkflow.set_qty, args=["a", 9], id="u-fixed")
        assert first == again == 7
        assert await handle.query(CartWorkflow.count) == 7
        await handle.signal(CartWorkflow.checkout)
        await handle.result()
    # Rejected updates leave no trace in history, accepted ones do.
    names = [e.event_type.value for e in (await handle.fetch_history()).events]
    assert names.count("WorkflowExecutionUpdateAccepted") == 2
    assert names.count("WorkflowExecutionUpdateCompleted") == 2


async def test_signal_query_update_errors_for_unknown_and_closed_runs(client: Client) -> None:
    missing = client.get_workflow_handle("does-not-exist")
    with pytest.raises(RPCError) as err:
        await missing.signal("x")
    assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError):
        await missing.describe()
    async with running_worker(client, [CartWorkflow]) as w:
        handle = await client.start_workflow(CartWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        await handle.signal(CartWorkflow.checkout)
        await handle.result()
    with pytest.raises(RPCError, match="already completed"):
        await handle.signal(CartWorkflow.add, Item("late", 1))
    with pytest.raises(RPCError, match="already completed"):
        await handle.terminate()


@activity.defn
async def long_step() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.05)


@workflow.defn
class CancellableWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(long_step, start_to_close_timeout=timedelta(seconds=60),
                                            heartbeat_timeout=timedelta(seconds=5))
        except asyncio.CancelledError:
            raise
        return "finished"


async def test_cancel_and_terminate(client: Client) -> None:
    async with running_worker(client, [CancellableWorkflow], [long_step]) as w:
        handle = await client.start_workflow(CancellableWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        await asyncio.sleep(0.2)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        assert isinstance(err.value.cause, CancelledError)
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED

        handle2 = await client.start_workflow(CancellableWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        await handle2.terminate("details", reason="operator said so")
        with pytest.raises(WorkflowFailureError) as err:
            await handle2.result()
        assert isinstance(err.value.cause, TerminatedError)
        assert "operator said so" in str(err.value.cause)
        assert (await handle2.describe()).status == WorkflowExecutionStatus.TERMINATED


cleanups: list[str] = []


@workflow.defn
class CleansUpWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            if not workflow.unsafe.is_replaying():
                cleanups.append(workflow.info().workflow_id)
            raise
        return "never"


async def test_cancel_requested_before_the_first_task_reaches_the_run(client: Client) -> None:
    tq = new_task_queue()
    handle = await client.start_workflow(CleansUpWorkflow.run, id=wf_id(), task_queue=tq)
    await handle.cancel()  # no worker yet: the run has not started
    async with running_worker(client, [CleansUpWorkflow], task_queue=tq):
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 20)
    assert isinstance(err.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert cleanups == [handle.id]  # the run method started and saw the cancellation at its first await


@workflow.defn
class SleepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> float:
        start = workflow.now()
        await workflow.sleep(seconds)
        return (workflow.now() - start).total_seconds()


async def test_timer_survives_worker_restart(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [SleepWorkflow], task_queue=tq):
        handle = await client.start_workflow(SleepWorkflow.run, 1.0, id=wf_id(), task_queue=tq)
        while (await handle.describe()).history_length < 5:  # TimerStarted written
            await asyncio.sleep(0.02)
    # No worker while the timer is due; a new one fires it and finishes the run.
    await asyncio.sleep(1.2)
    async with running_worker(client, [SleepWorkflow], task_queue=tq, max_cached_workflows=0):
        elapsed = await handle.result()
    assert elapsed >= 1.0


async def test_time_skipping_environment_skips_long_timers(time_env: WorkflowEnvironment) -> None:
    client = time_env.client
    async with running_worker(client, [SleepWorkflow]) as w:
        elapsed = await asyncio.wait_for(
            client.execute_workflow(SleepWorkflow.run, 86400.0, id=wf_id(), task_queue=w.task_queue), timeout=30)
    assert elapsed >= 86400.0


async def test_id_reuse_and_conflict_policies(client: Client) -> None:
    tq = new_task_queue()
    wid = wf_id()
    first = await client.start_workflow(CartWorkflow.run, id=wid, task_queue=tq)
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(CartWorkflow.run, id=wid, task_queue=tq)
    same = await client.start_workflow(CartWorkflow.run, id=wid, task_queue=tq,
                                       id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    assert same.result_run_id == first.result_run_id
    replaced = await client.start_workflow(CartWorkflow.run, id=wid, task_queue=tq,
                                           id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING)
    assert replaced.result_run_id != first.result_run_id
    assert (await client.get_workflow_handle(wid, run_id=first.result_run_id).describe()).status == \
        WorkflowExecutionStatus.TERMINATED
    await replaced.terminate(reason="done")
    with pytest.raises(WorkflowAlreadyStartedError):
        await client.start_workflow(CartWorkflow.run, id=wid, task_queue=tq,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    again = await client.start_workflow(CartWorkflow.run, id=wid, task_queue=tq,
                                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
    assert again.result_run_id not in (first.result_run_id, replaced.result_run_id)
    await again.terminate()


def _start_in_transaction(wid: str, tq: str, fail: bool) -> None:
    client = SyncClient.connect()
    with transaction.atomic():
        client.start_workflow(CartWorkflow.run, id=wid, task_queue=tq)
        if fail:
            raise RuntimeError("caller rolls back")


async def test_start_rolls_back_with_callers_transaction(client: Client) -> None:
    tq = new_task_queue()
    rolled_back, committed = wf_id(), wf_id()
    with pytest.raises(RuntimeError):
        await sync_to_async(_start_in_transaction)(rolled_back, tq, True)
    with pytest.raises(RPCError):
        await client.get_workflow_handle(rolled_back).describe()
    await sync_to_async(_start_in_transaction)(committed, tq, False)
    assert (await client.get_workflow_handle(committed).describe()).status == WorkflowExecutionStatus.RUNNING


def _sync_client_roundtrip(tq: str) -> list:
    client = SyncClient.connect()
    handle = client.start_workflow(CartWorkflow.run, id=wf_id(), task_queue=tq)
    handle.signal(CartWorkflow.add, Item("x", 3))
    count = handle.query(CartWorkflow.count)
    handle.signal(CartWorkflow.checkout)
    return [count, [i.qty for i in handle.result(timeout=20)]]


async def test_sync_client_drives_a_workflow(client: Client) -> None:
    async with running_worker(client, [CartWorkflow]) as w:
        assert await sync_to_async(_sync_client_roundtrip, thread_sensitive=False)(w.task_queue) == [3, [3]]


@activity.defn
async def step(name: str) -> str:
    return name


@workflow.defn(name="Versioned")
class VersionedV1:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(step, "one", start_to_close_timeout=timedelta(seconds=5))
        await workflow.sleep(0.5)
        return "v1"


@workflow.defn(name="Versioned")
class VersionedV2Incompatible:
    @workflow.run
    async def run(self) -> str:
        await workflow.execute_activity(step, "one", start_to_close_timeout=timedelta(seconds=5))
        await workflow.execute_activity(step, "inserted", start_to_close_timeout=timedelta(seconds=5))
        await workflow.sleep(0.5)
        return "v2"


async def test_nondeterminism_fails_the_task_not_the_run_and_a_fixed_worker_completes_it(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [VersionedV1], [step], task_queue=tq):
        handle = await client.start_workflow("Versioned", id=wf_id(), task_queue=tq)
        while "TimerStarted" not in [e.event_type.value for e in (await handle.fetch_history()).events]:
            await asyncio.sleep(0.02)
    async with running_worker(client, [VersionedV2Incompatible], [step], task_queue=tq, max_cached_workflows=0):
        while True:
            events = (await handle.fetch_history()).events
            failed = [e for e in events if e.event_type.value == "WorkflowTaskFailed"]
            if failed:
                break
            await asyncio.sleep(0.05)
    assert failed[0].attributes["cause"] == "NonDeterministicError"
    assert "TMPRL1100" in failed[0].attributes["failure"]["message"]
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    async with running_worker(client, [VersionedV1], [step], task_queue=tq):
        assert await handle.result() == "v1"


@workflow.defn
class UnknownLater:
    @workflow.run
    async def run(self) -> str:
        return "registered now"


async def test_unknown_workflow_type_fails_task_until_registered(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [SleepWorkflow], task_queue=tq):
        handle = await client.start_workflow("UnknownLater", id=wf_id(), task_queue=tq)
        while True:
            events = (await handle.fetch_history()).events
            failed = [e for e in events if e.event_type.value == "WorkflowTaskFailed"]
            if failed:
                break
            await asyncio.sleep(0.02)
    assert "UnknownLater is not registered" in failed[0].attributes["failure"]["message"]
    async with running_worker(client, [UnknownLater], task_queue=tq):
        assert await handle.result() == "registered now"


@workflow.defn
class FailsWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("order invalid", type="InvalidOrder", non_retryable=True)


async def test_application_error_fails_the_workflow(client: Client) -> None:
    async with running_worker(client, [FailsWorkflow]) as w:
        with pytest.raises(WorkflowFailureError) as err:
            await client.execute_workflow(FailsWorkflow.run, id=wf_id(), task_queue=w.task_queue)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidOrder" and cause.message == "order invalid"
