"""Demo workflows, written as for Temporal's Python SDK with ``temporalflow`` imports."""

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from project.demo.activities import (
    Order,
    charge_payment,
    compose_greeting,
    flaky_call,
    reserve_inventory,
    ship,
)
from temporalflow import workflow
from temporalflow.common import RetryPolicy


@workflow.defn
class GreetingWorkflow:
    """One activity, one result."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            compose_greeting, name, start_to_close_timeout=timedelta(seconds=10)
        )


@dataclass
class OrderResult:
    """How an order ended."""

    order_id: str
    status: str
    amount: Decimal
    tracking_number: str | None = None


@workflow.defn
class OrderWorkflow:
    """Reserve and charge in parallel, wait for a human approval (signal), then ship."""

    def __init__(self) -> None:
        self.approved = False
        self._status = "received"

    @workflow.run
    async def run(self, order: Order) -> OrderResult:
        self._status = "reserving inventory and charging payment"
        await asyncio.gather(
            workflow.execute_activity(reserve_inventory, order, start_to_close_timeout=timedelta(seconds=10)),
            workflow.execute_activity(charge_payment, order, start_to_close_timeout=timedelta(seconds=10)),
        )

        self._status = "awaiting approval"
        try:
            await workflow.wait_condition(lambda: self.approved, timeout=timedelta(seconds=30))
        except TimeoutError:  # asyncio.TimeoutError, as in temporalio
            self._status = "not approved in time"
            return OrderResult(order_id=order.order_id, status="expired", amount=order.amount)

        self._status = "shipping"
        tracking_number = await workflow.execute_activity(
            ship, order.order_id, start_to_close_timeout=timedelta(seconds=10)
        )
        self._status = "shipped"
        return OrderResult(
            order_id=order.order_id, status="shipped", amount=order.amount, tracking_number=tracking_number
        )

    @workflow.signal
    def approve(self) -> None:
        self.approved = True

    @workflow.query
    def status(self) -> str:
        return self._status


@workflow.defn
class FlakyWorkflow:
    """An activity that fails twice and succeeds on its third attempt."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            flaky_call,
            3,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=0.1), maximum_attempts=5),
        )
