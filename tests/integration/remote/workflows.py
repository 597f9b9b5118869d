"""Workflows the remote-client tests drive over the REST API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from temporalflow import workflow
from temporalflow.exceptions import ApplicationError


class Priority(Enum):
    """An enum argument (travels as its value)."""

    LOW = "low"
    HIGH = "high"


@dataclass
class Order:
    """A typed argument with values JSON has no plain form for."""

    order_id: uuid.UUID
    placed_at: datetime
    amount: Decimal
    priority: Priority
    skus: list[str]


@dataclass
class Receipt:
    """A typed result."""

    order_id: uuid.UUID
    placed_at: datetime
    total: Decimal
    priority: Priority
    lines: int


@dataclass
class Item:
    """An update argument."""

    sku: str
    qty: int


@workflow.defn
class RemoteOrderWorkflow:
    """Turns an order into a receipt at once."""

    @workflow.run
    async def run(self, order: Order) -> Receipt:
        return Receipt(order_id=order.order_id, placed_at=order.placed_at, total=order.amount * 2,
                       priority=order.priority, lines=len(order.skus))


@workflow.defn
class RemoteCartWorkflow:
    """Waits for checkout; signals, queries and updates act on its items."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, owner: str) -> dict:
        await workflow.wait_condition(lambda: self.done)
        return {"owner": owner, "items": self.items}

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def checkout(self) -> None:
        self.done = True

    @workflow.query
    def items_so_far(self) -> list[str]:
        return self.items

    @workflow.query
    def last_item(self) -> Item:
        sku, _, qty = self.items[-1].partition("x")
        return Item(sku=sku, qty=int(qty or 0))

    @workflow.update
    def add_item(self, item: Item) -> int:
        self.items.append(f"{item.sku}x{item.qty}")
        return len(self.items)

    @add_item.validator
    def validate_add_item(self, item: Item) -> None:
        if item.qty <= 0:
            raise ApplicationError("qty must be positive", type="BadQty")


@workflow.defn
class RemoteFailingWorkflow:
    """Fails at once with details."""

    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("boom", {"why": "test"}, type="Boom", non_retryable=True)


@workflow.defn
class RemoteBytesWorkflow:
    """Returns bytes (the API sends them as {"base64": ...})."""

    @workflow.run
    async def run(self, text: str) -> bytes:
        return text.encode() + b"\x00\xff"
