"""Workflows and activities the admin tests run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalflow import activity, workflow
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import ApplicationError

UNSERVED_QUEUE = "admin-nobody-polls-this"


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn
async def never_runs(order_id: str) -> str:  # scheduled on a queue no worker polls
    return order_id


@workflow.defn
class GreetWorkflow:
    @workflow.run
    async def run(self, name: str, extra: dict) -> dict:
        greeting = await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))
        return {"greeting": greeting, "extra": extra}


@workflow.defn
class FailingWorkflow:
    @workflow.run
    async def run(self, amount: int) -> None:
        raise ApplicationError(f"card declined for {amount}", {"code": "declined"}, type="PaymentDeclined",
                               non_retryable=True)


@workflow.defn
class ApprovalWorkflow:
    """Waits for an ``approve`` signal, with an activity nobody runs and an hour-long timer pending."""

    def __init__(self) -> None:
        self.approvals: list[list] = []

    @workflow.run
    async def run(self, order_id: str) -> list:
        self._activity = workflow.start_activity(never_runs, order_id, task_queue=UNSERVED_QUEUE,
                                                 start_to_close_timeout=timedelta(hours=1))
        self._timer = asyncio.ensure_future(workflow.sleep(3600))
        await workflow.wait_condition(lambda: bool(self.approvals))
        return self.approvals

    @workflow.signal
    def approve(self, who: str, note: dict) -> None:
        self.approvals.append([who, note])


@activity.defn
async def flaky_then_heartbeats(step: str) -> str:
    """Fails its first attempt; later attempts heartbeat until the worker shuts down."""
    if activity.info().attempt == 1:
        raise ApplicationError(f"{step}: first attempt fails", type="Flaky")
    while not activity.is_worker_shutdown():
        activity.heartbeat({"step": step, "progress": 50})
        await asyncio.sleep(0.1)
    return step


@workflow.defn
class HeartbeatWorkflow:
    @workflow.run
    async def run(self, step: str) -> str:
        return await workflow.execute_activity(
            flaky_then_heartbeats, step, start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
        )
