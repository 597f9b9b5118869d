"""A small shop written for Temporal's Python SDK: only ``temporalio`` imports.

Import it after ``alias.install()``. Nothing here knows about temporalflow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import json  # noqa: F401 - the idiom itself is what is tested


@dataclass
class Item:
    sku: str
    quantity: int


attempts: dict[str, int] = {}


@activity.defn
async def reserve(item: Item) -> str:
    key = f"{activity.info().workflow_id}:{item.sku}"
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < 2:
        raise ApplicationError("inventory service busy")
    return f"reserved {item.quantity} x {item.sku}"


@activity.defn
def charge(amount: float) -> str:
    if amount > 1000:
        raise ApplicationError("card declined", {"limit": 1000}, type="CardDeclined", non_retryable=True)
    return f"charged {amount:.2f}"


@activity.defn
async def price(sku: str) -> float:
    return {"apple": 1.5, "pear": 2.0}.get(sku, 999.0)


@workflow.defn
class Receipt:
    @workflow.run
    async def run(self, customer: str, lines: list[str]) -> str:
        return f"receipt for {customer}: {'; '.join(lines)}"


@workflow.defn
class Cart:
    @workflow.init
    def __init__(self, customer: str) -> None:
        self.customer = customer
        self.items: list[Item] = []
        self.checked_out = False

    @workflow.signal
    def add(self, item: Item) -> None:
        self.items.append(item)

    @workflow.query
    def count(self) -> int:
        return sum(i.quantity for i in self.items)

    @workflow.update
    async def checkout(self) -> str:
        self.checked_out = True
        return f"{self.customer} checks out {len(self.items)} lines"

    @checkout.validator
    def validate_checkout(self) -> None:
        if not self.items:
            raise ValueError("cart is empty")

    @workflow.run
    async def run(self, customer: str) -> dict:
        try:
            await workflow.wait_condition(lambda: self.checked_out, timeout=timedelta(hours=1))
        except asyncio.TimeoutError:  # noqa: UP041 - the idiom of temporalio's docs
            return {"customer": customer, "abandoned": True}
        total = 0.0
        for item in self.items:
            total += item.quantity * await workflow.execute_local_activity(
                price, item.sku, start_to_close_timeout=timedelta(seconds=5))
        reserved = await asyncio.gather(*(
            workflow.execute_activity(reserve, item, start_to_close_timeout=timedelta(seconds=5),
                                      retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)))
            for item in self.items))
        if workflow.patched("charge-at-the-end"):
            await workflow.sleep(timedelta(milliseconds=10))
        try:
            receipt = await workflow.execute_activity(charge, total, start_to_close_timeout=timedelta(seconds=5))
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            return {"customer": customer, "declined": err.cause.type, "details": list(err.cause.details)}
        receipt = await workflow.execute_child_workflow(
            Receipt.run, args=[customer, [*reserved, receipt]], id=f"{workflow.info().workflow_id}-receipt",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        return {"customer": customer, "reserved": reserved, "receipt": receipt,
                "at": workflow.now().isoformat(), "id": str(workflow.uuid4())[:8]}
