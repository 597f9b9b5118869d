"""``temporalflow.saga.Saga`` in workflow code, driven through histories (no database)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.core import commands as cmds
from temporalflow.exceptions import ActivityError
from temporalflow.saga import CompensationError, Saga

from .history_builder import HistoryBuilder, decode, new_driver, replay, run_task

OPTS = {"start_to_close_timeout": timedelta(seconds=5)}


@activity.defn
async def step(name: str) -> str:
    return name


@activity.defn
async def undo(name: str) -> str:
    return name


def _failure(message: str) -> dict:
    return {"message": message, "application_failure_info": {"type": "Boom", "non_retryable": True}}


@workflow.defn(name="SagaFlow")
class SagaFlow:
    """Three steps; each registers an activity undo. ``mode`` selects the saga's options."""

    def __init__(self) -> None:
        self.local_undos: list[str] = []

    @workflow.run
    async def run(self, mode: str) -> dict:
        saga = Saga(parallel_compensations=mode == "parallel",
                    continue_on_compensation_failure=mode == "continue", activity_options=OPTS)
        try:
            async with saga:
                for name in ("a", "b", "c"):
                    await workflow.execute_activity(step, name, **OPTS)
                    saga.add_compensation(undo, f"undo-{name}")
                    saga.add_compensation(self._local_undo, name, suffix="!")
        except CompensationError as err:
            return {"error": err.message, "failed": [c.name for c in err.failed], "local": self.local_undos,
                    "type": err.type, "left": len(saga.compensations)}
        except ActivityError as err:
            return {"error": f"step failed: {err.cause}", "local": self.local_undos}
        return {"ok": True, "local": self.local_undos}

    async def _local_undo(self, name: str, *, suffix: str) -> None:
        await asyncio.sleep(0)  # any async callable may compensate
        self.local_undos.append(name + suffix)


def _scheduled(h: HistoryBuilder) -> list[tuple[str, str, int]]:
    return [(e.attributes["activity_type"]["name"], decode(e.attributes["input"]), e.event_id)
            for e in h.scheduled_activities()]


def _run_steps_failing_at_c(mode: str) -> tuple[HistoryBuilder, object]:
    h = HistoryBuilder("SagaFlow", mode)
    d = new_driver(SagaFlow)
    run_task(d, h)
    for name in ("a", "b"):
        h.complete_activity(_scheduled(h)[-1][2], name)
        run_task(d, h)
    h.fail_activity(_scheduled(h)[-1][2], _failure("card declined"))
    return h, d


def test_compensates_in_reverse_order_and_reraises_the_step_error() -> None:
    h, d = _run_steps_failing_at_c("sequential")
    c = run_task(d, h)
    # Only b's and a's undos run (c never succeeded), last first, one at a time.
    assert [x.activity_type for x in c.commands if isinstance(x, cmds.ScheduleActivityTask)] == ["undo"]
    assert _scheduled(h)[-1][:2] == ("undo", "undo-b")
    h.complete_activity(_scheduled(h)[-1][2], "undo-b")
    run_task(d, h)
    assert _scheduled(h)[-1][:2] == ("undo", "undo-a")
    h.complete_activity(_scheduled(h)[-1][2], "undo-a")
    run_task(d, h)
    result = decode(h.events[-1].attributes["result"])
    assert result["local"] == ["b!", "a!"]
    assert result["error"] == "step failed: Boom: card declined"
    assert replay(h, SagaFlow).closed


def test_parallel_compensations_start_together_in_reverse_order() -> None:
    h, d = _run_steps_failing_at_c("parallel")
    c = run_task(d, h)
    assert [decode(x.input) for x in c.commands if isinstance(x, cmds.ScheduleActivityTask)] == ["undo-b", "undo-a"]
    for _, _, event_id in _scheduled(h)[-2:]:
        h.complete_activity(event_id, "ok")
    run_task(d, h)
    result = decode(h.events[-1].attributes["result"])
    assert result["local"] == ["b!", "a!"] and result["error"].startswith("step failed")
    assert replay(h, SagaFlow).closed


