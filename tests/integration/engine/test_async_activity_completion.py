"""Asynchronous activity completion: ``activity.raise_complete_async()`` and ``get_async_activity_handle``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from temporalflow import activity, workflow
from temporalflow.client import (
    AsyncActivityCancelledError,
    AsyncActivityIDReference,
    Client,
    SyncClient,
    WorkflowFailureError,
)
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType
from temporalflow.service import RPCError, RPCStatusCode

from .conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

_started: asyncio.Queue[activity.Info] | None = None


@activity.defn
async def complete_later(name: str) -> str:
    """Hands its info to the test, then leaves the attempt open."""
    assert _started is not None
    _started.put_nowait(activity.info())
    activity.raise_complete_async()


@activity.defn
def complete_later_sync(name: str) -> str:
    """The same from a thread (a ``def`` activity)."""
    assert _started is not None and _loop is not None
    _loop.call_soon_threadsafe(_started.put_nowait, activity.info())
    activity.raise_complete_async()


_loop: asyncio.AbstractEventLoop | None = None


@workflow.defn
class AsyncCompletionWorkflow:
    """Runs ``count`` activities of ``name`` in parallel with the given timeouts; returns their results."""

    @workflow.run
    async def run(self, name: str, count: int, timeouts: dict[str, float | None], attempts: int) -> list[Any]:
        opts: dict[str, Any] = {
            "start_to_close_timeout": timedelta(seconds=timeouts.get("start_to_close") or 60),
            "retry_policy": RetryPolicy(maximum_attempts=attempts, initial_interval=timedelta(milliseconds=100)),
        }
        if timeouts.get("heartbeat"):
            opts["heartbeat_timeout"] = timedelta(seconds=timeouts["heartbeat"])
        return list(await asyncio.gather(*(
            workflow.execute_activity(name, f"item-{i}", activity_id=f"act-{i}", **opts) for i in range(count))))


@workflow.defn
class CancelAsyncWorkflow:
    """Starts complete_later, cancels it on a signal, returns the cause's type."""

    @workflow.run
    async def run(self) -> str:
        task = workflow.start_activity(
            "complete_later", "x", start_to_close_timeout=timedelta(seconds=60),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        await workflow.wait_condition(lambda: self.cancel_now)
        task.cancel()
        try:
            await task
        except ActivityError as err:
            return type(err.cause).__name__
        return "completed"

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.signal
    def cancel(self) -> None:
        self.cancel_now = True


@pytest.fixture(autouse=True)
async def started_queue() -> Any:
    """A fresh queue of started activity infos on this test's loop."""
    global _started, _loop
    _started, _loop = asyncio.Queue(), asyncio.get_running_loop()
    yield _started
    _started, _loop = None, None


async def _start(client: Client, worker: Any, name: str, count: int = 1, attempts: int = 1,
                 **timeouts: float | None) -> Any:
    return await client.start_workflow(AsyncCompletionWorkflow.run, args=[name, count, timeouts, attempts],
                                       id=wf_id(), task_queue=worker.task_queue)


async def test_complete_by_task_token_frees_the_slot(client: Client, started_queue: Any) -> None:
    async with running_worker(client, [AsyncCompletionWorkflow], [complete_later],
                              max_concurrent_activities=1) as worker:
        handle = await _start(client, worker, "complete_later", count=2)
        # Two attempts started one after the other on a single activity slot: the first freed it.
        infos = [await asyncio.wait_for(started_queue.get(), 20) for _ in range(2)]
        assert all(isinstance(i.task_token, bytes) and i.task_token for i in infos)
        assert {i.activity_id for i in infos} == {"act-0", "act-1"}
        for info in infos:
            await client.get_async_activity_handle(task_token=info.task_token).complete(f"done-{info.activity_id}")
        assert await handle.result() == ["done-act-0", "done-act-1"]
        # Completing again: the attempt is no longer running (Temporal's NOT_FOUND).
        with pytest.raises(RPCError) as err:
            await client.get_async_activity_handle(task_token=infos[0].task_token).complete("again")
        assert err.value.status == RPCStatusCode.NOT_FOUND
        assert "activity already timed out or invoking workflow is completed" in err.value.message


async def test_sync_client_by_ids_fail_and_complete(client: Client, started_queue: Any) -> None:
    async with running_worker(client, [AsyncCompletionWorkflow], [complete_later_sync]) as worker:
        handle = await _start(client, worker, "complete_later_sync", count=1, attempts=2)
        first = await asyncio.wait_for(started_queue.get(), 20)
        sync = SyncClient.connect()
        by_ids = sync.get_async_activity_handle(workflow_id=handle.id, run_id=None, activity_id="act-0")
        assert by_ids.id_reference == AsyncActivityIDReference(handle.id, None, "act-0")
        await sync_to_async(by_ids.fail, thread_sensitive=True)(ApplicationError("try again", type="Flaky"))
        second = await asyncio.wait_for(started_queue.get(), 20)  # the retry policy's second attempt
        assert (first.attempt, second.attempt) == (1, 2)
        await sync_to_async(by_ids.complete, thread_sensitive=True)("second time")
        assert await handle.result() == ["second time"]
        with pytest.raises(RPCError) as err:
            await sync_to_async(by_ids.heartbeat, thread_sensitive=True)()
        assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_failure_reaches_the_workflow(client: Client, started_queue: Any) -> None:
    async with running_worker(client, [AsyncCompletionWorkflow], [complete_later]) as worker:
        handle = await _start(client, worker, "complete_later")
        info = await asyncio.wait_for(started_queue.get(), 20)
        await client.get_async_activity_handle(task_token=info.task_token).fail(
            ApplicationError("card declined", type="Declined"), last_heartbeat_details=["step 3"])
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        cause = err.value.cause
        assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
        assert cause.cause.type == "Declined" and cause.cause.message == "card declined"


async def test_heartbeats_from_the_handle_extend_the_heartbeat_timeout(client: Client, started_queue: Any) -> None:
    async with running_worker(client, [AsyncCompletionWorkflow], [complete_later]) as worker:
        handle = await _start(client, worker, "complete_later", heartbeat=1.0)
        info = await asyncio.wait_for(started_queue.get(), 20)
        async_handle = client.get_async_activity_handle(task_token=info.task_token)
        loop = asyncio.get_running_loop()
        until = loop.time() + 3.0  # three heartbeat timeouts
        while loop.time() < until:
            await async_handle.heartbeat("progress")
            await asyncio.sleep(0.25)
        await async_handle.complete("kept alive")
        assert await handle.result() == ["kept alive"]


@pytest.mark.parametrize(("timeouts", "expected"), [
    ({"heartbeat": 1.0}, TimeoutType.HEARTBEAT),
    ({"start_to_close": 1.0}, TimeoutType.START_TO_CLOSE),
])
async def test_timeouts_fire_when_nobody_completes(
    client: Client, started_queue: Any, timeouts: dict[str, float], expected: TimeoutType,
) -> None:
    async with running_worker(client, [AsyncCompletionWorkflow], [complete_later]) as worker:
        handle = await _start(client, worker, "complete_later", **timeouts)
        info = await asyncio.wait_for(started_queue.get(), 20)
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 30)
        cause = err.value.cause
        assert isinstance(cause, ActivityError) and isinstance(cause.cause, TimeoutError)
        assert cause.cause.type == expected
        with pytest.raises(RPCError) as late:
            await client.get_async_activity_handle(task_token=info.task_token).complete("too late")
        assert late.value.status == RPCStatusCode.NOT_FOUND


