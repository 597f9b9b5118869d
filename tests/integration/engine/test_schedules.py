"""Schedules and the legacy cron_schedule option, through the public client API, on a real database."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from temporalflow import workflow
from temporalflow.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    SyncClient,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalflow.core.payload import Payload
from temporalflow.exceptions import ApplicationError, TerminatedError
from temporalflow.service import RPCError, RPCStatusCode
from tests.integration.engine.conftest import new_task_queue, running_worker, wf_id

pytestmark = pytest.mark.django_db(transaction=True)


@workflow.defn
class Greet:
    """Returns a greeting at once."""

    @workflow.run
    async def run(self, name: str) -> str:
        """Greet."""
        return f"hello {name}"


@workflow.defn
class Blocker:
    """Runs until signalled."""

    def __init__(self) -> None:
        self.released = False

    @workflow.signal
    def release(self) -> None:
        """Let the run finish."""
        self.released = True

    @workflow.run
    async def run(self) -> str:
        """Wait for the signal."""
        await workflow.wait_condition(lambda: self.released)
        return "done"


@workflow.defn
class Fails:
    """Fails for good."""

    @workflow.run
    async def run(self) -> None:
        """Fail."""
        raise ApplicationError("boom", non_retryable=True)


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def schedule(workflow_name: Any, task_queue: str, *, spec: ScheduleSpec | None = None, args: Any = (),
             action_id: str | None = None, **kwargs: Any) -> Schedule:
    """A schedule starting ``workflow_name`` on ``task_queue`` (hourly unless ``spec``)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(workflow_name, args=list(args), id=action_id or wf_id(),
                                           task_queue=task_queue),
        spec=spec or ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        **kwargs,
    )


async def started_runs(client: Client, action_id: str) -> list[str]:
    """Workflow ids of the runs a schedule's action started (by the id prefix)."""
    from temporalflow.models import WorkflowRun

    def read() -> list[str]:
        return sorted(WorkflowRun.objects.filter(workflow_id__startswith=f"{action_id}-")
                      .values_list("workflow_id", flat=True))

    return await sync_to_async(read, thread_sensitive=True)()


def sid() -> str:
    """A fresh schedule id."""
    return f"sched-{wf_id()}"


# --------------------------------------------------------------------------- create / describe


async def test_create_describe_round_trip(client: Client) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    spec = ScheduleSpec(
        calendars=[ScheduleCalendarSpec(hour=(ScheduleRange(9),), minute=(ScheduleRange(30),),
                                        day_of_week=(ScheduleRange(1, 5),), comment="weekdays")],
        intervals=[ScheduleIntervalSpec(every=timedelta(minutes=10), offset=timedelta(minutes=3))],
        cron_expressions=["0 12 * * *"],
        skip=[ScheduleCalendarSpec(month=(ScheduleRange(12),), day_of_month=(ScheduleRange(25),))],
        start_at=start,
        end_at=start + timedelta(days=30),
        jitter=timedelta(seconds=5),
        time_zone_name="Europe/Berlin",
    )
    handle = await client.create_schedule(
        sid(),
        Schedule(
            action=ScheduleActionStartWorkflow(Greet.run, "world", id="greet", task_queue="q",
                                               execution_timeout=timedelta(minutes=5)),
            spec=spec,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE, catchup_window=timedelta(minutes=1),
                                  pause_on_failure=True),
            state=ScheduleState(note="made by a test", limited_actions=True, remaining_actions=3),
        ),
        memo={"owner": "team-a"},
    )
    desc = await handle.describe()
    assert desc.id == handle.id
    assert desc.schedule.spec == spec
    assert desc.schedule.policy == SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE,
                                                  catchup_window=timedelta(minutes=1), pause_on_failure=True)
    assert desc.schedule.state == ScheduleState(note="made by a test", limited_actions=True, remaining_actions=3)
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id, action.task_queue) == ("Greet", "greet", "q")
    assert action.execution_timeout == timedelta(minutes=5)
    assert all(isinstance(a, Payload) for a in action.args)
    assert client.data_converter.payload_converter.from_payloads(list(action.args)) == ["world"]
    assert await desc.memo() == {"owner": "team-a"}
    assert await desc.memo_value("owner") == "team-a"
    assert desc.info.num_actions == 0 and desc.info.running_actions == [] and desc.info.recent_actions == []
    # Next times: the interval (every 10 min at :03, :13, ...) comes first, from start_at; jittered by < 5 s.
    first = desc.info.next_action_times[0]
    assert len(desc.info.next_action_times) == 10
    assert start + timedelta(minutes=3) <= first < start + timedelta(minutes=3, seconds=5)
    assert desc.info.created_at <= datetime.now(UTC)
    assert desc.info.last_updated_at is None


