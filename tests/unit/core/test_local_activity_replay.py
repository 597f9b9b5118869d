"""Local activities in the core: markers resolve them on replay, in the order they finished live."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds
from temporalflow.core.events import EventType as ET
from temporalflow.core.machines import NondeterminismError, RunDriver

from .history_builder import HistoryBuilder, decode, encode, new_driver, replay


@activity.defn
async def lookup(key: str) -> str:
    return key


@activity.defn
async def price(key: str) -> str:
    return key


@workflow.defn(name="Locals")
class Locals:
    @workflow.run
    async def run(self) -> list[str]:
        finished: list[str] = []
        a = workflow.start_local_activity(lookup, "a", start_to_close_timeout=timedelta(seconds=5))
        b = workflow.start_local_activity(price, "b", start_to_close_timeout=timedelta(seconds=5))
        a.add_done_callback(lambda _: finished.append("lookup"))
        b.add_done_callback(lambda _: finished.append("price"))
        await asyncio.gather(a, b)
        await workflow.execute_activity(lookup, "after", start_to_close_timeout=timedelta(seconds=5))
        return finished


@workflow.defn(name="Locals")
class LocalsWithoutPrice:
    @workflow.run
    async def run(self) -> list[str]:
        await workflow.execute_local_activity(lookup, "a", start_to_close_timeout=timedelta(seconds=5))
        await workflow.execute_activity(lookup, "after", start_to_close_timeout=timedelta(seconds=5))
        return []


def run_task_with_locals(driver: RunDriver, h: HistoryBuilder, finish_order: list[str]) -> list[cmds.Command]:
    """What the worker does: run the task, resolve its local activities one at a time, record markers."""
    started = h.start_wft()
    completion = driver.process(h.events, current_started_event_id=started)
    assert completion is not None and completion.failure is None
    pending = {c.activity_type: c for c in completion.commands if isinstance(c, cmds.ScheduleLocalActivity)}
    commands = [c for c in completion.commands if not isinstance(c, cmds.ScheduleLocalActivity)]
    for name in finish_order:
        cmd = pending.pop(name)
        result = encode(f"{name}-result")
        commands.append(cmds.local_activity_marker(cmd, complete_time=0.0, result=result))
        nxt = driver.resolve_local([jobs.ResolveActivity(seq=cmd.seq, result=result)])
        assert nxt.failure is None
        commands += nxt.commands
    h.complete_wft(started, commands)
    driver.mark_unmatched(jobs.Completion(commands=commands))
    return commands


@pytest.mark.parametrize("order", [["lookup", "price"], ["price", "lookup"]])
def test_markers_replay_in_the_order_the_local_activities_finished(order: list[str]) -> None:
    h = HistoryBuilder("Locals")
    driver = new_driver(Locals)
    commands = run_task_with_locals(driver, h, order)
    kinds = [type(c).__name__ for c in commands]
    assert kinds == ["RecordMarker", "RecordMarker", "ScheduleActivityTask"]
    h.complete_activity(h.scheduled_activities()[0].event_id, "after")
    started = h.start_wft()
    final = driver.process(h.events, current_started_event_id=started)
    assert final is not None and isinstance(final.commands[-1], cmds.CompleteWorkflowExecution)
    h.complete_wft(started, final.commands)
    assert decode(h.events[-1].attributes["result"]) == order
    markers = [e for e in h.events if e.event_type is ET.MARKER_RECORDED]
    assert [m.attributes["marker_name"] for m in markers] == [cmds.LOCAL_ACTIVITY_MARKER] * 2
    assert replay(h, Locals).closed  # replay resolves them from the markers, in the same order


def test_a_removed_local_activity_is_a_nondeterminism_error() -> None:
    h = HistoryBuilder("Locals")
    run_task_with_locals(new_driver(Locals), h, ["lookup", "price"])
    with pytest.raises(NondeterminismError) as err:
        replay(h, LocalsWithoutPrice)
    assert "MarkerRecorded" in str(err.value)


def test_local_activity_commands_write_no_event() -> None:
    cmd = cmds.ScheduleLocalActivity(seq=1, activity_id="1", activity_type="lookup", input=encode("a"))
    assert cmds.command_event(cmd, 4) is None
    assert cmds.command_event(cmds.RequestCancelLocalActivity(seq=1), 4) is None
