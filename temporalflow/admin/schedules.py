"""Schedules in the admin: a read-only list (id, workflow, spec, state, next action, action counts)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from temporalflow.admin.display import epoch_to_datetime
from temporalflow.models import Schedule


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    """Schedules, read-only: they change through the client (``ScheduleHandle``), not the admin."""

    list_display = ("schedule_id", "workflow_type", "when", "paused", "next_action", "num_actions", "namespace")
    list_filter = ("paused", "workflow_type", "namespace")
    search_fields = ("schedule_id", "workflow_type")
    ordering = ("schedule_id",)
    readonly_fields = ("schedule_id", "namespace", "workflow_type", "spec", "action", "overlap", "catchup_window",
                       "pause_on_failure", "note", "paused", "limited_actions", "remaining_actions", "runtime",
                       "next_action", "created_at", "updated_at")
    exclude = ("next_nominal", "next_fire_at", "conflict_token", "memo", "search_attributes")

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Schedules are created through the client."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Schedules are changed through the client."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Schedules are deleted through the client."""
        return False

    @admin.display(description="spec")
    def when(self, obj: Schedule) -> str:
        """The spec in short: cron expressions, intervals, calendars."""
        spec = obj.spec or {}
        parts = [*spec.get("cron_expressions", [])]
        parts += [f"every {i['every']:g}s" + (f" +{i['offset']:g}s" if i.get("offset") else "")
                  for i in spec.get("intervals", [])]
        if spec.get("calendars"):
            parts.append(f"{len(spec['calendars'])} calendar(s)")
        zone = spec.get("time_zone_name")
        return "; ".join(parts) + (f" ({zone})" if zone else "")

    @admin.display(description="next action", ordering="next_fire_at")
    def next_action(self, obj: Schedule) -> Any:
        """When a worker next acts on the schedule."""
        return epoch_to_datetime(obj.next_fire_at)

    @admin.display(description="actions")
    def num_actions(self, obj: Schedule) -> int:
        """Actions taken so far."""
        return int((obj.runtime or {}).get("num_actions") or 0)