async def test_interval_offset_and_time_zone_times(client: Client) -> None:
    start = datetime(2031, 3, 1, tzinfo=UTC)
    handle = await client.create_schedule(sid(), schedule("Greet", "q", spec=ScheduleSpec(
        cron_expressions=["0 9 * * *"], time_zone_name="America/New_York", start_at=start)))
    times = (await handle.describe()).info.next_action_times
    # 09:00 in New York: 14:00 UTC in winter, 13:00 UTC from the DST change (9 March 2031).
    assert times[0] == datetime(2031, 3, 1, 14, tzinfo=UTC)
    assert datetime(2031, 3, 10, 13, tzinfo=UTC) in times
    handle = await client.create_schedule(sid(), schedule("Greet", "q", spec=ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=17))], start_at=start)))
    times = (await handle.describe()).info.next_action_times
    assert times[:2] == [start + timedelta(minutes=17), start + timedelta(hours=1, minutes=17)]


async def test_jitter_stays_within_bounds(client: Client) -> None:
    start = datetime(2032, 1, 1, tzinfo=UTC)
    handle = await client.create_schedule(sid(), schedule("Greet", "q", spec=ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))], jitter=timedelta(seconds=20),
        start_at=start)))
    times = (await handle.describe()).info.next_action_times
    offsets = [(t - (start + timedelta(minutes=i))).total_seconds() for i, t in enumerate(times)]
    assert all(0 <= o < 20 for o in offsets)
    assert len(set(offsets)) > 1  # really jittered, not a constant shift


async def test_bad_inputs(client: Client) -> None:
    handle = await client.create_schedule(sid(), schedule("Greet", "q"))
    with pytest.raises(ScheduleAlreadyRunningError, match="Schedule already running"):
        await client.create_schedule(handle.id, schedule("Greet", "q"))
    for bad in (["* * *"], ["61 * * * *"], ["@fortnightly"], ["0 0 * * * 2030"]):
        with pytest.raises(RPCError, match="invalid cron string") as err:
            await client.create_schedule(sid(), schedule("Greet", "q", spec=ScheduleSpec(cron_expressions=bad)))
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError, match="unknown time zone"):
        await client.create_schedule(sid(), schedule("Greet", "q", spec=ScheduleSpec(
            cron_expressions=["@daily"], time_zone_name="Mars/Olympus")))
    with pytest.raises(RPCError, match="at least one calendar, interval or cron"):
        await client.create_schedule(sid(), schedule("Greet", "q", spec=ScheduleSpec()))
    with pytest.raises(ValueError, match="Must set limited actions to true"):
        await client.create_schedule(sid(), schedule("Greet", "q", state=ScheduleState(remaining_actions=2)))
    with pytest.raises(ValueError, match="ID required"):
        ScheduleActionStartWorkflow("Greet", id="", task_queue="q")
    unknown = client.get_schedule_handle("no-such-schedule")
    for call in (unknown.describe, unknown.pause, unknown.unpause, unknown.trigger, unknown.delete):
        with pytest.raises(RPCError, match="not found") as err:
            await call()
        assert err.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(ValueError, match="At least one backfill required"):
        await handle.backfill()


# --------------------------------------------------------------------------- actions


