"""The order process: validate; reserve inventory and charge payment in parallel; wait for an
approval signal with a timeout; ship; undo everything (a Saga) when a step fails.

Register it with a worker::

    from examples.order.activities import OrderActivities
    from examples.order.shared import TASK_QUEUE
    from examples.order.workflows import OrderWorkflow

    acts = OrderActivities(inventory=my_inventory, payments=my_gateway, shipping=my_carrier)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[OrderWorkflow], activities=acts.all()):
        ...
"""
