"""What the store hands the client about schedules, and the errors it raises (no Django import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalflow.store.base import StoreError

__all__ = [
    "ScheduleAlreadyExists",
    "ScheduleNotFound",
    "ScheduleRecord",
    "ScheduleSpecInvalid",
    "ScheduleTokenMismatch",
]


class ScheduleNotFound(StoreError):
    """No schedule with that id in the namespace."""


class ScheduleAlreadyExists(StoreError):
    """A schedule with that id already exists in the namespace."""


class ScheduleSpecInvalid(StoreError):
    """The schedule's spec (cron string, time zone, ranges ...) cannot be used."""


class ScheduleTokenMismatch(StoreError):
    """An update was based on a description that is no longer current."""


@dataclass(slots=True)
class ScheduleRecord:
    """A schedule row, with its running actions checked and its next action times computed.

    Times are epoch seconds; ``spec`` and ``action`` are the stored JSON (see
    ``temporalflow.store._schedule_spec`` and ``temporalflow.store._schedules``).
    """

    schedule_id: str
    namespace: str
    spec: dict[str, Any]
    action: dict[str, Any]
    overlap: int
    catchup_window: float
    pause_on_failure: bool
    note: str
    paused: bool
    limited_actions: bool
    remaining_actions: int
    memo: dict[str, Any]
    search_attributes: dict[str, Any]
    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running: list[dict[str, Any]] = field(default_factory=list)
    """``{"workflow_id", "run_id"}`` of the actions still running."""
    recent: list[dict[str, Any]] = field(default_factory=list)
    """Up to 10 ``{"scheduled_at", "started_at", "workflow_id", "run_id"}``, oldest first."""
    next_action_times: list[float] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float | None = None
    conflict_token: int = 1