async def test_trigger_starts_one_run_named_after_its_time(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    async with running_worker(client, [Greet], task_queue=queue):
        handle = await client.create_schedule(sid(), schedule(Greet.run, queue, args=["sched"], action_id=action_id))
        before = math.floor(time.time())
        await handle.trigger()
        desc = await handle.describe()
        assert desc.info.num_actions == 1
        (result,) = desc.info.recent_actions
        assert isinstance(result.action, ScheduleActionExecutionStartWorkflow)
        wid = result.action.workflow_id
        stamp = datetime.strptime(wid[len(action_id) + 1:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before - 1 <= stamp.timestamp() <= time.time()
        run = client.get_workflow_handle(wid)
        assert await run.result() == "hello sched"
        assert (await run.describe()).run_id == result.action.first_execution_run_id
        assert (await handle.describe()).info.running_actions == []


async def test_interval_ticks_start_runs(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    async with running_worker(client, [Greet], task_queue=queue):
        handle = await client.create_schedule(sid(), schedule(
            Greet.run, queue, args=["tick"], action_id=action_id,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))])))
        ids = await wait_for(lambda: _at_least(started_runs(client, action_id), 2), timeout=10)
        await handle.delete()
    # Each run is named after its whole-second tick, and no tick ran twice.
    assert len(ids) == len(set(ids))
    stamps = [datetime.strptime(i[len(action_id) + 1:], "%Y-%m-%dT%H:%M:%SZ") for i in ids]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


async def _at_least(runs: Awaitable[list[str]], n: int) -> list[str] | None:
    found = await runs
    return found if len(found) >= n else None


async def test_limited_actions_stop_after_the_last(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    async with running_worker(client, [Greet], task_queue=queue):
        handle = await client.create_schedule(sid(), schedule(
            Greet.run, queue, args=["x"], action_id=action_id,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            state=ScheduleState(limited_actions=True, remaining_actions=2)))

        async def exhausted() -> Any:
            desc = await handle.describe()
            return desc if desc.schedule.state.remaining_actions == 0 else None

        desc = await wait_for(exhausted, timeout=10)
        assert desc.info.num_actions == 2
        assert desc.info.next_action_times  # the spec still has times; the schedule takes no more actions
        store = client.store
        await sync_to_async(store.fire_due_timers, thread_sensitive=True)()
        assert len(await started_runs(client, action_id)) == 2


async def test_backfill_takes_the_actions_of_a_past_range(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    handle = await client.create_schedule(sid(), schedule(
        "Greet", queue, args=["bf"], action_id=action_id,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL)))
    await handle.backfill(ScheduleBackfill(start_at=end - timedelta(minutes=5), end_at=end))
    ids = await started_runs(client, action_id)
    # (start, end]: the five minutes after start_at, end_at included.
    expected = [f"{action_id}-{(end - timedelta(minutes=m)).strftime('%Y-%m-%dT%H:%M:%SZ')}" for m in range(5)]
    assert ids == sorted(expected)
    assert (await handle.describe()).info.num_actions == 5


async def test_overlap_skip_buffer_one_allow_all(client: Client) -> None:
    queue = new_task_queue()
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    window = ScheduleBackfill(start_at=end - timedelta(minutes=3), end_at=end)  # three ticks at once
    async with running_worker(client, [Blocker], task_queue=queue):
        handles = {}
        for policy in (ScheduleOverlapPolicy.SKIP, ScheduleOverlapPolicy.BUFFER_ONE, ScheduleOverlapPolicy.ALLOW_ALL,
                       ScheduleOverlapPolicy.BUFFER_ALL):
            action_id = wf_id()
            handles[policy] = (action_id, await client.create_schedule(sid(), schedule(
                Blocker.run, queue, action_id=action_id, policy=SchedulePolicy(overlap=policy),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]))))
            await handles[policy][1].backfill(window)

        async def info(policy: ScheduleOverlapPolicy) -> Any:
            return (await handles[policy][1].describe()).info

        skip = await info(ScheduleOverlapPolicy.SKIP)
        assert (skip.num_actions, skip.num_actions_skipped_overlap, len(skip.running_actions)) == (1, 2, 1)
        allow = await info(ScheduleOverlapPolicy.ALLOW_ALL)
        assert (allow.num_actions, allow.num_actions_skipped_overlap, len(allow.running_actions)) == (3, 0, 3)
        one = await info(ScheduleOverlapPolicy.BUFFER_ONE)
        assert (one.num_actions, one.num_actions_skipped_overlap) == (1, 1)
        every = await info(ScheduleOverlapPolicy.BUFFER_ALL)
        assert (every.num_actions, every.num_actions_skipped_overlap) == (1, 0)

        # Finishing the running workflow lets the buffered start go (BUFFER_ONE: one; BUFFER_ALL: the next).
        for policy, total in ((ScheduleOverlapPolicy.BUFFER_ONE, 2), (ScheduleOverlapPolicy.BUFFER_ALL, 2)):
            action_id, handle = handles[policy]
            (first,) = await started_runs(client, action_id)
            await client.get_workflow_handle(first).signal(Blocker.release)

            async def started_more(action_id: str = action_id, total: int = total) -> Any:
                return await _at_least(started_runs(client, action_id), total)

            ids = await wait_for(started_more, timeout=10)
            assert len(ids) == total
            # The close made the schedule due at once: the buffered start followed within a second.
            closed = (await client.get_workflow_handle(first).describe()).close_time
            started = (await client.get_workflow_handle(ids[1] if ids[0] == first else ids[0]).describe()).start_time
            assert closed is not None and timedelta(0) <= started - closed < timedelta(seconds=1)
        # SKIP started nothing more: the skipped ticks are gone for good.
        assert len(await started_runs(client, handles[ScheduleOverlapPolicy.SKIP][0])) == 1
        for policy in handles:
            for wid in await started_runs(client, handles[policy][0]):
                handle = client.get_workflow_handle(wid)
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate(reason="test over")


