"""The order process: validate, reserve and charge in parallel, wait for approval, ship.

Every step that changed something registers its undo with a :class:`~temporalflow.saga.Saga`;
if a later step fails, the approval does not come in time, or a reviewer rejects the
order, the undos run in reverse (refund, then release the stock) and the workflow fails
with the original error, so the caller learns why.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalflow import workflow
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import ApplicationError
from temporalflow.saga import Saga

from .activities import OrderActivities
from .shared import Approval, Order, OrderResult, OrderStatus

# Activities call external services: retry transient errors a few times with backoff;
# non-retryable ApplicationErrors (declined card, unknown product) fail at once.
ACTIVITY_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
}
# Compensations must eventually succeed: retry them for much longer.
COMPENSATION_OPTIONS = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1),
                                maximum_attempts=50),
}


@workflow.defn
class OrderWorkflow:
    """One order, from submission to shipment (or to a clean undo)."""

    def __init__(self) -> None:
        self._status = OrderStatus(stage="received")
        self._approval: Approval | None = None
        self._rejection: Approval | None = None

    @workflow.run
    async def run(self, order: Order) -> OrderResult:
        """Process ``order``; raises (failing the workflow) when it cannot be completed."""
        self._status.stage = "validating"
        await workflow.execute_activity_method(OrderActivities.validate_order, order, **ACTIVITY_OPTIONS)

        saga = Saga(activity_options=COMPENSATION_OPTIONS)
        try:
            async with saga:
                reservation_id, charge_id = await self._reserve_and_charge(order, saga)
                approver = await self._wait_for_approval(order)
                self._status.stage = "shipping"
                tracking = await workflow.execute_activity_method(
                    OrderActivities.ship_order, args=[order, reservation_id], **ACTIVITY_OPTIONS)
        except BaseException:
            self._status.stage = "compensated" if not saga.compensations else "compensation_failed"
            raise
        self._status.stage = "shipped"
        return OrderResult(order_id=order.order_id, status="shipped", reservation_id=reservation_id,
                           charge_id=charge_id, tracking_number=tracking, approved_by=approver)

    async def _reserve_and_charge(self, order: Order, saga: Saga) -> tuple[str, str]:
        """Reserve stock and charge the card at the same time; undo whichever succeeded if one fails."""
        self._status.stage = "reserving_and_charging"
        reserve = workflow.start_activity_method(OrderActivities.reserve_inventory, order, **ACTIVITY_OPTIONS)
        charge = workflow.start_activity_method(OrderActivities.charge_payment, order, **ACTIVITY_OPTIONS)
        # Wait for both even when one fails, so a charge that went through is known and refunded.
        reservation, payment = await asyncio.gather(reserve, charge, return_exceptions=True)
        if not isinstance(reservation, BaseException):
            self._status.reservation_id = reservation
            saga.add_compensation(OrderActivities.release_inventory, reservation)
        if not isinstance(payment, BaseException):
            self._status.charge_id = payment
            saga.add_compensation(OrderActivities.refund_payment, payment)
        for outcome in (payment, reservation):
            if isinstance(outcome, BaseException):
                raise outcome
        return reservation, payment

    async def _wait_for_approval(self, order: Order) -> str:
        """Wait for a reviewer's decision, at most ``order.approval_timeout_seconds``."""
        self._status.stage = "awaiting_approval"
        try:
            await workflow.wait_condition(lambda: self._approval is not None or self._rejection is not None,
                                          timeout=timedelta(seconds=order.approval_timeout_seconds))
        except TimeoutError:
            raise ApplicationError(
                f"order {order.order_id} was not approved within {order.approval_timeout_seconds:g} s",
                type="ApprovalTimeout", non_retryable=True) from None
        if self._rejection is not None:
            raise ApplicationError(
                f"order {order.order_id} was rejected by {self._rejection.reviewer}: {self._rejection.comment}",
                type="OrderRejected", non_retryable=True)
        assert self._approval is not None
        self._status.approved_by = self._approval.reviewer
        return self._approval.reviewer

    @workflow.signal
    def approve(self, decision: Approval) -> None:
        """A reviewer approves the order (the first decision wins)."""
        if self._approval is None and self._rejection is None:
            self._approval = decision

    @workflow.signal
    def reject(self, decision: Approval) -> None:
        """A reviewer rejects the order: everything is undone (the first decision wins)."""
        if self._approval is None and self._rejection is None:
            self._rejection = decision

    @workflow.query
    def status(self) -> OrderStatus:
        """Where the order is now."""
        return self._status
