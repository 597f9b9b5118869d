"""Activities of the order process: each one calls one service and is safe to retry.

They are methods of :class:`OrderActivities`, which holds the service clients, so a worker
builds them with real clients and a test with in-memory ones::

    acts = OrderActivities(inventory=..., payments=..., shipping=...)
    Worker(client, task_queue=TASK_QUEUE, workflows=[OrderWorkflow], activities=acts.all())

Activities run at least once (a worker may die after doing the work and before
reporting it), so every call passes the order id as an idempotency key. Errors that no
retry can fix are raised as non-retryable ``ApplicationError``\\ s with a ``type`` the
workflow can tell apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalflow import activity
from temporalflow.exceptions import ApplicationError

from .shared import Inventory, Order, OutOfStockError, PaymentDeclinedError, PaymentGateway, Shipping


class OrderActivities:
    """The order process's activities, bound to the services they call.

    Args:
        inventory: Stock reservations.
        payments: The payment gateway.
        shipping: The carrier.
    """

    def __init__(self, *, inventory: Inventory, payments: PaymentGateway, shipping: Shipping) -> None:
        self.inventory = inventory
        self.payments = payments
        self.shipping = shipping

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, bound to this instance, for ``Worker(activities=...)``."""
        return [self.validate_order, self.reserve_inventory, self.release_inventory, self.charge_payment,
                self.refund_payment, self.ship_order]

    @activity.defn
    def validate_order(self, order: Order) -> None:
        """Refuse orders that can never succeed (empty, bad quantities, unknown products)."""
        problems = []
        if not order.lines:
            problems.append("the order has no lines")
        for line in order.lines:
            if line.quantity <= 0:
                problems.append(f"{line.sku}: quantity must be positive, got {line.quantity}")
            if line.unit_price_cents < 0:
                problems.append(f"{line.sku}: price must not be negative")
        unknown = sorted({line.sku for line in order.lines} - self.inventory.known_skus(
            [line.sku for line in order.lines]))
        if unknown:
            problems.append(f"unknown products: {', '.join(unknown)}")
        if not order.shipping_address.strip():
            problems.append("the shipping address is empty")
        if problems:
            raise ApplicationError(f"order {order.order_id} is invalid: {'; '.join(problems)}",
                                   type="InvalidOrder", non_retryable=True)

    @activity.defn
    def reserve_inventory(self, order: Order) -> str:
        """Reserve every line's stock; returns the reservation id."""
        items: dict[str, int] = {}
        for line in order.lines:
            items[line.sku] = items.get(line.sku, 0) + line.quantity
        try:
            return self.inventory.reserve(order.order_id, items)
        except OutOfStockError as err:
            raise ApplicationError(str(err), type="OutOfStock", non_retryable=True) from err

    @activity.defn
    def release_inventory(self, reservation_id: str) -> None:
        """Compensation of ``reserve_inventory``."""
        self.inventory.release(reservation_id)

    @activity.defn
    def charge_payment(self, order: Order) -> str:
        """Charge the order's total; returns the charge id."""
        try:
            return self.payments.charge(f"order:{order.order_id}", order.payment_token, order.total_cents)
        except PaymentDeclinedError as err:
            raise ApplicationError(f"payment for order {order.order_id} declined: {err}",
                                   type="PaymentDeclined", non_retryable=True) from err

    @activity.defn
    def refund_payment(self, charge_id: str) -> None:
        """Compensation of ``charge_payment``."""
        self.payments.refund(charge_id)

    @activity.defn
    def ship_order(self, order: Order, reservation_id: str) -> str:
        """Commit the reserved stock and hand the parcel to the carrier; returns the tracking number."""
        self.inventory.commit(reservation_id)
        return self.shipping.ship(order.order_id, order.shipping_address, reservation_id)
