"""Demo activities: ordinary functions, the side-effecting half of a workflow.

Sync ``def`` activities run in the worker's thread pool; ``async def`` ones on its event loop.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from temporalflow import activity


@dataclass
class Order:
    """What the demo shop is asked to fulfil."""

    order_id: str
    items: list[str]
    amount: Decimal


@activity.defn
async def compose_greeting(name: str) -> str:
    """Build the greeting (async activity)."""
    return f"Hello, {name}!"


@activity.defn
def reserve_inventory(order: Order) -> str:
    """Pretend to reserve stock for every item (sync activity, thread pool)."""
    activity.logger.info("reserving %s for order %s", order.items, order.order_id)
    return f"reserved {len(order.items)} item(s)"


@activity.defn
def charge_payment(order: Order) -> str:
    """Pretend to charge the customer."""
    activity.logger.info("charging %s for order %s", order.amount, order.order_id)
    return f"charged {order.amount}"


@activity.defn
def ship(order_id: str) -> str:
    """Pretend to hand the parcel to a carrier; returns a tracking number."""
    return f"TRACK-{order_id}-{uuid.uuid4().hex[:8].upper()}"


@activity.defn
def flaky_call(succeed_on_attempt: int) -> str:
    """Fail until attempt ``succeed_on_attempt``; the engine retries per the RetryPolicy."""
    attempt = activity.info().attempt
    if attempt < succeed_on_attempt:
        raise RuntimeError(f"transient failure on attempt {attempt}")
    return f"succeeded on attempt {attempt}"
