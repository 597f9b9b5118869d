"""``manage.py rundemo``: start the demo workflows and print what happens.

Needs a worker: ``python manage.py runworker`` in another terminal (scripts/demo.sh starts one).
"""

import time
import uuid
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from project.demo.activities import Order
from project.demo.workflows import FlakyWorkflow, GreetingWorkflow, OrderWorkflow
from temporalflow.client import SyncClient, WorkflowFailureError


class Command(BaseCommand):
    help = "Run the demo workflows (greeting, order with approval signal, flaky activity) and print results."

    def add_arguments(self, parser):
        parser.add_argument("--task-queue", default="default", help="Task queue the worker polls.")
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="Seconds to wait for the order to await approval."
        )

    def handle(self, *args, task_queue: str, timeout: float, **options):
        client = SyncClient.connect()
        suffix = uuid.uuid4().hex[:8]
        try:
            self.greeting(client, task_queue, suffix)
            self.order(client, task_queue, suffix, timeout)
            self.flaky(client, task_queue, suffix)
        except WorkflowFailureError as exc:
            raise CommandError(f"workflow failed: {exc} (cause: {exc.cause!r})") from exc
        self.stdout.write(self.style.SUCCESS("demo finished: 3 workflows completed"))

    def greeting(self, client, task_queue, suffix):
        handle = client.start_workflow(
            GreetingWorkflow.run, "World", id=f"demo-greeting-{suffix}", task_queue=task_queue
        )
        self.stdout.write(f"[greeting] started {handle.id}")
        self.stdout.write(f"[greeting] result: {handle.result()}")

    def order(self, client, task_queue, suffix, timeout):
        order = Order(order_id=f"A-{suffix}", items=["book", "lamp"], amount=Decimal("42.50"))
        handle = client.start_workflow(
            OrderWorkflow.run, order, id=f"demo-order-{suffix}", task_queue=task_queue
        )
        self.stdout.write(f"[order] started {handle.id} for {order.items} ({order.amount})")

        # Watch the status query until the workflow waits for our approval.
        deadline = time.monotonic() + timeout
        last = None
        while True:
            status = handle.query(OrderWorkflow.status)
            if status != last:
                self.stdout.write(f"[order] status: {status}")
                last = status
            if status == "awaiting approval":
                break
            if time.monotonic() > deadline:
                raise CommandError(f"order still {status!r} after {timeout}s; is runworker running?")
            time.sleep(0.1)

        handle.signal(OrderWorkflow.approve)
        self.stdout.write("[order] sent signal: approve")
        result = handle.result()
        self.stdout.write(
            f"[order] result: {result.status}, charged {result.amount}, tracking {result.tracking_number}"
        )
        self.stdout.write(f"[order] status: {handle.query(OrderWorkflow.status)}")

    def flaky(self, client, task_queue, suffix):
        handle = client.start_workflow(FlakyWorkflow.run, id=f"demo-flaky-{suffix}", task_queue=task_queue)
        self.stdout.write(f"[flaky] started {handle.id} (its activity fails on attempts 1 and 2)")
        self.stdout.write(f"[flaky] result: {handle.result()}")
