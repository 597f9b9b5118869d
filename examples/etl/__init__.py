"""An ETL pipeline: batches fanned out to parallel activities and fanned back in, continuing as
new every few batches with its cursor and running totals.

Register it with a worker::

    from examples.etl.activities import EtlActivities
    from examples.etl.shared import TASK_QUEUE
    from examples.etl.workflows import EtlPipeline

    acts = EtlActivities(source=my_source, sink=my_sink)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[EtlPipeline], activities=acts.all()):
        ...
"""
