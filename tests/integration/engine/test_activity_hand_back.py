"""The workflow task an activity wakes, completed in the activity's own transaction, and its fallbacks."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.client import Client

from .conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

_TIMEOUT = timedelta(seconds=10)
failed_once: set[str] = set()


@activity.defn
async def step(i: int) -> int:
    return i + 1


@workflow.defn
class StepsWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = await workflow.execute_activity(step, value, start_to_close_timeout=_TIMEOUT)
        return value


@workflow.defn
class FailsAfterActivityWorkflow:
    """The task after the activity fails once (a bug fixed by the retry), then completes."""

    @workflow.run
    async def run(self, mode: str) -> int:
        value = await workflow.execute_activity(step, 1, start_to_close_timeout=_TIMEOUT)
        wid = workflow.info().workflow_id
        if wid not in failed_once:
            failed_once.add(wid)
            if mode == "raise":
                raise RuntimeError("transient bug in the task after the activity")
            time.sleep(1.5)  # never yields: the deadlock detector fails this task
        return value


def _types(history) -> list[str]:
    return [e.event_type.value for e in history.events]


async def test_sequential_activities_complete_with_their_tasks(client: Client) -> None:
    async with running_worker(client, [StepsWorkflow], [step]) as w:
        handle = await client.start_workflow(StepsWorkflow.run, 10, id=wf_id(), task_queue=w.task_queue)
        assert await handle.result() == 10
    types = _types(await handle.fetch_history())
    assert types.count("ActivityTaskCompleted") == 10
    assert "WorkflowTaskFailed" not in types
    # Every activity outcome is followed by its task, started and completed by the same worker.
    for i, t in enumerate(types):
        if t == "ActivityTaskCompleted":
            assert types[i + 1:i + 4] == ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]


@pytest.mark.parametrize("mode", ["raise", "deadlock"])
async def test_a_failing_task_after_an_activity_is_reported_and_retried(client: Client, mode: str) -> None:
    async with running_worker(client, [FailsAfterActivityWorkflow], [step],
                              deadlock_timeout=timedelta(seconds=0.5)) as w:
        handle = await client.start_workflow(FailsAfterActivityWorkflow.run, mode, id=wf_id(),
                                             task_queue=w.task_queue)
        assert await handle.result() == 2
    history = await handle.fetch_history()
    types = _types(history)
    assert types.count("ActivityTaskCompleted") == 1  # the activity's result was kept, not run again
    failed = [e for e in history.events if e.event_type.value == "WorkflowTaskFailed"]
    assert len(failed) == 1
    message = failed[0].attributes["failure"]["message"]
    assert ("transient bug" in message) if mode == "raise" else ("TMPRL1101" in message)
