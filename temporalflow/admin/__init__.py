"""temporalflow's Django admin: workflow runs (list, live run page, actions), task queues, schedules.

Django's admin autodiscovery imports this package; importing it registers
:class:`~temporalflow.admin.runs.WorkflowRunAdmin` and
:class:`~temporalflow.admin.queues.TaskQueuePollerAdmin` on ``admin.site``.
A project with its own ``AdminSite`` registers them there too::

    my_site.register(WorkflowRun, WorkflowRunAdmin)

The admin is a surface: it reads the models to list and show, and changes a
run only through the client.
"""

from temporalflow.admin.queues import TaskQueuePollerAdmin
from temporalflow.admin.runs import WorkflowRunAdmin
from temporalflow.admin.schedules import ScheduleAdmin

__all__ = ["ScheduleAdmin", "TaskQueuePollerAdmin", "WorkflowRunAdmin"]
