"""Update-with-start through the public API: one transaction for the start and the update."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from temporalflow import workflow
from temporalflow.client import (
    Client,
    SyncClient,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalflow.common import WorkflowIDConflictPolicy
from temporalflow.exceptions import WorkflowAlreadyStartedError

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@workflow.defn
class Counter:
    # With update-with-start the update's handler runs before the run method's first step
    # (as in Temporal), so the input is taken in @workflow.init.
    @workflow.init
    def __init__(self, start: int) -> None:
        self.total = start
        self.calls = 0
        self.done = False

    @workflow.update
    def add(self, amount: int) -> int:
        self.calls += 1
        self.total += amount
        return self.total

    @add.validator
    def check_add(self, amount: int) -> None:
        if amount < 0:
            raise ValueError("amount must not be negative")

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def handler_calls(self) -> int:
        return self.calls

    @workflow.run
    async def run(self, start: int) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.total


def _op(key: str, tq: str, policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.USE_EXISTING,
        start: int = 0) -> WithStartWorkflowOperation:
    return WithStartWorkflowOperation(Counter.run, start, id=key, task_queue=tq, id_conflict_policy=policy)


async def test_update_with_start_starts_the_run_and_returns_the_updates_result(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [Counter]) as w:
        op = _op(key, w.task_queue, start=10)
        assert await client.execute_update_with_start_workflow(Counter.add, 5, start_workflow_operation=op) == 15
        handle = await op.workflow_handle()
        assert handle.id == key
        await handle.signal(Counter.finish)
        assert await handle.result() == 15


async def test_use_existing_sends_the_update_to_the_running_run(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [Counter]) as w:
        first = await client.start_workflow(Counter.run, 1, id=key, task_queue=w.task_queue)
        op = _op(key, w.task_queue, start=100)  # its input is unused: the running run gets the update
        update = await client.start_update_with_start_workflow(
            Counter.add, 2, start_workflow_operation=op, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        assert await update.result() == 3
        assert (await op.workflow_handle()).result_run_id == first.result_run_id
        await first.signal(Counter.finish)
        assert await first.result() == 3


async def test_fail_policy_with_a_running_run_writes_nothing(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [Counter]) as w:
        first = await client.start_workflow(Counter.run, 1, id=key, task_queue=w.task_queue)
        op = _op(key, w.task_queue, policy=WorkflowIDConflictPolicy.FAIL)
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.execute_update_with_start_workflow(Counter.add, 2, start_workflow_operation=op)
        with pytest.raises(WorkflowAlreadyStartedError):
            await op.workflow_handle()
        assert await first.query(Counter.handler_calls) == 0
        await first.signal(Counter.finish)
        assert await first.result() == 1


async def test_a_rejected_update_still_leaves_the_run_started(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [Counter]) as w:
        op = _op(key, w.task_queue, start=4)
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await client.execute_update_with_start_workflow(Counter.add, -1, start_workflow_operation=op)
        assert "amount must not be negative" in str(err.value.cause)
        handle = await op.workflow_handle()
        await handle.signal(Counter.finish)
        assert await handle.result() == 4


async def test_the_same_update_id_runs_the_handler_once(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [Counter]) as w:
        for _ in range(2):
            result = await client.execute_update_with_start_workflow(
                Counter.add, 7, id="add-once", start_workflow_operation=_op(key, w.task_queue))
            assert result == 7
        handle = client.get_workflow_handle(key)
        assert await handle.query(Counter.handler_calls) == 1
        await handle.signal(Counter.finish)


async def test_bad_operations_are_refused_before_anything_is_written(client: Client) -> None:
    tq = new_task_queue()
    unspecified = WithStartWorkflowOperation(Counter.run, 0, id=wf_id(), task_queue=tq)
    with pytest.raises(ValueError, match="WorkflowIDConflictPolicy is required"):
        await client.execute_update_with_start_workflow(Counter.add, 1, start_workflow_operation=unspecified)
    with pytest.raises(ValueError, match="ADMITTED"):
        await client.start_update_with_start_workflow(Counter.add, 1, start_workflow_operation=_op(wf_id(), tq),
                                                      wait_for_stage=WorkflowUpdateStage.ADMITTED)
    op = _op(wf_id(), tq)
    async with running_worker(client, [Counter], task_queue=tq):
        await client.execute_update_with_start_workflow(Counter.add, 1, start_workflow_operation=op)
        with pytest.raises(RuntimeError, match="cannot be reused"):
            await client.execute_update_with_start_workflow(Counter.add, 1, start_workflow_operation=op)
        await (await op.workflow_handle()).signal(Counter.finish)


def _sync_update_with_start(key: str, tq: str) -> tuple[int, int]:
    client = SyncClient.connect()
    op = _op(key, tq, start=1)
    first = client.execute_update_with_start_workflow(Counter.add, 2, start_workflow_operation=op)
    handle = op.workflow_handle_sync()
    handle.signal(Counter.finish)
    return first, handle.result()


async def test_sync_client_update_with_start(client: Client) -> None:
    async with running_worker(client, [Counter]) as w:
        assert await sync_to_async(_sync_update_with_start)(wf_id(), w.task_queue) == (3, 3)
