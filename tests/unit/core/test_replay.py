"""Workflow code driven through histories: live tasks, replay, and non-determinism."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds
from temporalflow.core.events import EventType as ET
from temporalflow.core.machines import NondeterminismError
from temporalflow.exceptions import ActivityError, ApplicationError

from .history_builder import HistoryBuilder, decode, encode, new_driver, replay, run_task


@activity.defn
async def compose(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn(name="other_activity")
async def other(name: str) -> str:
    return name


@workflow.defn(name="Hello")
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(compose, name, start_to_close_timeout=timedelta(seconds=5))


@workflow.defn(name="Hello")
class HelloChanged:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(other, name, start_to_close_timeout=timedelta(seconds=5))


@workflow.defn(name="Hello")
class HelloWithExtraTimer:
    @workflow.run
    async def run(self, name: str) -> str:
        await asyncio.sleep(1)
        return await workflow.execute_activity(compose, name, start_to_close_timeout=timedelta(seconds=5))


def run_hello(cls: type = HelloWorkflow) -> HistoryBuilder:
    h = HistoryBuilder("Hello", "World")
    driver = new_driver(cls)
    c1 = run_task(driver, h)
    assert [type(c) for c in c1.commands] == [cmds.ScheduleActivityTask]
    assert c1.commands[0].activity_type == "compose"
    h.complete_activity(h.scheduled_activities()[0].event_id, "Hello, World!")
    c2 = run_task(driver, h)
    assert isinstance(c2.commands[-1], cmds.CompleteWorkflowExecution)
    return h


def test_hello_runs_to_completion_and_replays() -> None:
    h = run_hello()
    assert decode(h.events[-1].attributes["result"]) == "Hello, World!"
    driver = replay(h, HelloWorkflow)
    assert driver.closed


def test_changed_activity_is_nondeterministic_and_names_event_and_command() -> None:
    h = run_hello()
    with pytest.raises(NondeterminismError) as err:
        replay(h, HelloChanged)
    msg = str(err.value)
    assert "ActivityTaskScheduled" in msg and "compose" in msg and "other_activity" in msg


def test_added_timer_is_nondeterministic() -> None:
    h = run_hello()
    with pytest.raises(NondeterminismError, match="StartTimer|TimerStarted"):
        replay(h, HelloWithExtraTimer)


def test_fresh_driver_continues_a_partial_history() -> None:
    h = HistoryBuilder("Hello", "World")
    run_task(new_driver(HelloWorkflow), h)
    h.complete_activity(h.scheduled_activities()[0].event_id, "Hi")
    # A different worker (no cache) picks up the second task.
    c = run_task(new_driver(HelloWorkflow), h)
    assert isinstance(c.commands[0], cmds.CompleteWorkflowExecution)
    assert decode(c.commands[0].result) == "Hi"


@workflow.defn
class FailingActivityWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity("flaky", start_to_close_timeout=timedelta(seconds=1))
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            return f"caught {err.cause.type}: {err.cause.message}"
        return "no error"


def test_activity_failure_surfaces_as_activity_error_with_cause() -> None:
    h = HistoryBuilder("FailingActivityWorkflow")
    d = new_driver(FailingActivityWorkflow)
    run_task(d, h)
    failure = {"message": "boom", "application_failure_info": {"type": "ValueError", "non_retryable": False}}
    h.fail_activity(h.scheduled_activities()[0].event_id, failure)
    c = run_task(d, h)
    assert decode(c.commands[0].result) == "caught ValueError: boom"
    replay(h, FailingActivityWorkflow)


@dataclass
class Approval:
    approver: str
    ok: bool


@workflow.defn
class SignalWorkflow:
    def __init__(self) -> None:
        self.received: list[str] = []
        self.approval: Approval | None = None

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.approval is not None)
        assert self.approval is not None
        return [*self.received, f"approved by {self.approval.approver}"]

    @workflow.signal
    def add(self, item: str) -> None:
        self.received.append(item)

    @workflow.signal
    async def approve(self, approval: Approval) -> None:
        self.approval = approval

    @workflow.query
    def items(self) -> list[str]:
        return list(self.received)


def test_signals_keep_order_and_decode_dataclasses_and_queries_read_state() -> None:
    h = HistoryBuilder("SignalWorkflow")
    d = new_driver(SignalWorkflow)
    assert run_task(d, h).commands == []
    for i in range(5):
        h.signal("add", f"item-{i}")
    assert run_task(d, h).commands == []
    result, failure = d.instance.query("items", encode())
    assert failure is None and decode(result) == [f"item-{i}" for i in range(5)]
    _, failure = d.instance.query("nope", encode())
    assert "nope" in failure["message"] and "items" in failure["message"]
    h.signal("approve", Approval("ann", True))
    c = run_task(d, h)
    assert decode(c.commands[0].result) == [*(f"item-{i}" for i in range(5)), "approved by ann"]
    replay(h, SignalWorkflow)


def test_signal_with_start_is_handled_before_run_begins() -> None:
    h = HistoryBuilder("SignalWorkflow")
    h.signal("approve", Approval("bob", True))
    c = run_task(new_driver(SignalWorkflow), h)
    assert decode(c.commands[0].result) == ["approved by bob"]


@workflow.defn
class TimerWorkflow:
    @workflow.run
    async def run(self) -> str:
        start = workflow.now()
        await asyncio.sleep(30)
        try:
            await workflow.wait_condition(lambda: False, timeout=timedelta(seconds=5))
        except TimeoutError:
            pass
        return f"{(workflow.now() - start).total_seconds():.0f}"


def test_timers_are_commands_and_time_is_the_task_time() -> None:
    h = HistoryBuilder("TimerWorkflow")
    d = new_driver(TimerWorkflow)
    c = run_task(d, h)
    assert [(type(x), x.start_to_fire_timeout) for x in c.commands] == [(cmds.StartTimer, 30)]
    h.time += 30
    h.fire_timer("1")
    c = run_task(d, h)
    assert [(type(x), x.start_to_fire_timeout) for x in c.commands] == [(cmds.StartTimer, 5)]
    h.time += 5
    h.fire_timer("2")
    c = run_task(d, h)
    assert decode(c.commands[0].result) == "35"
    replay(h, TimerWorkflow)


@workflow.defn
class CancellableWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity("long", start_to_close_timeout=timedelta(seconds=100))
        except ActivityError:
            await workflow.execute_activity("cleanup", start_to_close_timeout=timedelta(seconds=5))
            raise
        return "done"


def test_cancel_requests_activity_cancel_then_workflow_is_cancelled() -> None:
    h = HistoryBuilder("CancellableWorkflow")
    d = new_driver(CancellableWorkflow)
    run_task(d, h)
    h.new_event(ET.WORKFLOW_EXECUTION_CANCEL_REQUESTED, cause="", identity="me")
    c = run_task(d, h)
    kinds = [type(x) for x in c.commands]
    assert kinds == [cmds.RequestCancelActivityTask, cmds.ScheduleActivityTask]
    assert c.commands[0].scheduled_event_id == h.scheduled_activities()[0].event_id
    h.complete_activity(h.scheduled_activities()[1].event_id, None)
    c = run_task(d, h)
    assert [type(x) for x in c.commands] == [cmds.CancelWorkflowExecution]
    replay(h, CancellableWorkflow)


@workflow.defn
class UpdateWorkflow:
    def __init__(self) -> None:
        self.total = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.total >= 10)
        return self.total

    @workflow.update
    def add(self, n: int) -> int:
        self.total += n
        return self.total

    @add.validator
    def check_add(self, n: int) -> None:
        if n < 0:
            raise ValueError("negative")


def test_updates_accept_reject_complete_and_replay() -> None:
    h = HistoryBuilder("UpdateWorkflow")
    d = new_driver(UpdateWorkflow)
    run_task(d, h)
    h.schedule_wft()
    c = run_task(d, h, [jobs.DoUpdate("u1", "add", encode(4), True), jobs.DoUpdate("u2", "add", encode(-1), True)])
    kinds = [type(x) for x in c.commands]
    # Each update runs in its own task, in order: u1 accepted and completed, then u2 rejected.
    assert kinds == [cmds.AcceptUpdate, cmds.CompleteUpdate, cmds.RejectUpdate]
    assert decode(c.commands[1].result) == 4
    h.schedule_wft()
    c = run_task(d, h, [jobs.DoUpdate("u3", "add", encode(6), True)])
    assert [type(x) for x in c.commands] == [cmds.AcceptUpdate, cmds.CompleteUpdate, cmds.CompleteWorkflowExecution]
    assert decode(c.commands[-1].result) == 10
    replay(h, UpdateWorkflow)


@workflow.defn
class BuggyWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise KeyError("bug")


@workflow.defn
class AppErrorWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("bad order", {"id": 7}, type="OrderError", non_retryable=True)


def test_plain_exception_fails_the_task_and_application_error_fails_the_workflow() -> None:
    h = HistoryBuilder("BuggyWorkflow")
    c = run_task(new_driver(BuggyWorkflow), h)
    assert c.failure is not None and "bug" in c.failure["message"] and c.commands == []
    h2 = HistoryBuilder("AppErrorWorkflow")
    c = run_task(new_driver(AppErrorWorkflow), h2)
    assert [type(x) for x in c.commands] == [cmds.FailWorkflowExecution]
    info = c.commands[0].failure["application_failure_info"]
    assert info["type"] == "OrderError" and info["non_retryable"] is True


def test_undecodable_input_fails_the_task_with_a_clear_error() -> None:
    h = HistoryBuilder("SignalWorkflow", "unexpected")
    c = run_task(new_driver(SignalWorkflow), h)
    assert c.failure is not None and "workflow input" in c.failure["message"]


def test_unknown_workflow_type_fails_the_task() -> None:
    h = HistoryBuilder("Nope")
    started = h.start_wft()
    with pytest.raises(KeyError, match="Nope"):
        new_driver(HelloWorkflow).process(h.events, current_started_event_id=started)


@workflow.defn
class DeterministicValues:
    @workflow.run
    async def run(self) -> list:
        return [str(workflow.uuid4()), workflow.random().randint(0, 10**9), workflow.info().workflow_type]


def test_random_and_uuid_are_stable_across_replay() -> None:
    h = HistoryBuilder("DeterministicValues")
    a = decode(run_task(new_driver(DeterministicValues), h).commands[0].result)
    h2 = HistoryBuilder("DeterministicValues")
    h2.run_id = h.run_id
    h2.events[0].attributes["original_execution_run_id"] = h.run_id
    b = decode(run_task(new_driver(DeterministicValues), h2).commands[0].result)
    assert a == b and a[2] == "DeterministicValues"


@workflow.defn
class PatchedWorkflow:
    @workflow.run
    async def run(self) -> str:
        if workflow.patched("v2"):
            return "new"
        return "old"


@workflow.defn(name="PatchedWorkflow")
class UnpatchedWorkflow:
    @workflow.run
    async def run(self) -> str:
        return "old"


def test_patched_takes_new_path_live_and_old_path_on_old_history() -> None:
    old = HistoryBuilder("PatchedWorkflow")
    run_task(new_driver(UnpatchedWorkflow), old)
    replay(old, PatchedWorkflow)  # old history, no marker: the patched code replays the old path
    new = HistoryBuilder("PatchedWorkflow")
    c = run_task(new_driver(PatchedWorkflow), new)
    assert [type(x) for x in c.commands] == [cmds.RecordMarker, cmds.CompleteWorkflowExecution]
    assert decode(c.commands[1].result) == "new"
    replay(new, PatchedWorkflow)


def test_gather_over_activities_resolves_in_any_order() -> None:
    @workflow.defn(name="Gather")
    class Gather:
        @workflow.run
        async def run(self) -> list[str]:
            return list(await asyncio.gather(*[
                workflow.execute_activity(compose, f"n{i}", start_to_close_timeout=timedelta(seconds=5))
                for i in range(3)]))

    h = HistoryBuilder("Gather")
    d = new_driver(Gather)
    assert len(run_task(d, h).commands) == 3
    sched = h.scheduled_activities()
    for ev, val in zip(reversed(sched), ["c", "b", "a"], strict=True):
        h.complete_activity(ev.event_id, val)
    c = run_task(d, h)
    assert decode(c.commands[0].result) == ["a", "b", "c"]
    replay(h, Gather)


def test_random_is_stable_for_non_uuid_run_ids_across_processes() -> None:
    import subprocess
    import sys

    code = ("from temporalflow.core.instance import _seed; import random; "
            "print(random.Random(_seed('replay-run')).random())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": str(i), "PATH": ""}).stdout for i in (1, 2)}
    assert len(outs) == 1 and outs != {""}


@workflow.defn(name="Waits")
class WaitsWithCleanup:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            await workflow.execute_activity(compose, "cleanup", start_to_close_timeout=timedelta(seconds=5))
            raise
        return "never"


def test_cancel_requested_before_the_first_task_reaches_the_run_method():
    h = HistoryBuilder("Waits")
    h.add(ET.WORKFLOW_EXECUTION_CANCEL_REQUESTED, cause="test")
    driver = new_driver(WaitsWithCleanup)
    c1 = run_task(driver, h)
    # The run method started and handled the cancellation at its first await: cleanup first.
    assert [type(c) for c in c1.commands] == [cmds.ScheduleActivityTask]
    h.complete_activity(h.scheduled_activities()[0].event_id, "Hello, cleanup!")
    c2 = run_task(driver, h)
    assert [type(c) for c in c2.commands] == [cmds.CancelWorkflowExecution]
    replay(h, WaitsWithCleanup)  # and the history replays
