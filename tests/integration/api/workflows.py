"""Workflows the API tests drive."""

from __future__ import annotations

from dataclasses import dataclass

from temporalflow import workflow
from temporalflow.exceptions import ApplicationError


@dataclass
class Item:
    """A typed argument (so wrong-shaped JSON does not decode)."""

    sku: str
    qty: int


@workflow.defn
class ApiCartWorkflow:
    """Waits for a checkout signal; query, update and signals act on its items."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, name: str) -> dict:
        await workflow.wait_condition(lambda: self.done)
        return {"name": name, "items": self.items}

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
    def item_at(self, index: int) -> str:
        return self.items[index]

    @workflow.update
    def add_item(self, item: Item) -> int:
        self.items.append(f"{item.sku}x{item.qty}")
        return len(self.items)

    @add_item.validator
    def validate_add_item(self, item: Item) -> None:
        if item.qty <= 0:
            raise ApplicationError("qty must be positive", type="BadQty")


@workflow.defn
class ApiFailingWorkflow:
    """Fails at once."""

    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("boom", {"why": "test"}, type="Boom", non_retryable=True)


@workflow.defn
class ApiOddResultWorkflow:
    """Returns values JSON has no plain form for."""

    @workflow.run
    async def run(self, kind: str) -> object:
        return b"\x00\xffraw" if kind == "bytes" else float("inf")