async def test_terminate_other_replaces_the_running_workflow(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    async with running_worker(client, [Blocker], task_queue=queue):
        handle = await client.create_schedule(sid(), schedule(
            Blocker.run, queue, action_id=action_id,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.TERMINATE_OTHER),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))])))
        end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
        await handle.backfill(ScheduleBackfill(start_at=end - timedelta(minutes=2), end_at=end))
        first, second = await started_runs(client, action_id)
        assert (await client.get_workflow_handle(first).describe()).status == WorkflowExecutionStatus.TERMINATED
        assert (await client.get_workflow_handle(second).describe()).status == WorkflowExecutionStatus.RUNNING
        await client.get_workflow_handle(second).terminate(reason="test over")


async def test_pause_unpause_and_ticks_while_paused(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    handle = await client.create_schedule(sid(), schedule(
        "Greet", queue, args=["p"], action_id=action_id, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))])))
    await handle.pause(note="maintenance")
    desc = await handle.describe()
    assert desc.schedule.state.paused and desc.schedule.state.note == "maintenance"
    # Let a tick time pass, then sweep as a worker would: a paused schedule takes no action.
    passed = time.time() + 1.2
    await wait_for(lambda: _true_after(passed))
    await sync_to_async(client.store.fire_due_timers, thread_sensitive=True)()
    assert await started_runs(client, action_id) == []
    # A manual trigger still acts while paused (as in Temporal).
    await handle.trigger()
    assert len(await started_runs(client, action_id)) == 1
    await handle.unpause()
    desc = await handle.describe()
    assert not desc.schedule.state.paused and desc.schedule.state.note == "Unpaused via Python SDK"
    assert desc.info.last_updated_at is not None

    async def ticked() -> Any:  # no worker here: sweep as its timer loop would
        await sync_to_async(client.store.fire_due_timers, thread_sensitive=True)()
        return await _at_least(started_runs(client, action_id), 2)

    await wait_for(ticked, timeout=10)


async def _true_after(deadline: float) -> bool:
    return time.time() >= deadline


