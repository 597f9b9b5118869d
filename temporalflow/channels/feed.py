"""What the run socket sends: the admin events feed's JSON, built from the read models.

Synchronous (database) code; the consumer calls it through
``channels.db.database_sync_to_async``. The shapes are those of the admin's
``…/<pk>/events/`` answer (``docs/admin.md``), so the run page's script feeds them
to ``window.temporalflowHistory.append(events, run)`` unchanged. Payloads are
decoded, and rows rendered, by the ``WorkflowRun`` admin registered on the admin
site (a project's subclass with its own data converter included).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.sites import NotRegistered
from django.template.loader import render_to_string

from temporalflow.admin.display import DisplayEvent
from temporalflow.admin.runs import WorkflowRunAdmin
from temporalflow.models import HistoryEvent, RunStatus, WorkflowRun

__all__ = ["RunFeed", "can_view_runs", "run_admin"]

VIEW_PERMISSION = "temporalflow.view_workflowrun"


def run_admin() -> WorkflowRunAdmin:
    """The ``WorkflowRun`` admin of the default admin site (a plain one when it is not registered)."""
    try:
        model_admin = admin.site.get_model_admin(WorkflowRun)
    except NotRegistered:
        model_admin = None
    if isinstance(model_admin, WorkflowRunAdmin):
        return model_admin
    return WorkflowRunAdmin(WorkflowRun, admin.site)


def can_view_runs(user: Any) -> bool:
    """True for an active staff user with ``temporalflow.view_workflowrun`` (superusers have it)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(VIEW_PERMISSION)
    )


def run_summary(run: WorkflowRun) -> dict[str, Any]:
    """The ``run`` object of a feed message."""
    return {
        "workflow_id": run.workflow_id,
        "run_id": run.run_id,
        "status": int(run.status),
        "status_label": run.get_status_display(),
        "closed": run.status != RunStatus.RUNNING,
        "close_time": run.close_time.isoformat() if run.close_time else None,
        "history_length": run.next_event_id - 1,
    }


class RunFeed:
    """Reads one run's history from an event id on, a page at a time, as feed messages.

    Args:
        pk: The run's primary key.
        after: The last event id the client already has.
    """

    def __init__(self, pk: int, after: int) -> None:
        self.pk = pk
        self.after = after
        self.model_admin = run_admin()
        self.decoder = self.model_admin.get_decoder()
        self._pending_html: str | None = None
        self._run_state: tuple[int, int] | None = None

    def exists(self) -> bool:
        """True if the run exists."""
        return WorkflowRun.objects.filter(pk=self.pk).exists()

    def read(self, refresh_pending: bool = False) -> dict[str, Any] | None:
        """The next message, or None when nothing changed since the last one.

        Raises ``WorkflowRun.DoesNotExist`` when the run is gone. One query (the run
        row) when nothing happened; events and pending work are read only when the
        run moved on, or when ``refresh_pending`` asks for pending work (activity
        retries and heartbeats change it without events). The run's status is read
        before its events, and a run closes in the transaction that writes its last
        event, so a closed status never comes with a missing close event.
        """
        run = WorkflowRun.objects.get(pk=self.pk)
        state = (int(run.status), int(run.next_event_id))
        moved = state != self._run_state or run.next_event_id - 1 > self.after
        if not moved and not refresh_pending:
            return None
        page_size = self.model_admin.events_page_size
        rows = list(HistoryEvent.objects.filter(run=run, event_id__gt=self.after)
                    .order_by("event_id")[: page_size + 1])
        more = len(rows) > page_size
        events = []
        for row in rows[:page_size]:
            event = DisplayEvent.build(row.event_id, row.event_type, row.event_time, row.attributes, self.decoder)
            item = event.as_json()
            item["html"] = render_to_string("temporalflow/admin/event_row.html", {"event": event})
            events.append(item)
        pending_html = render_to_string("temporalflow/admin/run_pending.html",
                                        self.model_admin.pending_context(run, self.decoder))
        summary = run_summary(run)
        if not events and pending_html == self._pending_html and state == self._run_state:
            return None
        if events:
            self.after = events[-1]["event_id"]
        self._pending_html = pending_html
        self._run_state = state if not more else None
        message: dict[str, Any] = {
            "type": "history",
            "run": summary,
            "events": events,
            "more": more,
            "last_event_id": self.after,
            "pending_html": pending_html,
        }
        if summary["closed"] and not more:
            message["outcome_html"] = render_to_string(
                "temporalflow/admin/run_outcome.html",
                {"opts": self.model_admin.opts,
                 "outcome": self.model_admin._outcome(self.model_admin._close_event(run), self.decoder)})
        return message