async def test_cancellation_is_seen_by_heartbeat_and_reported(client: Client, started_queue: Any) -> None:
    async with running_worker(client, [CancelAsyncWorkflow], [complete_later]) as worker:
        handle = await client.start_workflow(CancelAsyncWorkflow.run, id=wf_id(), task_queue=worker.task_queue)
        info = await asyncio.wait_for(started_queue.get(), 20)
        async_handle = client.get_async_activity_handle(task_token=info.task_token)
        await async_handle.heartbeat()
        await handle.signal(CancelAsyncWorkflow.cancel)

        async def cancel_requested() -> bool:
            try:
                await async_handle.heartbeat()
            except AsyncActivityCancelledError as err:
                assert str(err) == "Activity cancelled"
                return True
            return False

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not await cancel_requested():
            assert loop.time() < deadline, "the cancellation request never reached the heartbeat"
            await asyncio.sleep(0.1)
        await async_handle.report_cancellation("stopped")
        assert await handle.result() == "CancelledError"


async def test_bad_arguments_and_unknown_activities(client: Client) -> None:
    with pytest.raises(ValueError, match="^Task token cannot be present with other IDs$"):
        client.get_async_activity_handle(task_token=b"x", workflow_id="w")
    with pytest.raises(ValueError, match="^Workflow ID, run ID, and activity ID must all be given together$"):
        client.get_async_activity_handle(workflow_id="w")
    with pytest.raises(ValueError, match="^Task token or workflow/run/activity ID must be present$"):
        client.get_async_activity_handle()
    for handle in (client.get_async_activity_handle(workflow_id="no-such-workflow", run_id=None, activity_id="1"),
                   client.get_async_activity_handle(task_token=b"1:2:nope"),
                   client.get_async_activity_handle(task_token=b"garbage")):
        with pytest.raises(RPCError) as err:
            await handle.complete("x")
        assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as err:
        await client.get_async_activity_handle(task_token=b"\xff\xfe").heartbeat()
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
