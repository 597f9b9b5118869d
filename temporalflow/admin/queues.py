"""The "Task queues" admin page: backlog per queue and the workers seen polling it.

It is the (read-only) ``TaskQueuePoller`` changelist with a backlog table above
it, so it sits in the app index like any model. Backlog counts come from the
rows that index pending work: runs with a scheduled workflow task
(``wft_state = scheduled``) and activity attempts waiting to be claimed
(``ActivityTask.state = scheduled``); in-flight (started) tasks are counted
beside them.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import admin
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse

from temporalflow.admin.display import epoch_to_datetime
from temporalflow.models import (
    ActivityTask,
    ActivityTaskState,
    TaskQueuePoller,
    WorkflowRun,
    WorkflowTaskState,
)

__all__ = ["RECENT_SECONDS", "TaskQueuePollerAdmin", "task_queue_backlog"]

RECENT_SECONDS = 300.0
"""A poller seen within this many seconds counts as a live worker (Temporal uses five minutes too)."""


def task_queue_backlog(now: float | None = None) -> list[dict[str, Any]]:
    """One row per (namespace, task queue) with pending work or pollers, busiest first."""
    now = time.time() if now is None else now
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(namespace: str, queue: str) -> dict[str, Any]:
        return rows.setdefault((namespace, queue), {
            "namespace": namespace, "task_queue": queue, "workflow_scheduled": 0, "workflow_started": 0,
            "activity_scheduled": 0, "activity_started": 0, "workers": 0, "last_poll": None,
        })

    runs = (WorkflowRun.objects.filter(wft_state__in=[WorkflowTaskState.SCHEDULED, WorkflowTaskState.STARTED])
            .values("namespace", "task_queue", "wft_state").annotate(n=Count("id")).order_by())
    for r in runs:
        key = "workflow_scheduled" if r["wft_state"] == WorkflowTaskState.SCHEDULED else "workflow_started"
        row(r["namespace"], r["task_queue"])[key] = r["n"]
    activities = (ActivityTask.objects.values("namespace", "task_queue", "state").annotate(n=Count("id"))
                  .order_by())
    for a in activities:
        key = "activity_scheduled" if a["state"] == ActivityTaskState.SCHEDULED else "activity_started"
        row(a["namespace"], a["task_queue"])[key] = a["n"]
    pollers = (TaskQueuePoller.objects.values("namespace", "task_queue")
               .annotate(last=Max("last_seen"), recent=Count("id", filter=Q(last_seen__gte=now - RECENT_SECONDS)))
               .order_by())
    for p in pollers:
        r = row(p["namespace"], p["task_queue"])
        r["workers"] = p["recent"]
        r["last_poll"] = epoch_to_datetime(p["last"])
    result = list(rows.values())
    for r in result:
        r["backlog"] = r["workflow_scheduled"] + r["activity_scheduled"]
        r["unattended"] = r["backlog"] > 0 and r["workers"] == 0
    result.sort(key=lambda r: (-r["backlog"], r["namespace"], r["task_queue"]))
    return result


@admin.register(TaskQueuePoller)
class TaskQueuePollerAdmin(admin.ModelAdmin):
    """Task queues: backlog per queue, and the workers recently seen polling (read-only)."""

    list_display = ("identity", "kind", "task_queue", "namespace", "last_poll", "seconds_ago")
    list_filter = ("kind", "task_queue", "namespace")
    search_fields = ("identity", "task_queue")
    ordering = ("-last_seen",)
    change_list_template = "temporalflow/admin/task_queues.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Pollers are recorded by workers only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Pollers are recorded by workers only."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Pollers are recorded by workers only."""
        return False

    @admin.display(description="last poll", ordering="last_seen")
    def last_poll(self, obj: TaskQueuePoller) -> Any:
        """When the worker last polled."""
        return epoch_to_datetime(obj.last_seen)

    @admin.display(description="seconds ago", ordering="-last_seen")
    def seconds_ago(self, obj: TaskQueuePoller) -> int:
        """Seconds since the last poll."""
        return max(0, int(time.time() - obj.last_seen))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The pollers list with the per-queue backlog above it."""
        context = {
            "title": "Task queues",
            "backlog": task_queue_backlog(),
            "recent_seconds": int(RECENT_SECONDS),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)
