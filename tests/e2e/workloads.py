"""Workflows and activities the process-level tests run in ``runworker`` subprocesses.

Activities append a line to the ledger file named by ``TEMPORALFLOW_LEDGER``
(O_APPEND, one write per line), so an execution is counted even if the worker
is killed right after it.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from temporalflow import activity, workflow
from temporalflow.common import RetryPolicy


def ledger(*fields: object) -> None:
    path = os.environ.get("TEMPORALFLOW_LEDGER")
    if path:
        line = "\t".join(str(f) for f in (*fields, os.getpid(), time.time())) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


@activity.defn
def record(workflow_id: str, step: str) -> str:
    ledger("activity", workflow_id, step, activity.info().attempt)
    return f"{step}-done"


@activity.defn
def slow_step(workflow_id: str, seconds: float) -> str:
    ledger("slow-start", workflow_id, activity.info().attempt)
    deadline = time.time() + seconds
    while time.time() < deadline:
        activity.heartbeat()
        time.sleep(0.05)
    ledger("slow-end", workflow_id, activity.info().attempt)
    return "slow-done"


@workflow.defn
class RecordWorkflow:
    @workflow.run
    async def run(self, n: int) -> list[str]:
        wid = workflow.info().workflow_id
        return [
            await workflow.execute_activity(record, args=[wid, f"s{i}"], start_to_close_timeout=timedelta(seconds=30))
            for i in range(n)
        ]


@workflow.defn
class SlowActivityWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        wid = workflow.info().workflow_id
        return await workflow.execute_activity(
            slow_step,
            args=[wid, seconds],
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


@workflow.defn
class SlowTaskWorkflow:
    @workflow.run
    async def run(self) -> str:
        if not workflow.unsafe.is_replaying():
            ledger("wft-start", workflow.info().workflow_id)
            # Blocks the workflow task (under the deadlock limit) so the test can kill
            # the worker in the middle of it.
            time.sleep(1.0)
        result = await workflow.execute_activity(
            record, args=[workflow.info().workflow_id, "after"], start_to_close_timeout=timedelta(seconds=30)
        )
        return result


@workflow.defn
class ParentOfSlowChildWorkflow:
    """A parent whose child runs a slow activity, then signals a sibling (tests kill the worker meanwhile)."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        wid = workflow.info().workflow_id
        result = await workflow.execute_child_workflow(SlowActivityWorkflow.run, seconds, id=f"{wid}-child")
        sibling = await workflow.start_child_workflow(SignalledChildWorkflow.run, id=f"{wid}-sibling")
        await workflow.get_external_workflow_handle(sibling.id).signal("go", result)
        return await sibling


@workflow.defn
class SignalledChildWorkflow:
    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.value is not None)
        return f"sibling got {self.value}"

    @workflow.signal
    def go(self, value: str) -> None:
        self.value = value