async def test_pause_on_failure(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    async with running_worker(client, [Fails], task_queue=queue):
        handle = await client.create_schedule(sid(), schedule(
            Fails.run, queue, action_id=action_id, policy=SchedulePolicy(pause_on_failure=True)))
        await handle.trigger()

        async def paused() -> Any:
            await sync_to_async(client.store.fire_due_timers, thread_sensitive=True)()
            desc = await handle.describe()
            return desc if desc.schedule.state.paused else None

        desc = await wait_for(paused, timeout=15)
        assert desc.schedule.state.note.startswith(f"paused due to workflow failure: {action_id}-")


async def test_update_delete_and_list(client: Client) -> None:
    handle = await client.create_schedule(sid(), schedule("Greet", "q"))

    def change(input: ScheduleUpdateInput) -> ScheduleUpdate:
        sched = input.description.schedule
        sched.spec = ScheduleSpec(cron_expressions=["@every 30m"])
        sched.state.note = "updated"
        assert isinstance(sched.action, ScheduleActionStartWorkflow)
        sched.action.task_queue = "other"
        return ScheduleUpdate(schedule=sched)

    await handle.update(change)
    desc = await handle.describe()
    assert desc.schedule.spec.cron_expressions == ["@every 30m"]
    assert desc.schedule.state.note == "updated"
    assert desc.schedule.action.task_queue == "other"  # type: ignore[attr-defined]
    # Arguments came back as payloads and went through the update unchanged.
    assert desc.info.last_updated_at is not None
    assert (desc.info.next_action_times[1] - desc.info.next_action_times[0]) == timedelta(minutes=30)

    async def async_noop(input: ScheduleUpdateInput) -> None:
        return None

    await handle.update(async_noop)
    assert (await handle.describe()).schedule.state.note == "updated"

    stale = await handle.describe()
    await handle.pause()
    with pytest.raises(RPCError, match="conflict token") as err:
        await client._run(__import__("temporalflow.client._schedules", fromlist=["ScheduleOps"])
                          .ScheduleOps(client._ops).apply_update, handle.id, stale,
                          ScheduleUpdate(schedule=stale.schedule))
    assert err.value.status == RPCStatusCode.FAILED_PRECONDITION

    others = [await client.create_schedule(f"{handle.id}-{i}", schedule("Greet", "q")) for i in range(3)]
    listed = [s async for s in await client.list_schedules(page_size=2)]
    ids = [s.id for s in listed]
    assert {handle.id, *(o.id for o in others)} <= set(ids)
    entry = next(s for s in listed if s.id == handle.id)
    assert entry.schedule is not None and entry.schedule.state.paused
    assert entry.schedule.action.workflow == "Greet"  # type: ignore[attr-defined]
    with pytest.raises(RPCError, match="query"):
        await client.list_schedules("TemporalSchedulePaused = true")

    await handle.delete()
    with pytest.raises(RPCError, match="not found"):
        await handle.describe()
    assert handle.id not in [s.id async for s in await client.list_schedules()]


async def test_sync_client_schedules(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()

    def drive() -> tuple[int, list[str]]:
        sync = SyncClient(client.store)
        handle = sync.create_schedule(sid(), schedule("Greet", queue, args=["s"], action_id=action_id),
                                      trigger_immediately=True)
        handle.pause(note="sync")
        handle.update(lambda i: ScheduleUpdate(schedule=i.description.schedule))
        desc = handle.describe()
        assert desc.schedule.state.note == "sync"
        listed = [s.id for s in sync.list_schedules()]
        handle.delete()
        return desc.info.num_actions, listed + [handle.id]

    num_actions, ids = await sync_to_async(drive, thread_sensitive=True)()
    assert num_actions == 1
    assert ids[-1] in ids[:-1]
    assert len(await started_runs(client, action_id)) == 1


# --------------------------------------------------------------------------- legacy cron_schedule


async def test_cron_schedule_runs_again_at_each_cron_time(client: Client) -> None:
    queue = new_task_queue()
    workflow_id = wf_id()
    async with running_worker(client, [Greet], task_queue=queue):
        handle = await client.start_workflow(Greet.run, "cron", id=workflow_id, task_queue=queue,
                                             cron_schedule="@every 1s")
        first = await handle.describe()
        # The first task waits for the first cron time (the next whole second).
        assert first.execution_time is not None and first.execution_time.microsecond == 0
        assert first.execution_time >= first.start_time

        async def later_run() -> Any:
            desc = await client.get_workflow_handle(workflow_id).describe()
            return desc if desc.run_id != first.run_id else None

        second = await wait_for(later_run, timeout=10)
        history = await client.get_workflow_handle(workflow_id, run_id=first.run_id).fetch_history()
        closing = history.events[-1]
        assert closing.event_type.name == "WORKFLOW_EXECUTION_COMPLETED"
        assert closing.attributes["new_execution_run_id"]
        assert (await client.get_workflow_handle(workflow_id, run_id=first.run_id).result(follow_runs=False)
                ) == "hello cron"
        assert second.execution_time is not None and second.execution_time.microsecond == 0
        # result() follows the chain, as temporalio does for cron workflows: it ends only when the chain does.
        waiter = asyncio.ensure_future(handle.result())
        await asyncio.sleep(0)
        await client.get_workflow_handle(workflow_id).terminate(reason="enough")
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(waiter, 10)
        assert isinstance(err.value.cause, TerminatedError)
        # Terminating ends the chain: no further run.
        assert (await client.get_workflow_handle(workflow_id).describe()).status == WorkflowExecutionStatus.TERMINATED


async def test_cron_schedule_bad_inputs(client: Client) -> None:
    with pytest.raises(RPCError, match="Invalid CronSchedule") as err:
        await client.start_workflow(Greet.run, "x", id=wf_id(), task_queue="q", cron_schedule="every day")
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError, match="may not be used together"):
        await client.start_workflow(Greet.run, "x", id=wf_id(), task_queue="q", cron_schedule="@daily",
                                    start_delay=timedelta(seconds=5))


# --------------------------------------------------------------------------- more policies, catch-up, time skipping


@workflow.defn
class Cancellable:
    """Runs until cancelled (then closes as canceled)."""

    @workflow.run
    async def run(self) -> None:
        """Wait forever."""
        await workflow.wait_condition(lambda: False)


async def test_cancel_other_cancels_then_starts(client: Client) -> None:
    queue = new_task_queue()
    action_id = wf_id()
    async with running_worker(client, [Cancellable], task_queue=queue):
        handle = await client.create_schedule(sid(), schedule(
            Cancellable.run, queue, action_id=action_id,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.CANCEL_OTHER),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))])))
        end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
        await handle.backfill(ScheduleBackfill(start_at=end - timedelta(minutes=2), end_at=end))
        (first,) = await started_runs(client, action_id)

        async def second_started() -> Any:
            return await _at_least(started_runs(client, action_id), 2)

        ids = await wait_for(second_started, timeout=15)
        assert ids[0] == first
        assert (await client.get_workflow_handle(first).describe()).status == WorkflowExecutionStatus.CANCELED
        await client.get_workflow_handle(ids[1]).terminate(reason="test over")


