"""Activities through the public API: results, retries, errors, timeouts, heartbeats, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.client import Client, WorkflowFailureError
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

attempts: Counter[str] = Counter()


@activity.defn
async def say_hello(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
def say_hello_sync(name: str) -> str:
    # Sync activities run in the worker's thread pool, not on the event loop.
    assert threading.current_thread() is not threading.main_thread()
    return f"Hi, {name}!"


@workflow.defn
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> list[str]:
        a = await workflow.execute_activity(say_hello, name, start_to_close_timeout=timedelta(seconds=10))
        b = await workflow.execute_activity(say_hello_sync, name, start_to_close_timeout=timedelta(seconds=10))
        return [a, b]


async def test_hello_async_and_sync_activities(client: Client) -> None:
    async with running_worker(client, [HelloWorkflow], [say_hello, say_hello_sync]) as w:
        result = await client.execute_workflow(HelloWorkflow.run, "World", id=wf_id(), task_queue=w.task_queue)
    assert result == ["Hello, World!", "Hi, World!"]


@activity.defn
async def flaky(key: str) -> int:
    attempts[key] += 1
    if activity.info().attempt < 3:
        raise RuntimeError(f"attempt {activity.info().attempt} fails")
    return activity.info().attempt


@activity.defn
async def always_fails(key: str) -> None:
    attempts[key] += 1
    raise ApplicationError("card declined", {"code": 51}, type="PaymentError", non_retryable=True)


@workflow.defn
class RetryWorkflow:
    @workflow.run
    async def run(self, activity_name: str, key: str) -> int:
        return await workflow.execute_activity(
            activity_name, key, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=5))


async def test_activity_retries_then_succeeds(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [RetryWorkflow], [flaky, always_fails]) as w:
        handle = await client.start_workflow(RetryWorkflow.run, args=["flaky", key], id=key, task_queue=w.task_queue)
        assert await handle.result() == 3
    assert attempts[key] == 3
    history = await handle.fetch_history()
    names = [e.event_type.value for e in history.events]
    # Only the final attempt reaches history, as in Temporal.
    assert names.count("ActivityTaskScheduled") == 1 and names.count("ActivityTaskStarted") == 1
    started = next(e for e in history.events if e.event_type.value == "ActivityTaskStarted")
    assert started.attributes["attempt"] == 3


async def test_non_retryable_error_fails_workflow_with_cause_chain(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [RetryWorkflow], [flaky, always_fails]) as w:
        handle = await client.start_workflow(RetryWorkflow.run, args=["always_fails", key], id=key,
                                             task_queue=w.task_queue)
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert attempts[key] == 1
    act_err = err.value.cause
    assert isinstance(act_err, ActivityError)
    assert act_err.activity_type == "always_fails"
    assert act_err.retry_state == RetryState.NON_RETRYABLE_FAILURE
    app_err = act_err.cause
    assert isinstance(app_err, ApplicationError)
    assert app_err.type == "PaymentError" and app_err.message == "card declined"
    assert app_err.non_retryable and app_err.details == ({"code": 51},)


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slow done"


@activity.defn
async def heartbeating(key: str) -> list:
    attempts[key] += 1
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat("progress-1")
        # Stop heartbeating: the heartbeat timeout fails this attempt.
        await asyncio.sleep(30)
    return list(info.heartbeat_details)


@workflow.defn
class TimeoutWorkflow:
    @workflow.run
    async def run(self, kind: str) -> str:
        opts: dict = {"retry_policy": RetryPolicy(maximum_attempts=1)}
        if kind == "start_to_close":
            opts["start_to_close_timeout"] = timedelta(milliseconds=300)
        elif kind == "schedule_to_close":
            opts["schedule_to_close_timeout"] = timedelta(milliseconds=300)
        elif kind == "schedule_to_start":
            opts.update(start_to_close_timeout=timedelta(seconds=5), task_queue="nobody-polls-this",
                        schedule_to_start_timeout=timedelta(milliseconds=300))
        try:
            await workflow.execute_activity(slow, 5.0, **opts)
        except ActivityError as err:
            assert isinstance(err.cause, TimeoutError)
            return err.cause.type.name
        return "no timeout"


@pytest.mark.parametrize("kind", ["start_to_close", "schedule_to_close", "schedule_to_start"])
async def test_activity_timeouts(client: Client, kind: str) -> None:
    async with running_worker(client, [TimeoutWorkflow], [slow]) as w:
        result = await client.execute_workflow(TimeoutWorkflow.run, kind, id=wf_id(), task_queue=w.task_queue)
    assert result == TimeoutType[kind.upper()].name


@workflow.defn
class HeartbeatWorkflow:
    @workflow.run
    async def run(self, key: str) -> list:
        return await workflow.execute_activity(
            heartbeating, key, start_to_close_timeout=timedelta(seconds=20),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=4))


async def test_heartbeat_timeout_retries_with_last_details(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [HeartbeatWorkflow], [heartbeating]) as w:
        result = await client.execute_workflow(HeartbeatWorkflow.run, key, id=key, task_queue=w.task_queue)
    assert result == ["progress-1"]  # the first attempt's heartbeat details reached the retry
    # Normally 2 attempts; on a heavily loaded machine the quick retry can itself miss its
    # 1 s heartbeat deadline, which is correct behaviour, so only require a retry happened.
    assert attempts[key] >= 2


cancel_seen: dict[str, str] = {}


@activity.defn
async def wait_for_cancel(key: str) -> str:
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        cancel_seen[key] = "cancelled"
        raise


@workflow.defn
class CancelActivityWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        handle = workflow.start_activity(
            wait_for_cancel, key, start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        await asyncio.sleep(0.3)
        handle.cancel()
        try:
            await handle
        except ActivityError as err:
            return type(err.cause).__name__
        return "not cancelled"


async def test_activity_cancellation_reaches_the_activity(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [CancelActivityWorkflow], [wait_for_cancel],
                              default_heartbeat_throttle_interval=timedelta(milliseconds=50)) as w:
        result = await client.execute_workflow(CancelActivityWorkflow.run, key, id=key, task_queue=w.task_queue)
    assert result == CancelledError.__name__
    assert cancel_seen[key] == "cancelled"


@workflow.defn
class ByNameWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity("say_hello", "by name", start_to_close_timeout=timedelta(seconds=5))


async def test_activity_by_name_and_unregistered_activity_retries_until_registered(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [ByNameWorkflow], [slow], task_queue=tq):
        handle = await client.start_workflow(ByNameWorkflow.run, id=wf_id(), task_queue=tq)

        async def activity_failed_once() -> bool:
            desc = await handle.describe()
            return desc.history_length >= 5

        deadline = time.monotonic() + 10
        while not await activity_failed_once():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    async with running_worker(client, [ByNameWorkflow], [say_hello], task_queue=tq):
        assert await handle.result() == "Hello, by name!"