def test_parallel_failures_are_raised_together_after_all_ran() -> None:
    h, d = _run_steps_failing_at_c("parallel")
    run_task(d, h)
    undo_b, undo_a = _scheduled(h)[-2:]
    h.fail_activity(undo_b[2], _failure("b is stuck"))
    h.fail_activity(undo_a[2], _failure("a is stuck"))
    run_task(d, h)
    result = decode(h.events[-1].attributes["result"])
    assert result["failed"] == ["undo", "undo"] and result["type"] == "CompensationError"
    assert result["error"] == ("2 compensations failed: undo: Activity task failed (Boom: b is stuck); "
                               "undo: Activity task failed (Boom: a is stuck)")


def test_stop_at_first_failure_keeps_the_rest_registered() -> None:
    h, d = _run_steps_failing_at_c("sequential")
    run_task(d, h)
    h.fail_activity(_scheduled(h)[-1][2], _failure("b is stuck"))
    run_task(d, h)
    result = decode(h.events[-1].attributes["result"])
    # undo-b failed: a's undos never ran (local b! ran before the failure).
    assert result["failed"] == ["undo"] and result["local"] == ["b!"] and result["left"] == 2
    assert result["error"].startswith("1 compensation failed: undo:")
    assert [s[1] for s in _scheduled(h) if s[0] == "undo"] == ["undo-b"]
    assert replay(h, SagaFlow).closed


def test_continue_on_compensation_failure_runs_every_compensation() -> None:
    h, d = _run_steps_failing_at_c("continue")
    run_task(d, h)
    h.fail_activity(_scheduled(h)[-1][2], _failure("b is stuck"))
    run_task(d, h)
    assert _scheduled(h)[-1][:2] == ("undo", "undo-a")
    h.fail_activity(_scheduled(h)[-1][2], _failure("a is stuck"))
    run_task(d, h)
    result = decode(h.events[-1].attributes["result"])
    assert result["failed"] == ["undo", "undo"] and result["local"] == ["b!", "a!"] and result["left"] == 0
    assert replay(h, SagaFlow).closed


def test_success_runs_no_compensation() -> None:
    h = HistoryBuilder("SagaFlow", "sequential")
    d = new_driver(SagaFlow)
    run_task(d, h)
    for name in ("a", "b", "c"):
        h.complete_activity(_scheduled(h)[-1][2], name)
        run_task(d, h)
    assert decode(h.events[-1].attributes["result"]) == {"ok": True, "local": []}
    assert [s[0] for s in _scheduled(h)] == ["step", "step", "step"]


@workflow.defn(name="SagaCancelled")
class SagaCancelled:
    @workflow.run
    async def run(self) -> None:
        async with Saga(activity_options=OPTS) as saga:
            await workflow.execute_activity(step, "a", **OPTS)
            saga.add_compensation("undo", "undo-a")  # by activity type name
            await workflow.wait_condition(lambda: False)


def test_cancellation_compensates_then_the_run_is_cancelled() -> None:
    h = HistoryBuilder("SagaCancelled")
    d = new_driver(SagaCancelled)
    run_task(d, h)
    h.complete_activity(_scheduled(h)[-1][2], "a")
    run_task(d, h)
    from temporalflow.core.events import EventType as ET

    h.new_event(ET.WORKFLOW_EXECUTION_CANCEL_REQUESTED)
    run_task(d, h)
    assert _scheduled(h)[-1][:2] == ("undo", "undo-a")
    h.complete_activity(_scheduled(h)[-1][2], "undo-a")
    c = run_task(d, h)
    assert isinstance(c.commands[-1], cmds.CancelWorkflowExecution)
    assert replay(h, SagaCancelled).closed


def test_add_compensation_rejects_what_cannot_run() -> None:
    saga = Saga()
    with pytest.raises(TypeError, match="activity or a callable"):
        saga.add_compensation(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must not be empty"):
        saga.add_compensation("")
    with pytest.raises(ValueError, match="at least one"):
        CompensationError([])


async def test_plain_callables_compensate_outside_workflows_too() -> None:
    calls: list[str] = []
    saga = Saga(continue_on_compensation_failure=True)
    saga.add_compensation(calls.append, "first")

    def broken() -> None:
        raise RuntimeError("no")

    saga.add_compensation(broken)
    saga.add_compensation(calls.append, "last")
    with pytest.raises(CompensationError) as err:
        await saga.compensate()
    assert calls == ["last", "first"]
    assert isinstance(err.value.__cause__, RuntimeError) and err.value.details[0]["error"] == "no"
    await saga.compensate()  # nothing left: nothing runs twice
    assert calls == ["last", "first"]