async def test_catchup_window_skips_what_is_too_late(client: Client) -> None:
    from temporalflow.models import Schedule as ScheduleRow

    queue = new_task_queue()
    action_id = wf_id()
    handle = await client.create_schedule(sid(), schedule(
        "Greet", queue, args=["late"], action_id=action_id,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=timedelta(minutes=10))))
    # As if every worker had been down for an hour: the schedule's next time is an hour ago.
    hour_ago = math.floor(time.time() / 60) * 60 - 3600.0

    def rewind() -> None:
        ScheduleRow.objects.filter(schedule_id=handle.id).update(next_nominal=hour_ago, next_fire_at=hour_ago)

    await sync_to_async(rewind, thread_sensitive=True)()
    await sync_to_async(client.store.fire_due_timers, thread_sensitive=True)()
    info = (await handle.describe()).info
    # The ticks of the last ten minutes are caught up; the fifty before them are missed.
    assert 9 <= info.num_actions <= 11
    assert info.num_actions + info.num_actions_missed_catchup_window == 61
    assert len(await started_runs(client, action_id)) == info.num_actions


async def test_schedule_under_time_skipping(time_env: Any) -> None:
    client = time_env.client
    queue = new_task_queue()
    action_id = wf_id()
    async with running_worker(client, [Greet], task_queue=queue):
        await client.create_schedule(sid(), schedule(
            Greet.run, queue, args=["skip"], action_id=action_id,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])))
        ids = await wait_for(lambda: _at_least(started_runs(client, action_id), 3), timeout=20)
    hours = [datetime.strptime(i[len(action_id) + 1:], "%Y-%m-%dT%H:%M:%SZ") for i in ids[:3]]
    assert [h.minute for h in hours] == [0, 0, 0]
    assert hours[1] - hours[0] == timedelta(hours=1) and hours[2] - hours[1] == timedelta(hours=1)
    assert await client.get_workflow_handle(ids[0]).result() == "hello skip"


