"""A multi-level approval: a request goes to level 1; if nobody decides within the escalation
timeout it escalates to level 2, then 3; a rejection ends it; a query tells who it waits for.

Register it with a worker::

    from examples.approval.activities import ApprovalActivities
    from examples.approval.shared import TASK_QUEUE
    from examples.approval.workflows import MultiLevelApproval

    acts = ApprovalActivities(notifier=my_notifier)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[MultiLevelApproval], activities=acts.all()):
        ...
"""
