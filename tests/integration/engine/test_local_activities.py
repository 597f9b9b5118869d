"""Local activities through the public API: run in the workflow task, recorded as markers, replay-safe."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.client import Client
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
    TimeoutType,
)
from temporalflow.worker import Replayer

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

calls: Counter[str] = Counter()
LOCAL_MARKER = "core_local_activity"


def _types(history) -> list[str]:
    return [e.event_type.value for e in history.events]


@activity.defn
async def shout(text: str) -> str:
    calls[f"shout:{text}"] += 1
    assert activity.info().is_local
    return text.upper()


@activity.defn
def whisper(text: str) -> str:
    assert threading.current_thread() is not threading.main_thread()
    calls[f"whisper:{text}"] += 1
    return text.lower()


@workflow.defn
class LocalHello:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, text: str) -> list[str]:
        loud = await workflow.execute_local_activity(shout, text, start_to_close_timeout=timedelta(seconds=5))
        quiet = await workflow.execute_local_activity(whisper, text, start_to_close_timeout=timedelta(seconds=5))
        await workflow.wait_condition(lambda: self.go)
        return [loud, quiet]


async def test_local_activities_run_in_the_task_and_are_not_run_again_on_replay(client: Client) -> None:
    key = wf_id()
    tq = new_task_queue()
    async with running_worker(client, [LocalHello], [shout, whisper], task_queue=tq):
        handle = await client.start_workflow(LocalHello.run, f"Hi-{key}", id=key, task_queue=tq)
        # Both ran before the first task completed: the run is now waiting for the signal.
        for _ in range(200):
            if calls[f"whisper:hi-{key}"]:
                break
            await asyncio.sleep(0.02)
    # A fresh worker with no cache replays the history: the markers answer, nothing runs again.
    async with running_worker(client, [LocalHello], [shout, whisper], task_queue=tq, max_cached_workflows=0):
        await handle.signal(LocalHello.proceed)
        assert await handle.result() == [f"HI-{key.upper()}", f"hi-{key}"]
    assert calls[f"shout:Hi-{key}"] == 1
    assert calls[f"whisper:Hi-{key}"] == 1
    history = await handle.fetch_history()
    types = _types(history)
    assert "ActivityTaskScheduled" not in types
    markers = [e for e in history.events if e.event_type.value == "MarkerRecorded"]
    assert [m.attributes["marker_name"] for m in markers] == [LOCAL_MARKER, LOCAL_MARKER]
    await Replayer(workflows=[LocalHello]).replay_workflow(history)


@activity.defn
async def flaky_local(key: str) -> str:
    calls[f"flaky:{key}"] += 1
    if calls[f"flaky:{key}"] < 3:
        raise ApplicationError(f"attempt {activity.info().attempt} failed")
    return f"ok after {activity.info().attempt}"


@activity.defn
async def always_fails(key: str) -> str:
    calls[f"fails:{key}"] += 1
    raise ApplicationError("no luck", type="Unlucky")


@workflow.defn
class LocalRetries:
    @workflow.run
    async def run(self, key: str, mode: str) -> str:
        fast = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3)
        if mode == "flaky":
            return await workflow.execute_local_activity(
                flaky_local, key, start_to_close_timeout=timedelta(seconds=5), retry_policy=fast)
        try:
            await workflow.execute_local_activity(
                always_fails, key, start_to_close_timeout=timedelta(seconds=5), retry_policy=fast)
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            return f"{err.retry_state.name}:{err.cause.type}:{err.cause.message}"
        return "unreachable"


async def test_local_activity_retries_in_place_then_succeeds(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [LocalRetries], [flaky_local]) as w:
        handle = await client.start_workflow(LocalRetries.run, args=[key, "flaky"], id=key, task_queue=w.task_queue)
        assert await handle.result() == "ok after 3"
    assert calls[f"flaky:{key}"] == 3
    types = _types(await handle.fetch_history())
    assert types.count("MarkerRecorded") == 1
    assert "TimerStarted" not in types  # short backoffs wait in the worker, not on a timer


async def test_local_activity_failure_reaches_the_workflow_as_activity_error(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [LocalRetries], [always_fails]) as w:
        result = await client.execute_workflow(LocalRetries.run, args=[key, "fail"], id=key, task_queue=w.task_queue)
    assert result == f"{RetryState.MAXIMUM_ATTEMPTS_REACHED.name}:Unlucky:no luck"
    assert calls[f"fails:{key}"] == 3


@activity.defn
async def slow_local(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@workflow.defn
class LocalTimeout:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_local_activity(
                slow_local, 30.0, start_to_close_timeout=timedelta(milliseconds=200),
                retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=10)))
        except ActivityError as err:
            assert isinstance(err.cause, TimeoutError)
            return f"{err.cause.type.name}:{err.retry_state.name}"
        return "unreachable"


async def test_local_activity_start_to_close_timeout_is_retried_then_fails(client: Client) -> None:
    async with running_worker(client, [LocalTimeout], [slow_local]) as w:
        result = await client.execute_workflow(LocalTimeout.run, id=wf_id(), task_queue=w.task_queue)
    assert result == f"{TimeoutType.START_TO_CLOSE.name}:{RetryState.MAXIMUM_ATTEMPTS_REACHED.name}"


@activity.defn
async def fails_once_local(key: str) -> int:
    calls[f"once:{key}"] += 1
    if calls[f"once:{key}"] == 1:
        raise ApplicationError("first attempt fails")
    return activity.info().attempt


@workflow.defn
class LocalLongBackoff:
    @workflow.run
    async def run(self, key: str) -> int:
        return await workflow.execute_local_activity(
            fails_once_local, key, start_to_close_timeout=timedelta(seconds=5),
            local_retry_threshold=timedelta(milliseconds=50),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=300)))


async def test_local_activity_backoff_past_the_threshold_waits_on_a_durable_timer(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [LocalLongBackoff], [fails_once_local]) as w:
        handle = await client.start_workflow(LocalLongBackoff.run, key, id=key, task_queue=w.task_queue)
        assert await handle.result() == 2  # the second attempt knows it is the second
    history = await handle.fetch_history()
    types = _types(history)
    assert types.count("MarkerRecorded") == 2
    assert types.index("MarkerRecorded") < types.index("TimerStarted") < types.index("TimerFired")
    await Replayer(workflows=[LocalLongBackoff]).replay_workflow(history)


cancel_seen: dict[str, bool] = {}


@activity.defn
async def waits_for_cancel(key: str) -> str:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        cancel_seen[key] = True
        raise
    return "not cancelled"


@workflow.defn
class LocalCancel:
    @workflow.run
    async def run(self, key: str, wait_for_completion: bool) -> str:
        kind = (workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED if wait_for_completion
                else workflow.ActivityCancellationType.TRY_CANCEL)
        slow = workflow.start_local_activity(waits_for_cancel, key, start_to_close_timeout=timedelta(seconds=40),
                                             cancellation_type=kind)
        await workflow.execute_local_activity(shout, key, start_to_close_timeout=timedelta(seconds=5))
        slow.cancel()
        try:
            await slow
        except ActivityError as err:
            return f"cancelled:{isinstance(err.cause, CancelledError)}"
        return "not cancelled"


@pytest.mark.parametrize("wait_for_completion", [False, True])
async def test_cancelling_a_local_activity_stops_it(client: Client, wait_for_completion: bool) -> None:
    key = wf_id()
    async with running_worker(client, [LocalCancel], [waits_for_cancel, shout]) as w:
        result = await client.execute_workflow(LocalCancel.run, args=[key, wait_for_completion], id=key,
                                               task_queue=w.task_queue)
    assert result == "cancelled:True"
    assert cancel_seen.get(key) is True


@workflow.defn
class LocalLongRunning:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_local_activity(slow_counted, key, start_to_close_timeout=timedelta(seconds=10))


@activity.defn
async def slow_counted(key: str) -> str:
    calls[f"slow:{key}"] += 1
    await asyncio.sleep(2.5)
    return "slow done"


async def test_a_local_activity_longer_than_the_task_timeout_keeps_its_task(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [LocalLongRunning], [slow_counted]) as w:
        result = await client.execute_workflow(LocalLongRunning.run, key, id=key, task_queue=w.task_queue,
                                               task_timeout=timedelta(seconds=1))
    assert result == "slow done"
    assert calls[f"slow:{key}"] == 1  # the task's lease was extended: it never timed out and ran twice


@workflow.defn(name="LocalHello")
class LocalHelloChanged:
    @workflow.signal
    def proceed(self) -> None:
        pass

    @workflow.run
    async def run(self, text: str) -> list[str]:
        quiet = await workflow.execute_local_activity(whisper, text, start_to_close_timeout=timedelta(seconds=5))
        return [quiet]


async def test_replay_with_a_different_local_activity_is_a_nondeterminism_error(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [LocalHello], [shout, whisper]) as w:
        handle = await client.start_workflow(LocalHello.run, "x", id=key, task_queue=w.task_queue)
        await handle.signal(LocalHello.proceed)
        await handle.result()
    result = await Replayer(workflows=[LocalHelloChanged]).replay_workflow(
        await handle.fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "TMPRL1100" in str(result.replay_failure)
    assert "shout" in str(result.replay_failure) and "whisper" in str(result.replay_failure)


@workflow.defn
class LocalUnregistered:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_local_activity("no_such_activity", start_to_close_timeout=timedelta(seconds=5),
                                                  retry_policy=RetryPolicy(maximum_attempts=1))
        except ActivityError as err:
            return str(err.cause)
        return "unreachable"


async def test_an_unregistered_local_activity_fails_with_a_clear_error(client: Client) -> None:
    async with running_worker(client, [LocalUnregistered], [shout]) as w:
        message = await client.execute_workflow(LocalUnregistered.run, id=wf_id(), task_queue=w.task_queue)
    assert "no_such_activity is not registered on this worker" in message
