"""The order example (examples/order) end to end: happy path, approval timeout, payment failure."""

from __future__ import annotations

import pytest

from examples.order.activities import OrderActivities
from examples.order.shared import (
    Approval,
    InMemoryInventory,
    InMemoryPayments,
    InMemoryShipping,
    Order,
    OrderLine,
    OrderResult,
)
from examples.order.workflows import OrderWorkflow
from temporalflow.client import WorkflowFailureError
from temporalflow.exceptions import ActivityError, ApplicationError
from temporalflow.testing import WorkflowEnvironment
from tests.integration.engine.conftest import new_task_queue, running_worker, wf_id

from .conftest import eventually, signal_unless_closed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


class Shop:
    """The in-memory services and the activities bound to them."""

    def __init__(self, declined: set[str] | None = None) -> None:
        self.inventory = InMemoryInventory({"mug": 10, "tee": 5})
        self.payments = InMemoryPayments(declined_tokens=declined)
        self.shipping = InMemoryShipping()
        self.activities = OrderActivities(inventory=self.inventory, payments=self.payments,
                                          shipping=self.shipping)


def an_order(token: str = "tok-visa", timeout: float = 3600.0) -> Order:
    return Order(order_id=wf_id(), customer_id="c-1", payment_token=token, shipping_address="1 Main St",
                 lines=[OrderLine("mug", 2, 1250), OrderLine("tee", 1, 2000)], approval_timeout_seconds=timeout)


async def test_happy_path_ships_after_approval(time_env: WorkflowEnvironment) -> None:
    client, shop = time_env.client, Shop()
    order = an_order()
    # The approval comes from a person: no time skipping while the test plays that part.
    with time_env.auto_time_skipping_disabled():
        async with running_worker(client, [OrderWorkflow], shop.activities.all()) as w:
            handle = await client.start_workflow(OrderWorkflow.run, order, id=order.order_id,
                                                 task_queue=w.task_queue)

            async def awaiting() -> bool:
                return (await handle.query(OrderWorkflow.status)).stage == "awaiting_approval"

            await eventually(awaiting)
            await handle.signal(OrderWorkflow.approve, Approval(reviewer="alice"))
            result = await handle.result()
            assert (await handle.query(OrderWorkflow.status)).stage == "shipped"
    assert isinstance(result, OrderResult)
    assert result.status == "shipped" and result.approved_by == "alice"
    assert result.tracking_number == shop.shipping.shipments[order.order_id]
    assert shop.payments.charges[result.charge_id] == 2 * 1250 + 2000 and not shop.payments.refunded
    assert shop.inventory.on_hand == {"mug": 8, "tee": 4} and shop.inventory.committed == {result.reservation_id}


async def test_approval_timeout_refunds_and_releases(time_env: WorkflowEnvironment) -> None:
    client, shop = time_env.client, Shop()
    order = an_order(timeout=2 * 24 * 3600.0)  # two days: skipped, not waited
    async with running_worker(client, [OrderWorkflow], shop.activities.all()) as w:
        handle = await client.start_workflow(OrderWorkflow.run, order, id=order.order_id, task_queue=w.task_queue)
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        assert (await handle.query(OrderWorkflow.status)).stage == "compensated"
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ApprovalTimeout"
    assert "was not approved within 172800 s" in cause.message
    # Both steps succeeded, so both were undone: the refund first (registered last), then the stock.
    (charge_id,) = shop.payments.charges
    assert shop.payments.refunded == {charge_id}
    assert shop.inventory.on_hand == {"mug": 10, "tee": 5} and len(shop.inventory.released) == 1
    assert not shop.shipping.shipments
    history = [e.event_type.name async for e in handle.fetch_history_events()]
    scheduled = [e.attributes["activity_type"]["name"] async for e in handle.fetch_history_events()
                 if e.event_type.name == "ACTIVITY_TASK_SCHEDULED"]
    assert scheduled[-2:] == ["refund_payment", "release_inventory"]
    assert "TIMER_FIRED" in history


async def test_payment_failure_releases_the_reservation(time_env: WorkflowEnvironment) -> None:
    client, shop = time_env.client, Shop(declined={"tok-stolen"})
    order = an_order(token="tok-stolen")
    async with running_worker(client, [OrderWorkflow], shop.activities.all()) as w:
        handle = await client.start_workflow(OrderWorkflow.run, order, id=order.order_id, task_queue=w.task_queue)
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    activity_error = err.value.cause
    assert isinstance(activity_error, ActivityError) and activity_error.activity_type == "charge_payment"
    declined = activity_error.cause
    assert isinstance(declined, ApplicationError) and declined.type == "PaymentDeclined"
    assert not shop.payments.charges and not shop.payments.refunded
    # The reservation made in parallel with the failed charge was released.
    (reservation_id,) = shop.inventory.reservations
    assert shop.inventory.released == {reservation_id} and shop.inventory.on_hand == {"mug": 10, "tee": 5}
    assert not shop.shipping.shipments


async def test_rejection_and_invalid_orders(time_env: WorkflowEnvironment) -> None:
    client, shop = time_env.client, Shop()
    tq = new_task_queue()
    bad = an_order()
    bad.lines.append(OrderLine("sofa", 1, 99900))
    rejected = an_order()
    with time_env.auto_time_skipping_disabled():
        async with running_worker(client, [OrderWorkflow], shop.activities.all(), task_queue=tq):
            with pytest.raises(WorkflowFailureError) as err:
                await client.execute_workflow(OrderWorkflow.run, bad, id=bad.order_id, task_queue=tq)
            invalid = err.value.cause.cause
            assert invalid.type == "InvalidOrder" and "unknown products: sofa" in invalid.message
            assert not shop.inventory.reservations and not shop.payments.charges

            handle = await client.start_workflow(OrderWorkflow.run, rejected, id=rejected.order_id, task_queue=tq)

            async def awaiting() -> bool:
                return (await handle.query(OrderWorkflow.status)).stage == "awaiting_approval"

            await eventually(awaiting)
            await handle.signal(OrderWorkflow.reject, Approval(reviewer="bob", comment="fraud suspected"))
            # Too late: the first decision wins (or the run has already closed).
            await signal_unless_closed(handle, OrderWorkflow.approve, Approval(reviewer="carol"))
            with pytest.raises(WorkflowFailureError) as err:
                await handle.result()
    assert err.value.cause.type == "OrderRejected" and "rejected by bob: fraud suspected" in err.value.cause.message
    assert len(shop.payments.refunded) == 1 and shop.inventory.on_hand == {"mug": 10, "tee": 5}