@workflow.defn
class Counter:
    """Counts its cron runs through the last completion result; fails on its second run."""

    @workflow.run
    async def run(self) -> int:
        """The previous run's count plus one."""
        previous = workflow.get_last_completion_result(int) if workflow.has_last_completion_result() else 0
        failure = workflow.get_last_failure()
        if previous == 1 and failure is None:
            raise ApplicationError("second run fails", non_retryable=True)
        return previous + (10 if failure is not None else 1)


async def test_cron_runs_see_the_last_completion_result_and_failure(client: Client) -> None:
    queue = new_task_queue()
    workflow_id = wf_id()
    async with running_worker(client, [Counter], task_queue=queue):
        handle = await client.start_workflow(Counter.run, id=workflow_id, task_queue=queue, cron_schedule="@every 1s")

        async def results() -> Any:
            from temporalflow.models import WorkflowRun

            def read() -> list[int]:
                return list(WorkflowRun.objects.filter(workflow_id=workflow_id).order_by("id")
                            .values_list("status", flat=True))

            statuses = await sync_to_async(read, thread_sensitive=True)()
            return statuses if len(statuses) >= 4 else None

        statuses = await wait_for(results, timeout=15)
        # Run 1 completes (1), run 2 fails (it saw 1 and no failure), run 3 sees 1 and the failure (11).
        assert statuses[:3] == [WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED,
                                WorkflowExecutionStatus.COMPLETED]
        history = (await client.get_workflow_handle(workflow_id, run_id=handle.result_run_id).fetch_history())
        assert history.events[0].attributes.get("initiator") is None
        chain = []
        run_id = handle.result_run_id
        for _ in range(3):
            events = (await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events
            chain.append(events[-1])
            run_id = events[-1].attributes["new_execution_run_id"]
        assert [e.event_type.name for e in chain] == ["WORKFLOW_EXECUTION_COMPLETED", "WORKFLOW_EXECUTION_FAILED",
                                                      "WORKFLOW_EXECUTION_COMPLETED"]
        third = client.get_workflow_handle(workflow_id, run_id=chain[1].attributes["new_execution_run_id"])
        assert await third.result(follow_runs=False) == 11
        started = (await third.fetch_history()).events[0].attributes
        assert started["initiator"] == "CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE"
        await client.get_workflow_handle(workflow_id).terminate(reason="enough")


async def test_scheduled_runs_carry_search_attributes(client: Client, settings: Any) -> None:
    from temporalflow.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

    settings.TEMPORALFLOW = {**settings.TEMPORALFLOW, "SEARCH_ATTRIBUTES": {"CustomerId": "Keyword"}}
    customer = SearchAttributeKey.for_keyword("CustomerId")
    queue = new_task_queue()
    action_id = wf_id()
    schedule_id = sid()
    handle = await client.create_schedule(schedule_id, Schedule(
        action=ScheduleActionStartWorkflow("Greet", "sa", id=action_id, task_queue=queue,
                                           typed_search_attributes=TypedSearchAttributes(
                                               [SearchAttributePair(customer, "c-9")])),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])))
    action = (await handle.describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.typed_search_attributes.get(customer) == "c-9"
    await handle.trigger()
    (wid,) = await started_runs(client, action_id)
    desc = await client.get_workflow_handle(wid).describe()
    assert desc.typed_search_attributes.get(customer) == "c-9"
    assert desc.search_attributes["TemporalScheduledById"] == [schedule_id]
    found = [w.id async for w in client.list_workflows(f"TemporalScheduledById = '{schedule_id}'")]
    assert found == [wid]
    with pytest.raises(RPCError, match="Unknown"):
        await client.create_schedule(sid(), Schedule(
            action=ScheduleActionStartWorkflow("Greet", id=wf_id(), task_queue=queue,
                                               untyped_search_attributes={"Unknown": ["x"]}),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])))
