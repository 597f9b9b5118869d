"""Data types and service interfaces of the order process (shared by workflow and activities).

Amounts are integer cents: workflow inputs and results travel as JSON, and integers keep
money exact without a decimal type in every payload.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Protocol

TASK_QUEUE = "orders"
"""The task queue the order workflow and its activities run on."""


@dataclass
class OrderLine:
    """One product line of an order."""

    sku: str
    quantity: int
    unit_price_cents: int


@dataclass
class Order:
    """An order as the shop submits it.

    ``approval_timeout_seconds`` is how long the order waits for a person to approve it
    (fraud review, large orders) before it is cancelled and everything is undone.
    """

    order_id: str
    customer_id: str
    lines: list[OrderLine]
    payment_token: str
    shipping_address: str
    approval_timeout_seconds: float = 24 * 3600.0

    @property
    def total_cents(self) -> int:
        """The amount to charge."""
        return sum(line.quantity * line.unit_price_cents for line in self.lines)


@dataclass
class Approval:
    """The decision a reviewer sends with the ``approve`` or ``reject`` signal."""

    reviewer: str
    comment: str = ""


@dataclass
class OrderResult:
    """What a shipped order returns."""

    order_id: str
    status: str
    reservation_id: str
    charge_id: str
    tracking_number: str
    approved_by: str


@dataclass
class OrderStatus:
    """What the ``status`` query returns while the order runs."""

    stage: str
    reservation_id: str | None = None
    charge_id: str | None = None
    approved_by: str | None = None


# --- the services the activities call ---------------------------------------------


class OutOfStockError(Exception):
    """Raised by an inventory when a line cannot be reserved."""


class PaymentDeclinedError(Exception):
    """Raised by a payment gateway when the card is refused (retrying will not help)."""


class Inventory(Protocol):
    """Stock reservations. Implementations must be idempotent per ``order_id``."""

    def known_skus(self, skus: list[str]) -> set[str]:
        """The subset of ``skus`` the shop sells."""

    def reserve(self, order_id: str, items: dict[str, int]) -> str:
        """Reserve ``items`` (sku → quantity) for the order; returns the reservation id.

        Calling it again for the same order returns the same reservation.
        """

    def release(self, reservation_id: str) -> None:
        """Give the reserved stock back; releasing twice is a no-op."""

    def commit(self, reservation_id: str) -> None:
        """Turn the reservation into a shipment (the stock leaves the warehouse)."""


class PaymentGateway(Protocol):
    """Card payments. Implementations must be idempotent per ``idempotency_key``."""

    def charge(self, idempotency_key: str, payment_token: str, amount_cents: int) -> str:
        """Charge the card; returns the charge id. Raises ``PaymentDeclinedError``."""

    def refund(self, charge_id: str) -> None:
        """Refund a charge in full; refunding twice is a no-op."""


class Shipping(Protocol):
    """The carrier."""

    def ship(self, order_id: str, address: str, reservation_id: str) -> str:
        """Hand the parcel over; returns the tracking number (same one when called again)."""


# --- in-process implementations (development, tests, the demo project) ---------------


class InMemoryInventory:
    """A thread-safe stock ledger kept in memory (swap in your warehouse system's client)."""

    def __init__(self, stock: dict[str, int]) -> None:
        """Start with ``stock`` (sku → units on hand)."""
        self._lock = threading.Lock()
        self.on_hand = dict(stock)
        self.reservations: dict[str, dict[str, int]] = {}
        self._by_order: dict[str, str] = {}
        self.released: set[str] = set()
        self.committed: set[str] = set()

    def known_skus(self, skus: list[str]) -> set[str]:
        """The SKUs in ``skus`` that have a stock entry."""
        with self._lock:
            return {s for s in skus if s in self.on_hand}

    def reserve(self, order_id: str, items: dict[str, int]) -> str:
        """Take the units off the shelf, all or nothing."""
        with self._lock:
            if order_id in self._by_order:
                return self._by_order[order_id]
            short = [sku for sku, qty in items.items() if self.on_hand.get(sku, 0) < qty]
            if short:
                raise OutOfStockError(f"not enough stock for {', '.join(sorted(short))}")
            for sku, qty in items.items():
                self.on_hand[sku] -= qty
            reservation_id = f"res-{uuid.uuid4().hex[:12]}"
            self.reservations[reservation_id] = dict(items)
            self._by_order[order_id] = reservation_id
            return reservation_id

    def release(self, reservation_id: str) -> None:
        """Put the units back on the shelf once."""
        with self._lock:
            if reservation_id in self.released or reservation_id in self.committed:
                return
            for sku, qty in self.reservations.get(reservation_id, {}).items():
                self.on_hand[sku] += qty
            self.released.add(reservation_id)

    def commit(self, reservation_id: str) -> None:
        """Mark the reservation shipped."""
        with self._lock:
            if reservation_id not in self.reservations:
                raise KeyError(f"unknown reservation {reservation_id}")
            self.committed.add(reservation_id)


class InMemoryPayments:
    """A payment gateway kept in memory; tokens listed in ``declined_tokens`` are refused."""

    def __init__(self, declined_tokens: set[str] | None = None) -> None:
        """Create the gateway."""
        self._lock = threading.Lock()
        self.declined_tokens = set(declined_tokens or ())
        self.charges: dict[str, int] = {}
        self._by_key: dict[str, str] = {}
        self.refunded: set[str] = set()

    def charge(self, idempotency_key: str, payment_token: str, amount_cents: int) -> str:
        """Charge once per idempotency key."""
        with self._lock:
            if idempotency_key in self._by_key:
                return self._by_key[idempotency_key]
            if payment_token in self.declined_tokens:
                raise PaymentDeclinedError("card declined")
            charge_id = f"ch-{uuid.uuid4().hex[:12]}"
            self.charges[charge_id] = amount_cents
            self._by_key[idempotency_key] = charge_id
            return charge_id

    def refund(self, charge_id: str) -> None:
        """Refund once."""
        with self._lock:
            if charge_id not in self.charges:
                raise KeyError(f"unknown charge {charge_id}")
            self.refunded.add(charge_id)


class InMemoryShipping:
    """A carrier kept in memory."""

    def __init__(self) -> None:
        """Create the carrier."""
        self._lock = threading.Lock()
        self.shipments: dict[str, str] = {}

    def ship(self, order_id: str, address: str, reservation_id: str) -> str:
        """One tracking number per order."""
        with self._lock:
            if order_id not in self.shipments:
                self.shipments[order_id] = f"TRK{uuid.uuid4().hex[:10].upper()}"
            return self.shipments[order_id]
