"""The ``WorkflowRun`` admin: list, a read-only run page with a live history, and run actions.

Runs change only through the client (``SyncClient``): the admin never saves a
run form. Signal, cancel and terminate are each guarded by their own permission
(``temporalflow.signal_workflow``, ``cancel_workflow``, ``terminate_workflow``),
are CSRF-protected POSTs behind a form or a confirmation page, and are recorded
in the admin log (``LogEntry``) in the same transaction as the history event
they write. The client's identity names the admin user, so the history event
records who acted too.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from temporalflow.admin.display import DisplayEvent, PayloadDecoder, epoch_to_datetime, failure_summary, pretty_json
from temporalflow.admin.filters import DateTimeRangeFilter
from temporalflow.admin.forms import CancelForm, SignalForm, TerminateForm
from temporalflow.client import SyncClient
from temporalflow.conf import get_data_converter
from temporalflow.core import search_attributes
from temporalflow.core.converter import DataConverter
from temporalflow.core.events import CLOSE_EVENT_TYPES, EventType
from temporalflow.models import ActivityTask, HistoryEvent, RunStatus, Timer, WorkflowRun
from temporalflow.service import RPCError, RPCStatusCode

__all__ = ["ActionRefused", "WorkflowRunAdmin"]

_STATUS_COLORS = {
    RunStatus.RUNNING: "#2b6cb0",
    RunStatus.COMPLETED: "#2f855a",
    RunStatus.FAILED: "#c53030",
    RunStatus.CANCELED: "#975a16",
    RunStatus.TERMINATED: "#c53030",
    RunStatus.CONTINUED_AS_NEW: "#4a5568",
    RunStatus.TIMED_OUT: "#c53030",
}

_ACTIONS: dict[str, dict[str, Any]] = {
    "signal": {"form": SignalForm, "verb": "Signal", "done": "signaled", "permission": "signal_workflow"},
    "cancel": {"form": CancelForm, "verb": "Cancel", "done": "asked to cancel", "permission": "cancel_workflow"},
    "terminate": {"form": TerminateForm, "verb": "Terminate", "done": "terminated",
                  "permission": "terminate_workflow"},
}


class ActionRefused(Exception):
    """An action refused for one run (closed, unknown, arguments refused); its text is the user's message."""


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):
    """Workflow runs: filterable list, read-only run page with a live timeline, signal/cancel/terminate.

    Attributes:
        data_converter: Decodes payloads for display and encodes signal arguments
            (``None``: the default converter). Set it on a subclass registered in
            place of this one when the project uses a custom converter or codec.
        initial_events: Events rendered with the page; the page's script fetches the rest.
        events_page_size: Most events one response of the events feed carries.
    """

    data_converter: DataConverter | None = None
    initial_events = 500
    events_page_size = 500

    list_display = ("workflow_id", "workflow_type", "status_badge", "task_queue", "start_time", "close_time",
                    "history_length")
    list_display_links = ("workflow_id",)
    list_filter = (
        "status",
        "workflow_type",
        "task_queue",
        ("start_time", DateTimeRangeFilter),
        ("close_time", DateTimeRangeFilter),
        "namespace",
    )
    search_fields = ("workflow_id", "=run_id")
    search_help_text = "Workflow id (contains) or exact run id."
    date_hierarchy = "start_time"
    ordering = ("-start_time",)
    list_per_page = 50
    show_full_result_count = False
    actions = ["signal_selected", "cancel_selected", "terminate_selected"]
    change_list_template = "temporalflow/admin/run_change_list.html"

    # --- read-only ------------------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Runs are started by the client, never through an admin form."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Runs change only through the client (the actions), never by saving a form."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A run's history is the truth: it is not deleted from the admin."""
        return False

    def _has_perm(self, request: HttpRequest, codename: str) -> bool:
        return bool(request.user.is_active and request.user.has_perm(f"{self.opts.app_label}.{codename}"))

    def has_signal_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """``temporalflow.signal_workflow``."""
        return self._has_perm(request, "signal_workflow")

    def has_cancel_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """``temporalflow.cancel_workflow``."""
        return self._has_perm(request, "cancel_workflow")

    def has_terminate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """``temporalflow.terminate_workflow``."""
        return self._has_perm(request, "terminate_workflow")

    # --- list columns ---------------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WorkflowRun) -> str:
        """The status, coloured."""
        return format_html('<span class="tf-status" style="color:{};font-weight:bold">{}</span>',
                           _STATUS_COLORS.get(obj.status, "inherit"), obj.get_status_display())

    @admin.display(description="history length", ordering="next_event_id")
    def history_length(self, obj: WorkflowRun) -> int:
        """Events in the run's history."""
        return int(obj.next_event_id) - 1

    # --- URLs -----------------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        """The admin's URLs plus the run's events feed and its three actions."""
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/events/", wrap(self.events_view), name=f"{prefix}_events"),
            path("<path:object_id>/signal/", wrap(self.signal_view), name=f"{prefix}_signal"),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name=f"{prefix}_cancel"),
            path("<path:object_id>/terminate/", wrap(self.terminate_view), name=f"{prefix}_terminate"),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args,
                       current_app=self.admin_site.name)

    # --- the client -----------------------------------------------------------------------------

    def client_identity(self, request: HttpRequest) -> str:
        """The identity the client records in the events an admin user causes."""
        return f"admin:{request.user.get_username()}"

    def get_client(self, request: HttpRequest, run: WorkflowRun) -> SyncClient:
        """A client for ``run``'s namespace acting as the request's user."""
        return SyncClient.connect(namespace=run.namespace, data_converter=self.get_data_converter(),
                                  identity=self.client_identity(request))

    def get_data_converter(self) -> DataConverter:
        """This admin's ``data_converter``, else the project's (``TEMPORALFLOW["DATA_CONVERTER"]``)."""
        return self.data_converter or get_data_converter()

    def get_decoder(self) -> PayloadDecoder:
        """The payload decoder of the run page, the events feed and the run socket."""
        return PayloadDecoder(self.get_data_converter())

    # --- the run page ---------------------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The read-only run page: summary, input, outcome, pending work, relatives, live history."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])  # runs change through the actions only
        run = self.get_object(request, unquote(object_id))
        if run is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), **self.run_context(request, run), **(extra_context or {})}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "temporalflow/admin/run_detail.html", context)

    def run_context(self, request: HttpRequest, run: WorkflowRun) -> dict[str, Any]:
        """Everything the run page shows."""
        decoder = self.get_decoder()
        rows = list(HistoryEvent.objects.filter(run=run).order_by("event_id")[: self.initial_events + 1])
        more = len(rows) > self.initial_events
        rows = rows[: self.initial_events]
        events = [DisplayEvent.build(e.event_id, e.event_type, e.event_time, e.attributes, decoder) for e in rows]
        started = next((e for e in rows if e.event_id == 1), None)
        started_attrs = _attributes(started)
        closed = run.status != RunStatus.RUNNING
        return {
            "title": f"Workflow run {run.workflow_id}",
            "subtitle": run.run_id,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": run,
            "run": run,
            "closed": closed,
            "status_color": _STATUS_COLORS.get(run.status, "inherit"),
            "history_length": run.next_event_id - 1,
            "has_view_permission": True,
            "input_values": [pretty_json(v) for v in decoder.values(started_attrs.get("input"))],
            "started_by": started_attrs.get("identity") or run.identity,
            "outcome": self._outcome(self._close_event(run), decoder),
            "memo": [(k, pretty_json(decoder.value(v))) for k, v in sorted((run.memo or {}).items())],
            "search_attributes": (pretty_json({name: entry["value"] for name, entry in
                                               search_attributes.to_json_form(run.search_attributes).items()})
                                  if run.search_attributes else ""),
            "retry_policy": pretty_json(run.retry_policy) if run.retry_policy else "",
            **self.pending_context(run, decoder),
            "parent": self._parent(run),
            "children": list(WorkflowRun.objects.filter(
                namespace=run.namespace, parent_workflow_id=run.workflow_id, parent_run_id=run.run_id,
            ).order_by("start_time", "id")[:100]),
            "continued_from": (WorkflowRun.objects.filter(run_id=run.continued_from_run_id).first()
                               if run.continued_from_run_id else None),
            "other_runs": list(WorkflowRun.objects.filter(namespace=run.namespace, workflow_id=run.workflow_id)
                               .exclude(pk=run.pk).order_by("-id")[:20]),
            "events": events,
            "events_more": more,
            "last_event_id": events[-1].event_id if events else 0,
            "events_url": self._url("events", run.pk),
            "admin_log_url": self._url("history", run.pk),
            "changelist_url": self._url("changelist"),
            "can_signal": not closed and self.has_signal_permission(request, run),
            "can_cancel": not closed and self.has_cancel_permission(request, run),
            "can_terminate": not closed and self.has_terminate_permission(request, run),
            "signal_url": self._url("signal", run.pk),
            "cancel_url": self._url("cancel", run.pk),
            "terminate_url": self._url("terminate", run.pk),
        }

    def pending_context(self, run: WorkflowRun, decoder: PayloadDecoder) -> dict[str, Any]:
        """The run's pending activities and timers (``run_pending.html``'s context)."""
        return {
            "closed": run.status != RunStatus.RUNNING,
            "activities": [self._activity_row(a, decoder) for a in
                           ActivityTask.objects.filter(run=run).order_by("scheduled_event_id")],
            "timers": [{"timer": t, "fire_at": epoch_to_datetime(t.fire_at)}
                       for t in Timer.objects.filter(run=run).order_by("fire_at", "seq")],
        }

    @staticmethod
    def _close_event(run: WorkflowRun) -> HistoryEvent | None:
        if run.status == RunStatus.RUNNING:
            return None
        event = HistoryEvent.objects.filter(run=run, event_id=run.next_event_id - 1).first()
        return event if event is not None and event.event_type in CLOSE_EVENT_TYPES else None

    def _outcome(self, event: HistoryEvent | None, decoder: PayloadDecoder) -> dict[str, Any] | None:
        if event is None:
            return None
        attrs = _attributes(event)
        outcome: dict[str, Any] = {"event_type": event.event_type, "values": [], "summary": "", "failure_json": "",
                                   "next_run": None, "reason": "", "identity": attrs.get("identity", "")}
        match event.event_type:
            case EventType.WORKFLOW_EXECUTION_COMPLETED:
                outcome["title"] = "Result"
                outcome["values"] = [pretty_json(v) for v in decoder.values(attrs.get("result"))]
            case EventType.WORKFLOW_EXECUTION_FAILED:
                outcome["title"] = "Failure"
                failure = attrs.get("failure") or {}
                outcome["summary"] = failure_summary(decoder.tree(failure))
                outcome["failure_json"] = pretty_json(decoder.tree(failure))
            case EventType.WORKFLOW_EXECUTION_TERMINATED:
                outcome["title"] = "Terminated"
                outcome["reason"] = attrs.get("reason") or ""
                outcome["values"] = [pretty_json(v) for v in decoder.values(attrs.get("details"))]
            case EventType.WORKFLOW_EXECUTION_CANCELED:
                outcome["title"] = "Canceled"
                outcome["values"] = [pretty_json(v) for v in decoder.values(attrs.get("details"))]
            case EventType.WORKFLOW_EXECUTION_TIMED_OUT:
                outcome["title"] = "Timed out"
                outcome["failure_json"] = pretty_json(decoder.tree(attrs))
            case _:
                outcome["title"] = "Continued as new"
        next_run_id = attrs.get("new_execution_run_id")
        if next_run_id:
            outcome["next_run"] = WorkflowRun.objects.filter(run_id=next_run_id).first()
        return outcome

    @staticmethod
    def _activity_row(activity: ActivityTask, decoder: PayloadDecoder) -> dict[str, Any]:
        return {
            "activity": activity,
            "scheduled": epoch_to_datetime(activity.scheduled_time),
            "started": epoch_to_datetime(activity.started_at),
            "next_deadline": epoch_to_datetime(activity.timeout_at),
            "heartbeat": (pretty_json(decoder.tree(activity.heartbeat_details))
                          if activity.heartbeat_details else ""),
            "failure_summary": failure_summary(decoder.tree(activity.last_failure)) if activity.last_failure else "",
            "failure_json": pretty_json(decoder.tree(activity.last_failure)) if activity.last_failure else "",
        }

    @staticmethod
    def _parent(run: WorkflowRun) -> dict[str, Any] | None:
        if not run.parent_workflow_id:
            return None
        found = None
        if run.parent_run_id:
            found = WorkflowRun.objects.filter(run_id=run.parent_run_id).first()
        return {"workflow_id": run.parent_workflow_id, "run_id": run.parent_run_id, "run": found}

    # --- the events feed ------------------------------------------------------------------------

    def events_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """JSON: the run's events after ``?after=<event_id>`` (oldest first), each with its rendered row.

        Every answer also carries the pending activities and timers as HTML
        (``pending_html``), and the last one of a closed run its outcome
        (``outcome_html``), so the page follows the run without reloading.

        ``run.closed`` and ``more`` tell a poller when to stop: once the run is closed
        and ``more`` is false it has every event. The run's status is read before its
        events, and a run closes in the transaction that writes its last event, so a
        closed status never comes with a missing close event.
        """
        run = self.get_object(request, unquote(object_id))
        if run is None:
            return JsonResponse({"error": f"workflow run {unquote(object_id)!r} not found"}, status=404)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        try:
            after = int(request.GET.get("after", "0"))
            if after < 0:
                raise ValueError
        except ValueError:
            return JsonResponse({"error": "after must be a non-negative event id"}, status=400)
        decoder = self.get_decoder()
        rows = list(HistoryEvent.objects.filter(run=run, event_id__gt=after)
                    .order_by("event_id")[: self.events_page_size + 1])
        more = len(rows) > self.events_page_size
        events = []
        for row in rows[: self.events_page_size]:
            event = DisplayEvent.build(row.event_id, row.event_type, row.event_time, row.attributes, decoder)
            item = event.as_json()
            item["html"] = render_to_string("temporalflow/admin/event_row.html", {"event": event}, request)
            events.append(item)
        closed = run.status != RunStatus.RUNNING
        body: dict[str, Any] = {
            "run": {
                "workflow_id": run.workflow_id,
                "run_id": run.run_id,
                "status": int(run.status),
                "status_label": run.get_status_display(),
                "closed": closed,
                "close_time": run.close_time.isoformat() if run.close_time else None,
                "history_length": run.next_event_id - 1,
            },
            "events": events,
            "more": more,
            "last_event_id": events[-1]["event_id"] if events else after,
            # Pending work changes without events too (retries, heartbeats): sent with every answer.
            "pending_html": render_to_string("temporalflow/admin/run_pending.html",
                                             self.pending_context(run, decoder), request),
        }
        if closed and not more:
            body["outcome_html"] = render_to_string(
                "temporalflow/admin/run_outcome.html",
                {"opts": self.opts, "outcome": self._outcome(self._close_event(run), decoder)}, request)
        return JsonResponse(body)

    # --- actions on one run ---------------------------------------------------------------------

    def _check_action_permission(self, request: HttpRequest, action: str) -> None:
        if not getattr(self, f"has_{action}_permission")(request):
            raise PermissionDenied

    def _action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        self._check_action_permission(request, action)
        run = self.get_object(request, unquote(object_id))
        if run is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        run_url = self._url("change", run.pk)
        if run.status != RunStatus.RUNNING:
            self.message_user(request, _closed_message(run), messages.ERROR)
            return HttpResponseRedirect(run_url)
        form_class = _ACTIONS[action]["form"]
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                note = self.perform_action(request, run, action, form.cleaned_data)
            except ActionRefused as err:
                self.message_user(request, str(err), messages.ERROR)
            else:
                self.message_user(request, f"Workflow run {run.workflow_id} ({run.run_id}): {note}.",
                                  messages.SUCCESS)
            return HttpResponseRedirect(run_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{_ACTIONS[action]['verb']} workflow run {run.workflow_id}",
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "run": run,
            "runs": [run],
            "form": form,
            "action": action,
            "run_url": run_url,
            "bulk": False,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "temporalflow/admin/run_action.html", context)

    def signal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Signal one run: a form (name + JSON arguments), then the signal."""
        return self._action_view(request, object_id, "signal")

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Request cancellation of one run, after a confirmation page."""
        return self._action_view(request, object_id, "cancel")

    def terminate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Terminate one run (with a reason), after a confirmation page."""
        return self._action_view(request, object_id, "terminate")

    def perform_action(self, request: HttpRequest, run: WorkflowRun, action: str, data: dict[str, Any]) -> str:
        """Apply ``action`` to ``run`` through the client and log it, in one transaction.

        Returns:
            What was done, for the user's message and the admin log.

        Raises:
            ActionRefused: The engine refused (closed or unknown run, arguments that do not encode).
        """
        handle = self.get_client(request, run).get_workflow_handle(run.workflow_id, run_id=run.run_id)
        if action == "cancel" and run.cancel_requested:
            raise ActionRefused(f"Workflow run {run.workflow_id} ({run.run_id}): cancellation was already requested.")
        try:
            with transaction.atomic():
                if action == "signal":
                    args = data["signal_args"]
                    handle.signal(data["signal_name"], args=args)
                    note = f"signaled {data['signal_name']!r} with {len(args)} argument{'s' if len(args) != 1 else ''}"
                elif action == "cancel":
                    handle.cancel()
                    note = "cancellation requested"
                else:
                    reason = data.get("reason") or f"terminated from the admin by {request.user.get_username()}"
                    handle.terminate(reason=reason)
                    note = f"terminated (reason: {reason})"
                self.log_change(request, run, note[:1].upper() + note[1:] + " through the admin.")
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the run closed (or vanished) since it was read
                current = WorkflowRun.objects.filter(pk=run.pk).first()
                if current is not None and current.status != RunStatus.RUNNING:
                    raise ActionRefused(_closed_message(current)) from None
                raise ActionRefused(f"Workflow run {run.workflow_id} ({run.run_id}) was not found.") from None
            raise ActionRefused(f"Workflow run {run.workflow_id} ({run.run_id}): {err.message}") from None
        except (TypeError, ValueError) as err:
            raise ActionRefused(f"Workflow run {run.workflow_id} ({run.run_id}): "
                           f"the arguments were refused: {err}") from None
        return note

    # --- bulk actions ---------------------------------------------------------------------------

    def _bulk(self, request: HttpRequest, queryset: Any, action: str) -> HttpResponse | None:
        form_class = _ACTIONS[action]["form"]
        runs = list(queryset.order_by("-start_time", "-id"))
        form = form_class(request.POST if request.POST.get("post") == "yes" else None)
        if request.POST.get("post") == "yes" and form.is_valid():
            done, refused = 0, []
            for run in runs:
                if run.status != RunStatus.RUNNING:
                    refused.append(_closed_message(run))
                    continue
                try:
                    self.perform_action(request, run, action, form.cleaned_data)
                except ActionRefused as err:
                    refused.append(str(err))
                else:
                    done += 1
            if done:
                self.message_user(request, f"{done} workflow run{'s' if done != 1 else ''} "
                                           f"{_ACTIONS[action]['done']}.", messages.SUCCESS)
            for text in refused:
                self.message_user(request, text, messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{_ACTIONS[action]['verb']} {len(runs)} workflow run{'s' if len(runs) != 1 else ''}",
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "runs": runs,
            "closed_count": sum(1 for r in runs if r.status != RunStatus.RUNNING),
            "form": form,
            "action": action,
            "action_name": f"{action}_selected",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "bulk": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "temporalflow/admin/run_action.html", context)

    @admin.action(permissions=["signal"], description="Signal selected workflow runs")
    def signal_selected(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        """Bulk signal: one signal name and arguments for every selected running run."""
        return self._bulk(request, queryset, "signal")

    @admin.action(permissions=["cancel"], description="Cancel selected workflow runs")
    def cancel_selected(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        """Bulk cancellation request, after a confirmation page."""
        return self._bulk(request, queryset, "cancel")

    @admin.action(permissions=["terminate"], description="Terminate selected workflow runs")
    def terminate_selected(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        """Bulk termination with one reason, after a confirmation page."""
        return self._bulk(request, queryset, "terminate")


def _attributes(event: HistoryEvent | None) -> dict[str, Any]:
    if event is None:
        return {}
    try:
        value = json.loads(event.attributes or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _closed_message(run: WorkflowRun) -> str:
    return (f"Workflow run {run.workflow_id} ({run.run_id}) is already closed "
            f"({run.get_status_display()}); nothing was sent.")
